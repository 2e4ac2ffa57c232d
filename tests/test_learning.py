"""Issue 5, point 1: answered tickets become draft entries (/faq N or its button), drafts are
listed and checked, and knowledge files are reloaded when they change on disk."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import KnowledgeConfig, MatcherConfig
from bot.kb_cache import load_matcher
from bot.knowledge import check_knowledge
from tests.bot_harness import ADMIN, ADMIN_CHAT, RESIDENT, BotUnderTest, running_bot
from tests.test_bot_flows import ROUTED, UNKNOWN, ask, buttons_of, text_of, ticket_post
from tests.test_reload import NEW_ENTRY

SMALL_KB = Path(__file__).parent / "data" / "kb_small"
ADMIN_ANSWER = "Akta kelahiran dibuat di Disdukcapil: bawa KK, KTP orang tua\ndan surat lahir."


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "knowledge"
    shutil.copytree(SMALL_KB, copy)
    return copy


@pytest.fixture
async def bot(tmp_path: Path, folder: Path):
    matcher = load_matcher(folder, MatcherConfig(), None)
    async with running_bot(tmp_path, folder, matcher) as running:
        yield running


async def group(bot: BotUnderTest, text: str, **fields: object) -> str:
    """Send a message in the admin group; return the bot's next message there."""
    before = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    bot.fake.group_text(ADMIN_CHAT, ADMIN, text, **fields)  # type: ignore[arg-type]
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=before + 1, timeout=20)
    await bot.idle()
    return text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[before])


async def answered_ticket(
    bot: BotUnderTest,
    number: int = 1,
    question: str = ROUTED,
    answer: str = ADMIN_ANSWER,
) -> None:
    """Ticket `number`, asked by its own resident, in Disdukcapil and answered by an admin."""
    await ask(bot, question, user=RESIDENT + number - 1)
    post = await ticket_post(bot, number)
    await group(bot, answer, reply_to=post.result["message_id"])
    ticket = await bot.storage.ticket(number)
    if ticket is not None and ticket.opd != "disdukcapil":
        await group(bot, f"/pindah {number} disdukcapil")


async def test_faq_turns_an_answered_ticket_into_a_draft_that_passes_check_once_id_is_filled(
    bot: BotUnderTest, folder: Path
) -> None:
    question = ROUTED + ", NIK saya 3201 0101 0101 0001, hp 0812-3456-7890"
    await ask(bot, question)
    post = await ticket_post(bot)
    await group(bot, ADMIN_ANSWER, reply_to=post.result["message_id"])
    await group(bot, "/pindah 1 disdukcapil")  # the numbers blur the routing: make it sure

    reply = await group(bot, "/faq 1")
    assert "Draf entri dari tiket #1 disimpan di knowledge/_drafts/disdukcapil.yaml" in reply
    draft = folder / "_drafts" / "disdukcapil.yaml"
    text = draft.read_text(encoding="utf-8")
    assert "dari tiket #1, dijawab oleh Admin" in text
    assert "3201" not in text and "3456" not in text  # personal numbers masked
    assert "[NIK/KK]" in text and "[nomor HP]" in text
    assert "      Akta kelahiran dibuat di Disdukcapil: bawa KK, KTP orang tua\n" in text
    # The live file is untouched and the live knowledge does not see the draft.
    assert (folder / "disdukcapil.yaml").read_bytes() == (
        SMALL_KB / "disdukcapil.yaml"
    ).read_bytes()
    live, _ = check_knowledge(folder)
    assert live is not None and len(live.entries) == 5

    # kb check on the drafts points at the one empty field, then passes once it is filled.
    runner = CliRunner()
    checked = runner.invoke(main, ["kb", "check", str(folder / "_drafts")])
    assert checked.exit_code == 1 and "'id' kosong" in checked.output
    draft.write_text(text.replace("  - id:\n", "  - id: akta-dari-tiket\n"), encoding="utf-8")
    checked = runner.invoke(main, ["kb", "check", str(folder / "_drafts")])
    assert checked.exit_code == 0, checked.output

    # The ticket's history says so, and a second /faq does not write it twice.
    assert "dijadikan draf FAQ" in await group(bot, "/tiket 1")
    again = await group(bot, "/faq 1")
    assert "sudah dijadikan draf" in again
    assert draft.read_text(encoding="utf-8").count("  - id:") == 1


async def test_the_faq_button_on_an_answered_post_writes_the_draft_into_the_thread(
    bot: BotUnderTest, folder: Path
) -> None:
    await answered_ticket(bot)
    post = await ticket_post(bot)
    edits = [
        c
        for c in bot.fake.sent("editMessageText", ADMIN_CHAT)
        if c.params.get("message_id") == post.result["message_id"]
    ]
    assert edits, bot.fake.summary()
    buttons = dict(buttons_of(edits[-1]))
    assert buttons.get("📝 Jadikan FAQ") == "a:faq:1"
    before = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    bot.fake.callback(ADMIN, "a:faq:1", chat_id=ADMIN_CHAT, message_id=post.result["message_id"])
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=before + 1)
    await bot.idle()
    note = bot.fake.sent("sendMessage", ADMIN_CHAT)[before]
    assert "Draf entri dari tiket #1" in text_of(note)
    assert (folder / "_drafts" / "disdukcapil.yaml").exists()
    # A resident pressing a forged FAQ button in their own chat does nothing of the kind.
    bot.fake.callback(RESIDENT, "a:faq:1", chat_id=RESIDENT, message_id=1)
    await bot.idle()
    assert (folder / "_drafts" / "disdukcapil.yaml").read_text().count("  - id:") == 1


async def test_faq_explains_what_is_missing(bot: BotUnderTest, folder: Path) -> None:
    assert "Tulis: /faq NOMOR" in await group(bot, "/faq")
    assert "Tiket #9 tidak ada" in await group(bot, "/faq 9")
    await ask(bot, ROUTED)
    assert "belum punya jawaban tertulis" in await group(bot, "/faq 1")
    await ask(bot, UNKNOWN, user=RESIDENT + 1)  # no OPD
    assert "belum punya OPD" in await group(bot, "/faq 2")
    assert not (folder / "_drafts").exists()


async def test_a_second_draft_for_the_same_opd_is_appended_and_a_broken_draft_file_is_named(
    bot: BotUnderTest, folder: Path
) -> None:
    await answered_ticket(bot)
    await group(bot, "/faq 1")
    await answered_ticket(bot, 2, "akta kematian ayah gmn", "Akta kematian: bawa surat kematian.")
    assert "disimpan" in await group(bot, "/faq 2")
    draft = folder / "_drafts" / "disdukcapil.yaml"
    listed = CliRunner().invoke(main, ["kb", "drafts", str(folder)])
    assert listed.exit_code == 0
    assert "2 entri dalam 1 berkas" in listed.output
    assert "tiket #1 · id belum diisi" in listed.output and "tiket #2" in listed.output

    draft.write_text(draft.read_text(encoding="utf-8") + "catatan: [\n", encoding="utf-8")
    await answered_ticket(bot, 3, "akta cerai dmn ya", "Akta cerai dari pengadilan.")
    refused = await group(bot, "/faq 3")
    assert "_drafts/disdukcapil.yaml" in refused and "baris" in refused


def test_kb_drafts_with_no_drafts_says_how_to_make_one(folder: Path) -> None:
    result = CliRunner().invoke(main, ["kb", "drafts", str(folder)])
    assert result.exit_code == 0 and "/faq NOMOR" in result.output
    missing = CliRunner().invoke(main, ["kb", "drafts", str(folder / "nope")])
    assert missing.exit_code == 1 and "Traceback" not in missing.output


async def wait_group_text(bot: BotUnderTest, needle: str, timeout: float = 15) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for call in bot.fake.sent("sendMessage", ADMIN_CHAT):
            if needle in text_of(call):
                return text_of(call)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no admin message with {needle!r}: {bot.fake.summary()}")


async def test_a_saved_knowledge_file_is_reloaded_and_a_broken_save_is_refused(
    tmp_path: Path, folder: Path
) -> None:
    matcher = load_matcher(folder, MatcherConfig(), None)
    knowledge = KnowledgeConfig(dir=folder, cache_dir=None, watch=True)
    async with running_bot(tmp_path, folder, matcher, knowledge=knowledge) as bot:
        await asyncio.sleep(0.5)  # the watcher is up
        dinkes = folder / "dinkes.yaml"
        good = dinkes.read_text(encoding="utf-8")
        dinkes.write_text(good + NEW_ENTRY.replace("    answer:", "\tanswer:"), encoding="utf-8")
        refused = await wait_group_text(bot, "TIDAK dimuat ulang")
        assert "Berkas pengetahuan berubah (dinkes.yaml)" in refused and "dinkes.yaml:" in refused
        question = "ada kasus demam berdarah di kampung kami, harus bagaimana"
        assert "fogging" not in text_of((await ask(bot, question))[0])

        dinkes.write_text(good + NEW_ENTRY, encoding="utf-8")
        await wait_group_text(bot, "dimuat ulang: 2 OPD")
        assert "fogging" in text_of((await ask(bot, question, user=RESIDENT + 1))[0])

        # Drafts and backup files are not knowledge: writing them reloads nothing.
        notices = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
        (folder / "_drafts").mkdir()
        (folder / "_drafts" / "dinkes.yaml").write_text("opd: {}\n", encoding="utf-8")
        (folder / "dinkes.yaml~").write_text("x", encoding="utf-8")
        await asyncio.sleep(2.5)
        assert len(bot.fake.sent("sendMessage", ADMIN_CHAT)) == notices


def test_a_draft_masks_numbers_typed_across_lines_and_e_mail(tmp_path: Path) -> None:
    import datetime as dt

    from bot.drafts import Draft, write_draft

    draft = Draft(
        opd_id="dinkes",
        opd_name="Dinas Kesehatan",
        question="NIK sy 3201  0123\n4567 0001, hp 0812\n3456 7890, email budi@gmail.com",
        answer="Silakan kirim ke budi@gmail.com atau telp (0761) 12345.\nBuka 08.00-15.00.",
        ticket_id=7,
        answered_by="Petugas",
        day=dt.date(2026, 12, 3),
        related_entry=None,
    )
    text = write_draft(tmp_path, draft).read_text(encoding="utf-8")
    for secret in ("3201", "4567", "0812", "7890", "budi@", "12345"):
        assert secret not in text, secret
    assert "[NIK/KK]" in text and "[nomor HP]" in text and "[e-mail]" in text
    assert "Buka 08.00-15.00." in text
