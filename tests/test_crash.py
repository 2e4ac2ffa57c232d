"""Issue 4, point 3: the bot is killed with SIGKILL again and again while residents ask and
admins answer; afterwards every question has its reply or its ticket and every admin reply
reached its resident, none lost, and nothing sent twice except a message Telegram accepted in
the instant before a kill (see bot.delivery for why no bot can rule that out).

The bot runs as `tanya run` in its own process against the fake Bot API in this one, which keeps
its state (unconfirmed updates, sent messages) across the bot's deaths, as Telegram does.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

from tests.bot_harness import ADMIN, ADMIN_CHAT
from tests.conftest import ROOT
from tests.fake_telegram import TOKEN, Call, FakeTelegram
from tests.test_bot_flows import ANSWERED, UNKNOWN
from tests.test_run import write_config

QUESTIONS = 200
ADMIN_REPLIES = 50
BURST = 30  # questions per round; every round ends with a kill: 7 kills
FIRST_RESIDENT = 700_000
# How long before a kill a message may have been accepted without the bot recording it.
IN_FLIGHT = 0.2


def _start(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "TANYA_TELEGRAM_TOKEN": TOKEN}
    return asyncio.create_subprocess_exec(  # type: ignore[return-value]
        sys.executable,
        "-m",
        "handlers.cli",
        "run",
        "--config",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def _ok(calls: list[Call], method: str, chat: int) -> list[Call]:
    return [
        c
        for c in calls
        if c.method == method and c.error is None and c.params.get("chat_id") == chat
    ]


def _answers(calls: list[Call], user: int) -> list[Call]:
    """The admin's answer relayed to this resident."""
    return [
        c for c in _ok(calls, "sendMessage", user) if f"Jawaban untuk Warga{user}" in str(c.params)
    ]


def _notices(calls: list[Call], user: int) -> list[Call]:
    """The resident's first reply: the answer, or the ticket notice."""
    answers = _answers(calls, user)
    return [c for c in _ok(calls, "sendMessage", user) if c not in answers]


def _by_ticket(posts: list[Call]) -> dict[str, list[Call]]:
    grouped: dict[str, list[Call]] = {}
    for post in posts:
        number = str(post.params.get("text", "")).split(" ·")[0]
        grouped.setdefault(number, []).append(post)
    return grouped


async def test_sigkill_at_random_points_loses_and_repeats_nothing(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("TANYA_CRASH_SEED", "2026")))
    residents = [FIRST_RESIDENT + i for i in range(QUESTIONS)]
    escalated = set(residents[1::2])  # every other resident asks what nobody wrote down
    replied: dict[int, int] = {}  # resident -> the admin's reply message id
    async with FakeTelegram() as fake:
        # Without the rate limiter: at Telegram's 20 messages a minute per group, 100 ticket
        # posts take minutes; flood control has its own test.
        config = write_config(tmp_path, fake.base_url, telegram="rate_limiter: false")
        log = tmp_path / "bot.log"
        bot = await _start(config, log)
        kills = 0
        killed_at: list[float] = []

        async def admins_answer() -> None:
            # Reply to ticket posts as they appear, the first post of each ticket.
            while len(replied) < ADMIN_REPLIES:
                for post in fake.sent("sendMessage", ADMIN_CHAT):
                    text = str(post.params.get("text", ""))
                    if "Tiket #" not in text or post.result is None:
                        continue
                    user = next((u for u in escalated if f"Warga{u}" in text), None)
                    if user is None or user in replied or len(replied) >= ADMIN_REPLIES:
                        continue
                    reply = fake.group_text(
                        ADMIN_CHAT,
                        ADMIN,
                        f"Jawaban untuk Warga{user}",
                        reply_to=post.result["message_id"],
                    )
                    replied[user] = reply["message"]["message_id"]
                await asyncio.sleep(0.05)

        async def up(count: int) -> None:
            """Until the count-th process logged that it started (and so is polling)."""
            for _ in range(300):
                if log.read_text(errors="replace").count("event=started") >= count:
                    return
                await asyncio.sleep(0.05)

        async def rounds() -> None:
            """Each round: the bot is up, a burst of questions arrives, and a moment later
            (while those are queued or half-way) the bot is killed and started again."""
            nonlocal bot, kills
            bursts = [residents[i : i + BURST] for i in range(0, QUESTIONS, BURST)]
            for n, burst in enumerate(bursts, start=1):
                await up(n)  # a kill during Python's imports would test nothing
                for user in burst:
                    text = UNKNOWN if user in escalated else ANSWERED
                    fake.private_text(user, text, first_name=f"Warga{user}")
                await asyncio.sleep(rng.uniform(0.01, 0.4))
                killed_at.append(time.monotonic())
                bot.send_signal(signal.SIGKILL)
                await bot.wait()
                kills += 1
                bot = await _start(config, log)

        try:
            await asyncio.wait_for(asyncio.gather(rounds(), admins_answer()), 120)

            def settled() -> bool:
                calls = fake.calls
                return all(_ok(calls, "sendMessage", u) for u in residents) and all(
                    _answers(calls, u) for u in replied
                )

            for _ in range(600):
                if settled():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # anything sent twice would show up now
        finally:
            # For a failure's post-mortem: every call the fake answered, in order.
            (tmp_path / "calls.txt").write_text(
                "\n".join(
                    f"{c.at:.3f} {c.method} {json.dumps(c.params, default=str)} {c.error or 'ok'}"
                    for c in fake.calls
                ),
                encoding="utf-8",
            )
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)

        calls = fake.calls
        replays = [int(n) for n in re.findall(r"replayed=(\d+)", log.read_text(errors="replace"))]
        # A resident's first reply (the answer or the ticket notice), apart from the admin's.
        first = {u: len(_notices(calls, u)) for u in residents}
        lost = [u for u, n in first.items() if n == 0]
        repeated = [u for u, n in first.items() if n > 1]
        reply_lost = [u for u in replied if not _answers(calls, u)]
        reply_repeated = [u for u in replied if len(_answers(calls, u)) > 1]
        posts = [c for c in _ok(calls, "sendMessage", ADMIN_CHAT) if "Tiket #" in str(c.params)]
        db = sqlite3.connect(tmp_path / "db.sqlite3")
        tickets = dict(db.execute("SELECT resident_id, COUNT(*) FROM tickets GROUP BY resident_id"))
        report = (
            f"{kills} kills; questions: {len(lost)} lost, {len(repeated)} answered twice; "
            f"admin replies: {len(reply_lost)} lost, {len(reply_repeated)} delivered twice; "
            f"{len(posts)} ticket posts for {len(escalated)} tickets; "
            f"updates handled again after a kill: {replays}"
        )
        print(report)
        assert kills >= 5 and sum(replays) > 0, (kills, replays)
        assert len(replied) == ADMIN_REPLIES
        assert not lost and not reply_lost, report
        assert tickets == dict.fromkeys(escalated, 1), report
        # A message Telegram accepted in the instant before the kill, before the bot could
        # record it, is sent again by the replay: the Bot API has no idempotency key to prevent
        # that (bot.delivery). Anything else sent twice is a bug in the replay.
        twice = [
            *(_notices(calls, u) for u in repeated),
            *(_answers(calls, u) for u in reply_repeated),
            *(same for same in _by_ticket(posts).values() if len(same) > 1),
        ]
        for copies in twice:
            gaps = [round(k - copies[0].at, 3) for k in killed_at]
            # (negative: Telegram answered just after the signal left, as the process died)
            assert any(-0.05 <= g <= IN_FLIGHT for g in gaps), f"{report}; seconds to kills {gaps}"
        assert "Traceback" not in log.read_text(encoding="utf-8", errors="replace")
