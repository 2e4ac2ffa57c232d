"""Issue 4, point 8: a broken knowledge file on /muat_ulang is refused with its errors in the
admin group, and the knowledge already loaded keeps answering; a good one takes over at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import MatcherConfig
from bot.kb_cache import load_matcher
from tests.bot_harness import ADMIN, ADMIN_CHAT, BotUnderTest, running_bot
from tests.test_bot_flows import ANSWERED, SMALL_KB, ask, text_of

NEW_ENTRY = """\
  - id: demam-berdarah
    questions:
      - Apa yang harus dilakukan bila ada kasus demam berdarah di kampung?
    keywords: [dbd, demam berdarah, fogging]
    answer: Laporkan ke puskesmas; petugas memeriksa dan bila perlu melakukan fogging.
"""


@pytest.fixture
async def bot(tmp_path: Path):
    folder = tmp_path / "knowledge"
    shutil.copytree(SMALL_KB, folder)
    matcher = load_matcher(folder, MatcherConfig(), None)
    async with running_bot(tmp_path, folder, matcher) as running:
        yield running


async def reload(bot: BotUnderTest) -> str:
    before = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "/muat_ulang")
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=before + 1, timeout=20)
    return text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[-1])


async def test_a_broken_file_is_refused_and_the_old_knowledge_keeps_answering(
    bot: BotUnderTest,
) -> None:
    dinkes = bot.config.knowledge.dir / "dinkes.yaml"
    good = dinkes.read_text(encoding="utf-8")
    dinkes.write_text(good + NEW_ENTRY.replace("    answer:", "\tanswer:"), encoding="utf-8")
    refused = await reload(bot)
    assert "TIDAK dimuat ulang" in refused and "lama" in refused
    assert "dinkes.yaml:" in refused  # the file and its line, for the editor
    assert "Mobile JKN" in text_of((await ask(bot, ANSWERED))[0])

    dinkes.write_text(good + NEW_ENTRY, encoding="utf-8")
    assert "dimuat ulang: 2 OPD" in await reload(bot)
    fresh = await ask(bot, "ada kasus demam berdarah di kampung kami, harus bagaimana", user=2002)
    assert "fogging" in text_of(fresh[0])
