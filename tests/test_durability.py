"""Issue 4, points 1 and 2: updates survive a crash, sends survive a flaky Bot API, and a replay
repeats nothing that was already done. The real Application against the fake Bot API, with a
real SQLite file; a "crash" is reproduced by leaving the database exactly as a killed process
leaves it (the SIGKILL test in test_crash.py kills a real process)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bot.delivery import ReliableMessenger
from bot.messaging import DeliveryError
from bot.operation import handling
from bot.storage import Storage
from tests import test_bot_flows as flows
from tests.bot_harness import ADMIN, ADMIN_CHAT, RESIDENT, BotUnderTest
from tests.test_bot_flows import ANSWERED, UNKNOWN, ask, text_of

# The flows' fixtures: a running bot on the small knowledge base, with its fake Bot API.
matcher = flows.matcher
bot = flows.bot


def db_path(bot: BotUnderTest) -> Path:
    return Path(bot.config.storage.path)


# --------------------------------------------------------------------------- intake


async def test_every_update_is_stored_before_it_is_confirmed_and_marked_done(
    bot: BotUnderTest,
) -> None:
    # At the moment each getUpdates arrives, look in the database for what its offset confirms.
    confirmed: list[tuple[int, bool]] = []
    original = bot.fake._api_getUpdates

    async def get_updates(params: dict, wake: object) -> list[dict]:
        offset = int(params.get("offset") or 0)
        if offset > 0:
            row = sqlite3.connect(db_path(bot)).execute(
                "SELECT 1 FROM updates WHERE update_id = ?", (offset - 1,)
            )
            confirmed.append((offset - 1, row.fetchone() is not None))
        return await original(params, wake)

    bot.fake._methods["getupdates"] = ("getUpdates", get_updates)
    await ask(bot, ANSWERED)
    rows = sqlite3.connect(db_path(bot)).execute("SELECT update_id, body, done_at FROM updates")
    ((update_id, body, done_at),) = list(rows)
    assert json.loads(body)["message"]["text"] == ANSWERED
    assert done_at is not None
    assert (update_id, True) in confirmed and all(stored for _, stored in confirmed)


async def test_an_update_stored_but_not_handled_is_handled_once_after_a_restart(
    bot: BotUnderTest,
) -> None:
    await bot.stop()
    # What a process killed right after storing leaves: the row without done_at, and Telegram
    # still holding the update because the confirming offset never went out.
    update = bot.fake.private_text(RESIDENT, ANSWERED, first_name="Siti")
    db = sqlite3.connect(db_path(bot))
    db.execute(
        "INSERT INTO updates (update_id, body, received_at) VALUES (?, ?, '2026-12-02T00:00:00')",
        (update["update_id"], json.dumps(update)),
    )
    db.commit()
    await bot.start()
    await bot.fake.wait_sent("sendMessage", RESIDENT)
    await bot.idle()
    replies = bot.fake.sent("sendMessage", RESIDENT)
    assert len(replies) == 1, bot.fake.summary()
    assert "Mobile JKN" in text_of(replies[0])


async def test_a_replay_does_not_repeat_a_ticket_or_a_post_that_were_done(
    bot: BotUnderTest,
) -> None:
    await ask(bot, UNKNOWN)
    posts = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    await bot.stop()
    # A crash after the ticket was opened and posted, before the resident was told: the
    # update is unfinished and the resident's notice has no send record.
    db = sqlite3.connect(db_path(bot))
    db.execute("UPDATE updates SET done_at = NULL")
    (post_key,) = db.execute("SELECT key FROM sent WHERE chat_id = ?", (ADMIN_CHAT,)).fetchone()
    db.execute("DELETE FROM sent WHERE chat_id = ?", (RESIDENT,))
    db.commit()
    await bot.start()
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=2)
    await bot.idle()
    told = bot.fake.sent("sendMessage", RESIDENT)
    assert all("nomor tiket #1" in text_of(c) for c in told), bot.fake.summary()
    assert len(bot.fake.sent("sendMessage", ADMIN_CHAT)) == posts  # not posted again
    tickets = db.execute("SELECT COUNT(*), MIN(source) FROM tickets").fetchone()
    assert tickets[0] == 1 and post_key.startswith(tickets[1].split(":")[0])
    assert db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 1


# --------------------------------------------------------------------------- delivery


async def test_a_flaky_bot_api_is_retried_until_the_answer_arrives(bot: BotUnderTest) -> None:
    bot.fake.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    replies = await ask(bot, ANSWERED)
    assert "Mobile JKN" in text_of(replies[0])
    failed = [c for c in bot.fake.calls if c.method == "sendMessage" and c.error is not None]
    assert len(failed) == 2


async def test_flood_control_waits_exactly_as_long_as_telegram_asks(bot: BotUnderTest) -> None:
    bot.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    replies = await ask(bot, ANSWERED)
    attempts = [c for c in bot.fake.calls if c.method == "sendMessage"]
    assert attempts[0].error is not None and attempts[1].error is None
    assert attempts[1].at - attempts[0].at >= 1.0
    assert "Mobile JKN" in text_of(replies[0])


class Flaky:
    """A messenger that fails as told, then works."""

    def __init__(self, failures: list[DeliveryError]) -> None:
        self.failures = failures
        self.sent: list[tuple[int, str]] = []

    async def send(self, chat_id: int, text: str, **_: object) -> int:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((chat_id, text))
        return 100 + len(self.sent)


@pytest.fixture
async def storage(tmp_path: Path):
    store = await Storage.open(tmp_path / "t.sqlite3")
    yield store
    await store.close()


async def test_retries_back_off_and_give_up_as_a_permanent_failure(storage: Storage) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    flaky = Flaky([DeliveryError("transient", "boom")] * 50)
    messenger = ReliableMessenger(flaky, storage, give_up_after=20, sleep=sleep)  # type: ignore[arg-type]
    with pytest.raises(DeliveryError) as failed:
        await messenger.send(1, "halo")
    assert failed.value.reason == "unreachable"
    assert waits[0] == 0.5 and waits[1] > waits[0] and max(waits) <= 30 * 1.2
    # A permanent failure is not retried at all.
    blocked = Flaky([DeliveryError("blocked", "Forbidden")])
    with pytest.raises(DeliveryError) as refused:
        await ReliableMessenger(blocked, storage, sleep=sleep).send(1, "halo")  # type: ignore[arg-type]
    assert refused.value.reason == "blocked"


async def test_a_replayed_step_returns_the_recorded_message_instead_of_sending(
    storage: Storage,
) -> None:
    flaky = Flaky([])
    messenger = ReliableMessenger(flaky, storage)  # type: ignore[arg-type]
    with handling(7):
        first = await messenger.send(1, "satu")
        second = await messenger.send(1, "dua")
    with handling(7, replay=True):
        assert await messenger.send(1, "satu") == first
        assert await messenger.send(1, "dua") == second
        third = await messenger.send(1, "tiga")  # a step the crashed attempt never reached
    assert [t for _, t in flaky.sent] == ["satu", "dua", "tiga"] and third not in (first, second)


async def test_a_reply_to_a_post_the_bot_never_recorded_still_reaches_the_resident(
    bot: BotUnderTest,
) -> None:
    await ask(bot, UNKNOWN)
    (post,) = [c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "Tiket #1" in text_of(c)]
    # Killed between Telegram accepting the post and the bot writing down its id.
    db = sqlite3.connect(db_path(bot))
    db.execute("DELETE FROM ticket_messages")
    db.commit()
    bot.fake.group_text(
        ADMIN_CHAT, ADMIN, "Ke kantor imigrasi ya", reply_to=post.result["message_id"]
    )
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=2)
    assert "Ke kantor imigrasi ya" in text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])


async def test_a_replayed_choice_means_the_list_it_answered(bot: BotUnderTest) -> None:
    await ask(bot, flows.SUGGESTED)
    await ask(bot, "1")
    await bot.stop()
    # Killed after "1" cleared the list and set the 👍/👎 question, before the answer went out.
    db = sqlite3.connect(db_path(bot))
    (last,) = db.execute("SELECT MAX(update_id) FROM updates").fetchone()
    db.execute("UPDATE updates SET done_at = NULL WHERE update_id = ?", (last,))
    db.execute("DELETE FROM sent WHERE key LIKE ?", (f"u{last}:%",))
    db.commit()
    before = len(bot.fake.sent("sendMessage", RESIDENT))
    await bot.start()
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=before + 1)
    await bot.idle()
    (again,) = bot.fake.sent("sendMessage", RESIDENT)[before:]
    first_answer = bot.fake.sent("sendMessage", RESIDENT)[before - 1]
    assert text_of(again) == text_of(first_answer)  # the answer, not "thanks for rating"


async def test_a_batch_whose_store_failed_is_stored_by_the_next_attempt(storage: Storage) -> None:
    from telegram import Bot, Update

    from handlers.intake import DurableUpdateQueue

    queue = DurableUpdateQueue(polling=True)
    await queue.open(storage, Bot("1:x"))
    real = storage.store_updates
    calls = 0

    async def flaky(rows):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database is locked")
        return await real(rows)

    storage.store_updates = flaky  # type: ignore[method-assign]
    update = Update.de_json({"update_id": 5, "message": _message(1)}, Bot("1:x"))
    await queue.put(update)
    with pytest.raises(RuntimeError):
        await queue.flush()
    await queue.flush()
    assert queue.qsize() == 1 and [u for u, _ in await storage.unfinished_updates()] == [5]


async def test_update_ids_that_start_over_lower_are_not_taken_for_old_ones(
    storage: Storage,
) -> None:
    from telegram import Bot, Update

    from handlers.intake import DurableUpdateQueue

    # After a week without updates Telegram continues from a random, possibly lower, id.
    await storage.store_updates([(900_000_000, "{}")])
    await storage.finish_updates([900_000_000])
    queue = DurableUpdateQueue(polling=True)
    await queue.open(storage, Bot("1:x"))
    await queue.put(Update.de_json({"update_id": 7, "message": _message(2)}, Bot("1:x")))
    await queue.flush()
    assert queue.qsize() == 1


def _message(message_id: int) -> dict:
    return {
        "message_id": message_id,
        "date": 0,
        "chat": {"id": 1001, "type": "private"},
        "from": {"id": 1001, "is_bot": False, "first_name": "Siti"},
        "text": "halo",
    }
