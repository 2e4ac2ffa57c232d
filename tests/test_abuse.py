"""Issue 4, point 6: per-resident limits and blocking, through the real bot and fake Bot API."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import LimitsConfig
from bot.matcher import Matcher
from tests import test_bot_flows as flows
from tests.bot_harness import ADMIN, ADMIN_CHAT, RESIDENT, BotUnderTest, running_bot
from tests.test_bot_flows import ANSWERED, SMALL_KB, UNKNOWN, ask, text_of

matcher = flows.matcher
bot = flows.bot


@pytest.fixture
async def strict_bot(tmp_path: Path, matcher: Matcher):
    limits = LimitsConfig(messages_per_minute=3)
    async with running_bot(tmp_path, SMALL_KB, matcher, limits=limits) as running:
        yield running


async def admin_says(bot: BotUnderTest, text: str) -> str:
    before = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    bot.fake.group_text(ADMIN_CHAT, ADMIN, text)
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=before + 1)
    return text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[-1])


async def test_a_flooding_resident_is_asked_once_to_slow_down(strict_bot: BotUnderTest) -> None:
    for _ in range(6):
        strict_bot.fake.private_text(RESIDENT, ANSWERED)
    await strict_bot.fake.wait_sent("sendMessage", RESIDENT, count=4)
    await strict_bot.idle()
    texts = [text_of(c) for c in strict_bot.fake.sent("sendMessage", RESIDENT)]
    assert sum("Mobile JKN" in t for t in texts) == 3
    assert sum("terlalu banyak" in t for t in texts) == 1 and len(texts) == 4


async def test_a_blocked_resident_is_told_once_and_opens_no_tickets(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    assert "Tulis: /blokir" in await admin_says(bot, "/blokir")
    assert "diblokir" in await admin_says(bot, "/blokir 1")
    assert "sudah diblokir" in await admin_says(bot, "/blokir #1")
    posts = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    notice = await ask(bot, "mau tanya soal ktp sama akta")
    assert "tidak dapat lagi menerima pesan" in text_of(notice[0])
    bot.fake.private_text(RESIDENT, "halo??")
    bot.fake.private_text(RESIDENT, "/start")
    await bot.idle()
    assert len(bot.fake.sent("sendMessage", RESIDENT)) == 2  # the ticket notice and one notice
    assert len(bot.fake.sent("sendMessage", ADMIN_CHAT)) == posts  # nothing reached the admins
    assert "dibuka" in await admin_says(bot, "/buka_blokir 1")
    again = await ask(bot, "masih menunggu")
    assert "tiket #1" in text_of(again[0])  # heard again: joins the open ticket


async def test_blocking_from_another_chat_does_nothing(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    bot.fake.private_text(RESIDENT + 1, "/blokir 1")
    await bot.idle()
    assert await bot.storage.blocked(RESIDENT) is None
