"""Bad input never crashes the bot, always gets a clear answer, and grants nobody admin rights.

Example tests pin each kind of odd input the issue lists; a property-based test then feeds
random streams of updates (odd texts, media, edits, forged buttons, commands with junk
arguments, other groups, channel posts, updates this library version cannot read) through the
real Application, and checks after each stream that every resident was answered, nothing was
sent where it must not go, no admin action happened, and the bot still answers questions.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import LimitsConfig, MatcherConfig
from bot.kb_cache import load_matcher
from bot.logs import WithholdReceivedData
from bot.matcher import Matcher
from handlers.runtime import RUNTIME_KEY
from tests.bot_harness import ADMIN, ADMIN_CHAT, RESIDENT, BotUnderTest, running_bot
from tests.fake_telegram import BOT_ID
from tests.test_bot_flows import ANSWERED, SMALL_KB, UNKNOWN, ask, text_of, ticket_post

READING_HINT = "belum bisa saya baca"
LATIN_ONLY = "huruf Latin"
STICKER = {
    "file_id": "stk",
    "file_unique_id": "stk",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}
POLL = {
    "id": "77",
    "question": "Setuju?",
    "options": [{"text": "Ya", "voter_count": 0}, {"text": "Tidak", "voter_count": 0}],
    "total_voter_count": 0,
    "is_closed": False,
    "is_anonymous": True,
    "type": "regular",
    "allows_multiple_answers": False,
    "allows_revoting": False,
    "persistent_id": "p77",
}
# A poll as an older or newer Bot API might send it: this python-telegram-bot cannot read it.
UNREADABLE_POLL = {k: v for k, v in POLL.items() if k not in ("allows_revoting", "persistent_id")}


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return load_matcher(SMALL_KB, MatcherConfig(), None)


@pytest.fixture
async def bot(tmp_path: Path, matcher):
    # Generous limits: these tests send many messages from few residents.
    limits = LimitsConfig(messages_per_minute=10_000, open_tickets=10_000)
    async with running_bot(tmp_path, SMALL_KB, matcher, limits=limits) as running:
        yield running


@pytest.fixture(autouse=True)
def no_handler_errors(caplog: pytest.LogCaptureFixture):
    """Whatever a test sends, no handler may fail: the bot's error handler logs each one."""
    caplog.set_level(logging.ERROR, logger="handlers.app")
    yield
    failures = [r for r in caplog.records if "handler_error" in r.getMessage()]
    assert not failures, [r.exc_info for r in failures]


async def settle(bot: BotUnderTest) -> None:
    """Until every pushed update was fetched and handled and the bot went quiet."""
    assert bot.app is not None
    intake = bot.app.bot_data[RUNTIME_KEY].intake
    for _ in range(500):
        if bot.fake.pending_updates == 0 and not intake._open and not intake._batch:
            break
        await asyncio.sleep(0.01)
    count = -1
    while count != len(bot.fake.calls):
        count = len(bot.fake.calls)
        await asyncio.sleep(0.05)


def replies_to(bot: BotUnderTest, chat: int) -> list[str]:
    return [text_of(c) for c in bot.fake.sent("sendMessage", chat)]


# ------------------------------------------------------------------------------ examples
@pytest.mark.parametrize(
    "text",
    ["   ", "\n\t ", "\u200b\u200b\ufeff", "\x00\x07\x1b", "...", "???", "/", ""],
    ids=[
        "spaces",
        "whitespace",
        "zero-width",
        "control",
        "dots",
        "question-marks",
        "slash",
        "empty",
    ],
)
async def test_a_message_with_nothing_to_read_gets_a_hint_not_a_ticket(
    bot: BotUnderTest, text: str
) -> None:
    bot.fake.private_text(RESIDENT, text)
    await settle(bot)
    assert [READING_HINT in t for t in replies_to(bot, RESIDENT)] == [True]
    assert not bot.fake.sent("sendMessage", ADMIN_CHAT)


@pytest.mark.parametrize("text", ["مرحبا كيف حالك", "你好，身份证怎么办", "Здравствуйте"])
async def test_a_message_in_another_script_is_told_which_letters_the_bot_reads(
    bot: BotUnderTest, text: str
) -> None:
    bot.fake.private_text(RESIDENT, text)
    await settle(bot)
    assert [LATIN_ONLY in t for t in replies_to(bot, RESIDENT)] == [True]
    assert not bot.fake.sent("sendMessage", ADMIN_CHAT)


async def test_only_emoji_is_acknowledged_and_a_keycap_digit_is_a_choice(
    bot: BotUnderTest,
) -> None:
    [ack] = await ask(bot, "🙏🙏👍")
    assert "Baik" in text_of(ack)
    [choices] = await ask(bot, "ktp")
    assert "1." in text_of(choices) and "2." in text_of(choices)
    [chosen] = await ask(bot, "2️⃣")
    assert "surat kehilangan" in text_of(chosen)


async def test_direction_overrides_and_invisible_characters_do_not_reach_the_admins(
    bot: BotUnderTest,
) -> None:
    bot.fake.private_text(2002, "\u202e" + ANSWERED + "\u200b")
    await bot.fake.wait_sent("sendMessage", 2002)
    assert "Mobile JKN" in replies_to(bot, 2002)[0]
    bot.fake.private_text(
        2003, UNKNOWN + "\u202e ya", first_name="\u202eSiti\u2066", last_name="\u200b"
    )
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT)
    post = text_of(await ticket_post(bot))
    assert "Dari: Siti\n" in post
    assert not any(c in post for c in "\u202e\u2066\u200b")


async def test_a_4096_character_story_is_posted_whole_and_a_reply_to_it_reaches_the_resident(
    bot: BotUnderTest,
) -> None:
    story = ("Jalan di desa kami rusak sejak banjir, anak-anak susah ke sekolah. " * 70)[:4096]
    bot.fake.private_text(RESIDENT, story)
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=3)
    await settle(bot)
    posts = [text_of(c) for c in bot.fake.sent("sendMessage", ADMIN_CHAT)]
    assert all(len(p) <= 4096 for p in posts)
    assert posts[0].startswith("🎫 Tiket #1")
    assert posts[1].startswith("📄 Tiket #1")
    whole = "".join(p.split("\n\n", 1)[1] if i == 1 else p for i, p in enumerate(posts[1:], 1))
    assert whole.replace(" ", "") == story.strip().replace(" ", "")
    last = bot.fake.sent("sendMessage", ADMIN_CHAT)[-1]
    bot.fake.group_text(
        ADMIN_CHAT, ADMIN, "Sudah kami teruskan ke Dinas PU.", reply_to=last.result["message_id"]
    )
    await bot.fake.wait_for(
        lambda c: "Dinas PU" in text_of(c) and c.params.get("chat_id") == RESIDENT
    )


async def test_an_edit_is_answered_with_a_notice_and_opens_no_ticket(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    bot.fake.edited_private_text(RESIDENT, 1, UNKNOWN + " di kabupaten")
    await settle(bot)
    notice = bot.fake.sent("sendMessage", RESIDENT)[-1]
    assert "diubah" in text_of(notice)
    assert notice.params["reply_parameters"]["message_id"] == 1
    assert len([c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "🎫" in text_of(c)]) == 1


async def test_stickers_polls_dice_and_contacts_each_get_an_answer(bot: BotUnderTest) -> None:
    bot.fake.private_message(3001, sticker=STICKER)
    bot.fake.private_message(3002, poll=POLL)
    bot.fake.private_message(3003, dice={"emoji": "🎲", "value": 4})
    bot.fake.private_message(3004, contact={"phone_number": "+6281200000000", "first_name": "Ani"})
    await settle(bot)
    for chat in (3001, 3002, 3003):
        assert [READING_HINT in t for t in replies_to(bot, chat)] == [True]
    # A shared contact is something only a person can act on: it becomes a ticket.
    assert "tiket #1" in replies_to(bot, 3004)[0]


async def test_an_update_this_library_cannot_read_is_set_aside_and_polling_goes_on(
    bot: BotUnderTest,
) -> None:
    bad = bot.fake.private_message(3005, poll=UNREADABLE_POLL)
    bot.fake.private_text(3006, ANSWERED)
    await bot.fake.wait_sent("sendMessage", 3006, timeout=10)
    await settle(bot)
    # its sender is answered like anyone whose message the bot cannot read ...
    assert [READING_HINT in t for t in replies_to(bot, 3005)] == [True]
    # ... a button under that message is answered too ...
    bot.fake.callback(3005, "p:1:1", chat_id=3005, message_id=bad["message"]["message_id"])
    [toast] = await bot.fake.wait_sent("answerCallbackQuery")
    assert "tidak berlaku" in toast.params["text"]
    # ... and the update is kept as it arrived, handled
    rows = await bot.storage._all(
        "SELECT body, done_at FROM updates WHERE update_id = ?", (bad["update_id"],)
    )
    assert rows and '"question": "Setuju?"' in rows[0][0] and rows[0][1] is not None


def test_the_library_s_dump_of_an_unreadable_batch_is_withheld_from_logs() -> None:
    record = logging.LogRecord(
        "telegram.ext.ExtBot",
        logging.CRITICAL,
        __file__,
        1,
        "Error while parsing updates! Received data was %r",
        ([{"text": "NIK saya ..."}],),
        None,
    )
    assert WithholdReceivedData().filter(record)
    assert "NIK" not in record.getMessage() and "withheld" in record.getMessage()


async def test_channel_posts_other_groups_and_being_added_somewhere_stay_silent(
    bot: BotUnderTest,
) -> None:
    bot.fake.push(
        {
            "channel_post": {
                "message_id": 1,
                "date": 1,
                "text": "/antrian",
                "chat": {"id": -100777, "type": "channel", "title": "Kanal"},
            }
        }
    )
    member = {"id": BOT_ID, "is_bot": True, "first_name": "Tanya"}
    bot.fake.push(
        {
            "my_chat_member": {
                "chat": {"id": -100888, "type": "supergroup", "title": "Grup Arisan"},
                "from": {"id": 9, "is_bot": False, "first_name": "Budi"},
                "date": 1,
                "old_chat_member": {"status": "left", "user": member},
                "new_chat_member": {"status": "member", "user": member},
            }
        }
    )
    bot.fake.group_text(-100888, 9, "halo bot, syarat ktp apa?")
    bot.fake.group_text(-100888, 9, "/tutup 1")
    await settle(bot)
    assert not bot.fake.sent("sendMessage")


@pytest.mark.parametrize(
    "data",
    [
        "",
        "x",
        "p",
        "p:1",
        "p:1:1",
        "p:99999999999999999999:1",
        "p:-1:-1",
        "p:1:١",
        "a:close:1",
        "a:claim:1:2:3",
        "💥" * 40,
        "p:" + "9" * 300 + ":1",
        "\x00:\x00",
    ],
)
async def test_forged_buttons_in_a_private_chat_get_a_polite_toast_and_do_nothing(
    bot: BotUnderTest, data: str
) -> None:
    await ask(bot, UNKNOWN)  # ticket 1 exists: an "a:close:1" must not close it
    before = len(bot.fake.sent("sendMessage"))
    bot.fake.callback(RESIDENT, data, chat_id=RESIDENT, message_id=1)
    [answer] = await bot.fake.wait_sent("answerCallbackQuery")
    await settle(bot)
    assert "tidak berlaku" in answer.params.get("text", "")
    assert len(bot.fake.sent("sendMessage")) == before
    ticket = await bot.storage.ticket(1)
    assert ticket is not None and ticket.status == "open" and ticket.claimed_name is None


@pytest.mark.parametrize(
    "command",
    [
        "/tiket",
        "/tiket abc",
        "/tiket 99999999999999999999",
        "/tiket #0",
        "/tutup -1",
        "/ambil ٣",
        "/pindah 1",
        "/pindah 1 dinas-tidak-ada",
        "/kirim 1",
        "/kirim 1 x",
        "/kirim 1 99",
        "/blokir",
        "/blokir semua",
        "/buka_blokir 42",
        "/tiket 1 2 3 4 5",
    ],
)
async def test_admin_commands_with_missing_or_bad_arguments_say_how_to_use_them(
    bot: BotUnderTest, command: str
) -> None:
    await ask(bot, UNKNOWN)
    before = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    bot.fake.group_text(ADMIN_CHAT, ADMIN, command)
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=before + 1)
    await settle(bot)
    reply = text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[before])
    assert reply and "Traceback" not in reply
    assert (await bot.storage.ticket(1)).status == "open"
    assert not await bot.storage.blocked(RESIDENT)


async def test_a_resident_cannot_use_admin_commands_or_see_another_resident_s_ticket(
    bot: BotUnderTest,
) -> None:
    await ask(bot, UNKNOWN + " rahasia-warga-1")
    for command in ("/tiket 1", "/tutup 1", "/blokir 1", "/antrian", "/statistik", "/status 1"):
        bot.fake.private_text(2002, command)
    await settle(bot)
    seen = replies_to(bot, 2002)
    assert len(seen) == 6 and not any("rahasia" in t or "#1" in t for t in seen)
    assert (await bot.storage.ticket(1)).status == "open"
    assert not await bot.storage.blocked(RESIDENT)


# ------------------------------------------------------------------------- random updates
RESIDENTS = (4001, 4002, 4003)
OTHER_GROUP = -100555
KNOWN = [ANSWERED, "ktp", UNKNOWN, "1", "2", "0", "3", "halo", "makasih"]
COMMANDS = [
    "/start",
    "/bantuan",
    "/menu",
    "/status",
    "/status 1",
    "/tiket 1",
    "/tutup 1",
    "/blokir 1",
    "/pindah 1 dinkes",
    "/kirim 1 1",
    "/antrian",
    "/muat_ulang",
    "/xyz",
    "/start@other_bot",
]
odd_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)),  # JSON cannot carry lone surrogates
    max_size=40,
)
texts = st.one_of(
    odd_text,
    st.sampled_from(KNOWN + COMMANDS),
    st.builds(lambda a, b: f"{a} {b}", st.sampled_from(COMMANDS), odd_text),
    st.builds(
        lambda n, w: (w + " ") * n, st.integers(500, 1000), st.sampled_from(["ktp", "😀", "jalan"])
    ),
)
media = st.sampled_from(
    [
        {"sticker": STICKER},
        {"poll": POLL},
        {"poll": UNREADABLE_POLL},
        {"dice": {"emoji": "🎯", "value": 1}},
        {"contact": {"phone_number": "081200000000", "first_name": "Ani"}},
        {"location": {"latitude": 0.5, "longitude": 101.4}},
        {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}},
    ]
)
callback_data = st.one_of(
    st.text(max_size=70),
    st.sampled_from(["p:1:1", "p:0:2", "a:close:1", "a:claim:1", "a:mv:1:dinkes", "a:ans:1:1"]),
)
events = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(RESIDENTS), texts),
    st.tuples(st.just("media"), st.sampled_from(RESIDENTS), media),
    st.tuples(st.just("edit"), st.sampled_from(RESIDENTS), texts),
    st.tuples(st.just("button"), st.sampled_from(RESIDENTS), callback_data),
    st.tuples(st.just("group"), st.sampled_from(RESIDENTS), texts),
    st.tuples(st.just("group_button"), st.sampled_from(RESIDENTS), callback_data),
    st.tuples(st.just("channel"), st.just(0), texts),
)


def push(bot: BotUnderTest, kind: str, user: int, value) -> int | None:
    """Send one random event; returns the private chat that must hear back, if any."""
    fake = bot.fake
    if kind == "text":
        fake.private_text(user, value, first_name="Warga")
        return user
    if kind == "media":
        fake.private_message(user, **value)
        return user
    if kind == "edit":
        message = fake.private_text(user, "pertanyaan awal")["message"]["message_id"]
        fake.edited_private_text(user, message, value or "?")
        return user
    if kind == "button":
        fake.callback(user, value, chat_id=user, message_id=1)
        return None
    if kind == "group":
        fake.group_text(OTHER_GROUP, user, value or "?")
        return None
    if kind == "group_button":
        fake.callback(user, value, chat_id=OTHER_GROUP, message_id=1)
        return None
    fake.push(
        {
            "channel_post": {
                "message_id": 1,
                "date": 1,
                "text": value or "?",
                "chat": {"id": -100777, "type": "channel", "title": "Kanal"},
            }
        }
    )
    return None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=st.lists(events, min_size=1, max_size=6))
async def test_random_updates_are_all_answered_and_never_act_for_the_admins(
    bot: BotUnderTest, stream: list
) -> None:
    fake = bot.fake
    seen_before = {chat: len(fake.sent(chat_id=chat)) for chat in RESIDENTS}
    queries_before = len(fake.sent("answerCallbackQuery"))
    expected: dict[int, int] = {}
    for kind, user, value in stream:
        chat = push(bot, kind, user, value)
        if chat is not None:
            expected[chat] = expected.get(chat, 0) + 1
    await asyncio.wait_for(settle(bot), 30)
    for chat, count in expected.items():
        # the edit's first version and the edit itself are each answered
        wanted = count + sum(1 for k, u, _ in stream if k == "edit" and u == chat)
        assert len(fake.sent(chat_id=chat)) - seen_before[chat] >= wanted, fake.summary()
    buttons = sum(1 for k, _, _ in stream if k in ("button", "group_button"))
    assert len(fake.sent("answerCallbackQuery")) - queries_before == buttons
    assert not fake.sent(chat_id=OTHER_GROUP) and not fake.sent(chat_id=-100777)
    for ticket_id in range(1, 50):
        ticket = await bot.storage.ticket(ticket_id)
        if ticket is None:
            break
        assert ticket.status == "open" and ticket.claimed_name is None
    assert not any([await bot.storage.blocked(user) for user in RESIDENTS])
    # still answering
    newcomer = 5000 + len(fake.calls)
    fake.private_text(newcomer, ANSWERED)
    await fake.wait_sent("sendMessage", newcomer, timeout=10)
    assert "Mobile JKN" in replies_to(bot, newcomer)[0]
