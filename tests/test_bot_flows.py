"""Every flow of issue 3 through the real Application, the fake Bot API and a real SQLite file.

The knowledge is tests/data/kb_small (two OPDs, five entries), whose decisions are pinned in
`test_the_small_knowledge_decides_as_these_tests_assume` so a matcher change that moves them
fails there, with a clear message, rather than somewhere in a flow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import MatcherConfig
from bot.kb_cache import load_matcher
from bot.matcher import Matcher
from tests.bot_harness import ADMIN, ADMIN_CHAT, RESIDENT, BotUnderTest, running_bot
from tests.fake_telegram import Call

SMALL_KB = Path(__file__).parent / "data" / "kb_small"
ANSWERED = "cara daftar bpjs mandiri"  # -> answer dinkes/bpjs-mandiri
SUGGESTED = "ktp"  # -> suggest ktp-el-baru, ktp-hilang
UNKNOWN = "bikin paspor dimana"  # -> escalate, no OPD
ROUTED = "mau tanya soal ktp sama akta"  # -> escalate to disdukcapil, with candidates


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return load_matcher(SMALL_KB, MatcherConfig(), None)


@pytest.fixture
async def bot(tmp_path: Path, matcher: Matcher):
    async with running_bot(tmp_path, SMALL_KB, matcher) as running:
        yield running


@pytest.fixture
async def forum_bot(tmp_path: Path, matcher: Matcher):
    async with running_bot(tmp_path, SMALL_KB, matcher, forum=True) as running:
        yield running


def to(chat: int):
    return lambda call: call.params.get("chat_id") == chat


def text_of(call: Call) -> str:
    return str(call.params.get("text", ""))


def buttons_of(call: Call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {}
    return [
        (b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row
    ]


async def ask(bot: BotUnderTest, text: str, user: int = RESIDENT, count: int = 1) -> list[Call]:
    before = len(bot.fake.sent("sendMessage", user))
    bot.fake.private_text(user, text, first_name="Siti", last_name="Aminah")
    await bot.fake.wait_sent("sendMessage", user, count=before + count)
    await bot.idle()
    return bot.fake.sent("sendMessage", user)[before:]


async def ticket_post(bot: BotUnderTest, number: int = 1) -> Call:
    posts = [
        c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if f"Tiket #{number} ·" in text_of(c)
    ]
    assert posts, bot.fake.summary()
    return posts[0]


def test_the_small_knowledge_decides_as_these_tests_assume(matcher: Matcher) -> None:
    assert matcher.match(ANSWERED).entry == "dinkes/bpjs-mandiri"
    suggested = matcher.match(SUGGESTED)
    assert suggested.decision == "suggest"
    assert [c.entry for c in suggested.candidates] == [
        "disdukcapil/ktp-el-baru",
        "disdukcapil/ktp-hilang",
    ]
    assert matcher.match(UNKNOWN).decision == "escalate" and matcher.match(UNKNOWN).opd is None
    routed = matcher.match(ROUTED)
    assert routed.decision == "escalate" and routed.opd == "disdukcapil" and routed.candidates


# --------------------------------------------------------------------------- residents


async def test_start_welcomes_with_the_regency_data_use_and_topic_menu(bot: BotUnderTest) -> None:
    replies = await ask(bot, "/start", count=2)
    welcome, menu = text_of(replies[0]), text_of(replies[1])
    assert "Kabupaten Mekar Sari" in welcome
    assert "Data Anda" in welcome and "Nomor HP tidak kami minta" in welcome
    assert "1. Dinas Kependudukan dan Pencatatan Sipil" in menu
    assert "2. Dinas Kesehatan" in menu
    assert [t for t, _ in buttons_of(replies[1])] == ["1", "2"]


async def test_help_and_status_without_tickets(bot: BotUnderTest) -> None:
    help_text = text_of((await ask(bot, "/bantuan"))[0])
    assert "balas dengan nomornya" in help_text and "1 hari kerja" in help_text
    status = text_of((await ask(bot, "/status"))[0])
    assert "tidak punya tiket" in status


async def test_menu_by_typed_numbers_then_by_buttons(bot: BotUnderTest) -> None:
    await ask(bot, "/menu")
    entries = text_of((await ask(bot, "2"))[0])
    assert entries.startswith("Dinas Kesehatan:")
    assert "1. Bagaimana cara mendaftar BPJS" in entries and "0 untuk kembali" in entries
    answer = await ask(bot, "1")
    assert "Mobile JKN" in text_of(answer[0])
    # the same through buttons: back to the OPD list, then OPD 1, entry 3
    menu = await ask(bot, "/menu")
    data = dict(buttons_of(menu[0]))["1"]
    bot.fake.callback(RESIDENT, data, chat_id=RESIDENT, message_id=menu[0].result["message_id"])
    await bot.idle()
    listing = bot.fake.sent("sendMessage", RESIDENT)[-1]
    assert text_of(listing).startswith("Dinas Kependudukan dan Pencatatan Sipil:")
    back = dict(buttons_of(listing))["Kembali"]
    bot.fake.callback(RESIDENT, back, chat_id=RESIDENT, message_id=listing.result["message_id"])
    await bot.idle()
    assert text_of(bot.fake.sent("sendMessage", RESIDENT)[-1]).startswith("Pilih dinas/instansi:")
    assert all(
        c.params.get("show_alert") in (None, False) for c in bot.fake.sent("answerCallbackQuery")
    )


async def test_answer_shows_source_and_date_and_asks_for_feedback(bot: BotUnderTest) -> None:
    (question,) = await ask(bot, ANSWERED)
    assert "Mobile JKN" in text_of(question)
    assert "Sumber: Dinas Kesehatan, diperbarui 10 Januari 2025" in text_of(question)
    assert text_of(question).endswith("Balas 1 bila ya, 2 bila tidak.")
    assert [t for t, _ in buttons_of(question)] == ["👍 Ya", "👎 Tidak"]
    thanks = await ask(bot, "1")
    assert "Terima kasih atas penilaian" in text_of(thanks[0])
    stats = await bot.storage.stats()
    assert (stats.helpful, stats.not_helpful) == (1, 0)


async def test_thumbs_down_offers_a_person_and_zero_opens_a_ticket(bot: BotUnderTest) -> None:
    (question,) = await ask(bot, ANSWERED)
    no = dict(buttons_of(question))["👎 Tidak"]
    bot.fake.callback(RESIDENT, no, chat_id=RESIDENT, message_id=question.result["message_id"])
    await bot.idle()
    offer = bot.fake.sent("sendMessage", RESIDENT)[-1]
    assert "Balas 0 untuk meneruskan" in text_of(offer)
    ticket = await ask(bot, "0")
    assert "nomor tiket #1" in text_of(ticket[0])
    post = await ticket_post(bot)
    assert ANSWERED in text_of(post)  # the original question, not "0"
    assert (await bot.storage.stats()).not_helpful == 1


async def test_suggestions_by_typed_number_by_button_and_zero(bot: BotUnderTest) -> None:
    (choices,) = await ask(bot, SUGGESTED)
    text = text_of(choices)
    assert "1. Bagaimana cara membuat KTP" in text and "2. KTP saya hilang" in text
    assert "Ketik nomornya (1 atau 2). Ketik 0 bila tidak ada yang cocok" in text
    assert [t for t, _ in buttons_of(choices)] == ["1", "2", "Tanya petugas"]
    picked = await ask(bot, "1")
    assert "Datang ke kantor Disdukcapil" in text_of(picked[0])
    # the button of the same list no longer applies once another list replaced it
    (again,) = await ask(bot, SUGGESTED)
    stale = dict(buttons_of(choices))["2"]
    bot.fake.callback(RESIDENT, stale, chat_id=RESIDENT, message_id=choices.result["message_id"])
    await bot.idle()
    toast = bot.fake.sent("answerCallbackQuery")[-1]
    assert "sudah tidak berlaku" in toast.params.get("text", "")
    second = dict(buttons_of(again))["2"]
    bot.fake.callback(RESIDENT, second, chat_id=RESIDENT, message_id=again.result["message_id"])
    await bot.idle()
    assert any("surat kehilangan" in text_of(c) for c in bot.fake.sent("sendMessage", RESIDENT))
    (_third,) = await ask(bot, SUGGESTED)
    escalated = await ask(bot, "0")
    assert "nomor tiket #1" in text_of(escalated[0])
    post = await ticket_post(bot)
    assert "ktp" in text_of(post).lower()


async def test_a_lone_number_with_nothing_pending_gets_a_hint(bot: BotUnderTest) -> None:
    (reply,) = await ask(bot, "3")
    assert "Tidak ada pilihan" in text_of(reply)
    assert not bot.fake.sent("sendMessage", ADMIN_CHAT)


async def test_smalltalk_is_answered_not_escalated(bot: BotUnderTest) -> None:
    (reply,) = await ask(bot, "halo min")
    assert text_of(reply).startswith("Halo!")
    (reply,) = await ask(bot, "makasih ya")
    assert "Sama-sama" in text_of(reply)
    assert not bot.fake.sent("sendMessage", ADMIN_CHAT)


# --------------------------------------------------------------------------- tickets


async def test_escalation_posts_a_ticket_and_an_admin_reply_reaches_the_resident(
    bot: BotUnderTest,
) -> None:
    (told,) = await ask(bot, ROUTED)
    assert "petugas Dinas Kependudukan dan Pencatatan Sipil dengan nomor tiket #1" in text_of(told)
    assert "1 hari kerja" in text_of(told)
    post = await ticket_post(bot)
    body = text_of(post)
    assert "🎫 Tiket #1 · Dinas Kependudukan dan Pencatatan Sipil" in body
    assert "Dari: Siti Aminah" in body and ROUTED in body
    assert "Kandidat jawaban:" in body and "disdukcapil/akta-kelahiran" in body
    labels = [t for t, _ in buttons_of(post)]
    assert (
        labels[:2] == ["Saya tangani", "Pindah OPD"] and "Tutup" in labels and "Kirim 1" in labels
    )
    # the admin answers by replying to the ticket post
    bot.fake.group_text(
        ADMIN_CHAT, ADMIN, "Silakan datang hari Senin.", reply_to=post.result["message_id"]
    )
    relayed = await bot.fake.wait_sent("sendMessage", RESIDENT, count=2)
    assert "Balasan petugas Dinas Kependudukan dan Pencatatan Sipil (tiket #1)" in text_of(
        relayed[-1]
    )
    assert "Silakan datang hari Senin." in text_of(relayed[-1])
    await bot.idle()
    confirmations = [
        c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "✅ Terkirim" in text_of(c)
    ]
    assert len(confirmations) == 1 and "Siti Aminah" in text_of(confirmations[0])
    ticket = await bot.storage.ticket(1)
    assert ticket is not None and ticket.status == "answered" and ticket.first_response_at
    status = text_of((await ask(bot, "/status"))[0])
    assert "#1 · sudah dibalas" in status


async def test_follow_ups_join_the_ticket_and_replies_to_them_are_relayed(
    bot: BotUnderTest,
) -> None:
    await ask(bot, UNKNOWN)
    post = await ticket_post(bot)
    (ack,) = await ask(bot, "sudah seminggu belum ada kabar")
    assert "tambahkan ke tiket #1" in text_of(ack)
    followup = [
        c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "pesan lanjutan" in text_of(c)
    ]
    assert len(followup) == 1 and "sudah seminggu" in text_of(followup[0])
    assert followup[0].params["reply_parameters"]["message_id"] == post.result["message_id"]
    assert len(await bot.storage.open_tickets()) == 1
    # replying to the follow-up (a later message of the ticket's thread) answers the same ticket
    bot.fake.group_text(
        ADMIN_CHAT,
        ADMIN,
        "Paspor diurus di Kantor Imigrasi.",
        reply_to=followup[0].result["message_id"],
    )
    relayed = await bot.fake.wait_for(
        lambda c: c.method == "sendMessage" and to(RESIDENT)(c) and "Kantor Imigrasi" in text_of(c)
    )
    assert "(tiket #1)" in text_of(relayed[0])


async def test_media_from_residents_is_escalated_with_the_media(bot: BotUnderTest) -> None:
    bot.fake.private_message(
        RESIDENT,
        first_name="Budi",
        voice={"file_id": "voice-1", "file_unique_id": "v1", "duration": 4},
    )
    told = await bot.fake.wait_for(lambda c: c.method == "sendMessage" and to(RESIDENT)(c))
    assert "nomor tiket #1" in text_of(told[0])
    await bot.idle()
    post = await ticket_post(bot)
    assert "[pesan suara]" in text_of(post)
    copies = bot.fake.sent("copyMessage", ADMIN_CHAT)
    assert len(copies) == 1 and copies[0].params["from_chat_id"] == RESIDENT
    # the admin answers the voice note with a photo: it is copied to the resident
    copied = copies[0].result["message_id"]
    bot.fake.group_message(
        ADMIN_CHAT,
        ADMIN,
        reply_to=copied,
        photo=[{"file_id": "p1", "file_unique_id": "p1", "width": 10, "height": 10}],
        caption="Formulir",
    )
    to_resident = await bot.fake.wait_sent("copyMessage", RESIDENT)
    assert to_resident[0].params["from_chat_id"] == ADMIN_CHAT
    await bot.idle()
    assert (await bot.storage.ticket(1)).status == "answered"
    # a photo of a letter and a location each open the same way
    bot.fake.private_message(
        2002,
        photo=[{"file_id": "p2", "file_unique_id": "p2", "width": 1, "height": 1}],
        caption="surat ini maksudnya apa?",
    )
    bot.fake.private_message(2003, location={"latitude": 0.5, "longitude": 101.4})
    await bot.fake.wait_sent("sendMessage", 2003)
    await bot.idle()
    assert "[foto] surat ini maksudnya apa?" in text_of(await ticket_post(bot, 2))
    assert "[lokasi]" in text_of(await ticket_post(bot, 3))


async def test_ticket_buttons_claim_send_candidate_and_close(bot: BotUnderTest) -> None:
    await ask(bot, ROUTED)
    post = await ticket_post(bot)
    mid = post.result["message_id"]
    data = dict(buttons_of(post))
    bot.fake.callback(
        ADMIN, data["Saya tangani"], chat_id=ADMIN_CHAT, message_id=mid, first_name="Rina"
    )
    await bot.idle()
    edit = bot.fake.sent("editMessageText", ADMIN_CHAT)[-1]
    assert "ditangani Rina" in text_of(edit)
    bot.fake.callback(ADMIN, data["Kirim 1"], chat_id=ADMIN_CHAT, message_id=mid, first_name="Rina")
    got = await bot.fake.wait_for(
        lambda c: c.method == "sendMessage" and to(RESIDENT)(c) and "(tiket #1)" in text_of(c)
    )
    assert "Surat keterangan lahir" in text_of(got[0])
    await bot.idle()
    bot.fake.callback(ADMIN, data["Tutup"], chat_id=ADMIN_CHAT, message_id=mid, first_name="Rina")
    closed = await bot.fake.wait_for(
        lambda c: c.method == "sendMessage" and to(RESIDENT)(c) and "sudah ditutup" in text_of(c)
    )
    assert "#1" in text_of(closed[0])
    await bot.idle()
    last_edit = bot.fake.sent("editMessageText", ADMIN_CHAT)[-1]
    assert "Status: ditutup" in text_of(last_edit) and not buttons_of(last_edit)
    assert (await bot.storage.ticket(1)).status == "closed"
    # after closing, the resident's next message is a new question, not a follow-up
    reply = (await ask(bot, ANSWERED))[0]
    assert "Mobile JKN" in text_of(reply)


async def test_move_button_and_typed_move(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    post = await ticket_post(bot)
    mid = post.result["message_id"]
    bot.fake.callback(
        ADMIN, dict(buttons_of(post))["Pindah OPD"], chat_id=ADMIN_CHAT, message_id=mid
    )
    await bot.idle()
    picker = bot.fake.sent("editMessageText", ADMIN_CHAT)[-1]
    choices = dict(buttons_of(picker))
    assert set(choices) == {"Disdukcapil", "Dinkes", "Batal"}
    bot.fake.callback(ADMIN, choices["Dinkes"], chat_id=ADMIN_CHAT, message_id=mid)
    await bot.idle()
    assert (await bot.storage.ticket(1)).opd == "dinkes"
    assert "Dinas Kesehatan" in text_of(bot.fake.sent("editMessageText", ADMIN_CHAT)[-1])
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "/pindah 1 disdukcapil")
    await bot.idle()
    assert (await bot.storage.ticket(1)).opd == "disdukcapil"
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "/pindah 1 kua")
    await bot.idle()
    assert "OPD 'kua' tidak dikenal" in text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[-1])


async def test_admin_commands(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    await ask(bot, ROUTED, user=2002)

    async def command(text: str) -> str:
        before = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
        bot.fake.group_text(ADMIN_CHAT, ADMIN, text)
        await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=before + 1)
        await bot.idle()
        return "\n".join(text_of(c) for c in bot.fake.sent("sendMessage", ADMIN_CHAT)[before:])

    queue = await command("/antrian")
    assert "Tiket menunggu jawaban (2)" in queue
    assert queue.index("#1 · OPD belum jelas") < queue.index("#2 · Dinas Kependudukan")
    history = await command("/tiket 2")
    assert "Riwayat:" in history and "dibuat" in history
    assert "Tulis: /tiket NOMOR" in await command("/tiket")
    assert "Tiket #77 tidak ada." in await command("/tiket 77")
    assert "Tulis: /tutup NOMOR" in await command("/tutup abc")
    assert "Tiket #1 ditutup." in await command("/tutup 1")
    assert "Tiket #1 sudah ditutup." in await command("/tutup 1")
    stats = await command("/statistik")
    assert "Pertanyaan: 2" in stats and "Diteruskan: 2" in stats
    assert "Tiket menunggu jawaban (1)" in await command("/antrian@tanya_test_bot")


async def test_long_admin_answers_are_split_cleanly(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    post = await ticket_post(bot)
    paragraph = "Kalimat penjelasan yang panjang untuk warga. " * 20
    long_text = "\n\n".join([paragraph.strip()] * 5)[:4096]
    bot.fake.group_text(ADMIN_CHAT, ADMIN, long_text, reply_to=post.result["message_id"])
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=3)
    await bot.idle()
    parts = [text_of(c) for c in bot.fake.sent("sendMessage", RESIDENT)[1:]]
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)
    assert parts[0].endswith(".") and not parts[1].startswith(" ")
    assert "".join(parts).replace("\n", "").replace(" ", "") == (
        ("Balasan petugas (tiket #1):" + long_text).replace("\n", "").replace(" ", "")
    )


# --------------------------------------------------------------------------- the forum


async def test_forum_topics_per_opd_created_once_and_recreated_when_deleted(
    forum_bot: BotUnderTest,
) -> None:
    bot = forum_bot
    await ask(bot, ROUTED)
    await ask(bot, ROUTED, user=2002)
    await ask(bot, UNKNOWN, user=2003)
    topics = bot.fake.sent("createForumTopic")
    assert [c.params["name"] for c in topics] == ["Disdukcapil"]
    thread = topics[0].result["message_thread_id"]
    first, second, third = [await ticket_post(bot, n) for n in (1, 2, 3)]
    assert first.params["message_thread_id"] == thread == second.params["message_thread_id"]
    assert "message_thread_id" not in third.params  # no OPD: the general topic
    # a plain message in the topic "replies" to the topic's creation message: not an answer
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "ada yang tahu?", thread_id=thread)
    await bot.idle()
    assert len(bot.fake.sent("sendMessage", RESIDENT)) == 1
    # a reply in the topic goes to the resident
    bot.fake.group_text(
        ADMIN_CHAT, ADMIN, "Bawa KK asli.", thread_id=thread, reply_to=first.result["message_id"]
    )
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=2)
    # an admin deletes the topic: the next ticket of that OPD makes it again
    bot.fake.delete_topic(ADMIN_CHAT, thread)
    await ask(bot, ROUTED, user=2004)
    topics = bot.fake.sent("createForumTopic")
    assert len(topics) == 2
    post = await ticket_post(bot, 4)
    new_thread = topics[1].result["message_thread_id"]
    assert post.params["message_thread_id"] == new_thread
    # ticket 2 lived in the deleted topic: its next follow-up reposts it in the new one
    await ask(bot, "masih menunggu", user=2002)
    reposts = [c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "🎫 Tiket #2 ·" in text_of(c)]
    assert len(reposts) == 2 and reposts[1].params["message_thread_id"] == new_thread
    assert len(bot.fake.sent("createForumTopic")) == 2


async def test_forum_move_posts_the_ticket_in_the_new_topic(forum_bot: BotUnderTest) -> None:
    bot = forum_bot
    await ask(bot, ROUTED)
    post = await ticket_post(bot)
    bot.fake.group_text(
        ADMIN_CHAT, ADMIN, "/pindah 1 dinkes", thread_id=post.params["message_thread_id"]
    )
    await bot.idle()
    names = [c.params["name"] for c in bot.fake.sent("createForumTopic")]
    assert names == ["Disdukcapil", "Dinkes"]
    reposts = [
        c
        for c in bot.fake.sent("sendMessage", ADMIN_CHAT)
        if "🎫 Tiket #1 · Dinas Kesehatan" in text_of(c)
    ]
    assert len(reposts) == 1
    dinkes_thread = bot.fake.sent("createForumTopic")[1].result["message_thread_id"]
    assert reposts[0].params["message_thread_id"] == dinkes_thread
    # answering the new post works too
    bot.fake.group_text(
        ADMIN_CHAT,
        ADMIN,
        "Ke puskesmas.",
        thread_id=dinkes_thread,
        reply_to=reposts[0].result["message_id"],
    )
    got = await bot.fake.wait_for(
        lambda c: c.method == "sendMessage" and to(RESIDENT)(c) and "Ke puskesmas." in text_of(c)
    )
    assert "Dinas Kesehatan (tiket #1)" in text_of(got[0])


# --------------------------------------------------------------------------- restart, safety


async def test_an_admin_can_answer_a_ticket_posted_before_a_restart(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    post = await ticket_post(bot)
    await bot.restart()
    bot.fake.group_text(
        ADMIN_CHAT, ADMIN, "Jawaban setelah restart.", reply_to=post.result["message_id"]
    )
    got = await bot.fake.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and to(RESIDENT)(c)
            and "Jawaban setelah restart." in text_of(c)
        )
    )
    assert "(tiket #1)" in text_of(got[0])
    # and a resident's pending choices survive too
    await ask(bot, SUGGESTED, user=2002)
    await bot.restart()
    assert "surat kehilangan" in text_of((await ask(bot, "2", user=2002))[0])


async def test_messages_from_other_chats_are_ignored(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    post = await ticket_post(bot)
    stranger_group = -100999
    # another group: commands, replies and buttons do nothing and say nothing
    bot.fake.group_text(stranger_group, 777, "/antrian")
    bot.fake.group_text(stranger_group, 777, "/tutup 1")
    bot.fake.callback(777, "a:close:1", chat_id=stranger_group, message_id=1)
    # a resident forging admin buttons or typing admin commands in a private chat
    bot.fake.callback(RESIDENT, "a:close:1", chat_id=RESIDENT, message_id=1)
    bot.fake.callback(2002, "p:1:1", chat_id=2002, message_id=1)
    bot.fake.private_text(2002, "/antrian")
    bot.fake.private_text(2002, "/tiket 1")
    await bot.idle()
    assert not bot.fake.sent("sendMessage", stranger_group)
    ticket = await bot.storage.ticket(1)
    assert ticket is not None and ticket.status == "open"
    to_other = [text_of(c) for c in bot.fake.sent("sendMessage", 2002)]
    assert to_other and all("Perintah tidak dikenal" in t for t in to_other)
    assert all(UNKNOWN not in t for t in to_other)
    # a resident replying to their own chat's messages does not reach the admin relay
    bot.fake.private_text(2002, "balas", reply_to=post.result["message_id"])
    await bot.idle()
    assert (await bot.storage.ticket(1)).status == "open"


async def test_an_answer_to_a_resident_who_blocked_the_bot_is_reported_in_the_thread(
    bot: BotUnderTest,
) -> None:
    await ask(bot, UNKNOWN)
    post = await ticket_post(bot)
    bot.fake.blocked.add(RESIDENT)
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "Jawaban.", reply_to=post.result["message_id"])
    notice = await bot.fake.wait_for(
        lambda c: c.method == "sendMessage" and to(ADMIN_CHAT)(c) and "memblokir" in text_of(c)
    )
    assert "Tiket #1" in text_of(notice[0])
    assert notice[0].params["reply_parameters"]["message_id"] != post.result["message_id"]
    ticket = await bot.storage.ticket(1)
    assert ticket is not None and ticket.status == "open" and ticket.first_response_at is None


async def test_after_an_answer_a_new_known_question_is_answered_not_parked(
    bot: BotUnderTest,
) -> None:
    await ask(bot, UNKNOWN)
    post = await ticket_post(bot)
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "Ke imigrasi.", reply_to=post.result["message_id"])
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=2)
    await bot.idle()
    answer = await ask(bot, ANSWERED)
    assert "Mobile JKN" in text_of(answer[0])
    # while a ticket waits for a person, everything joins it
    await ask(bot, UNKNOWN, user=2002)
    (ack,) = await ask(bot, ANSWERED, user=2002)
    assert "tambahkan ke tiket #2" in text_of(ack)


async def test_asking_a_person_with_a_running_ticket_adds_the_question_to_it(
    bot: BotUnderTest,
) -> None:
    await ask(bot, UNKNOWN)
    await ask(bot, "/menu")
    await ask(bot, "2")
    await ask(bot, "1")
    await ask(bot, "2")  # 👎
    (ack,) = await ask(bot, "0")
    assert "tambahkan ke tiket #1" in text_of(ack)
    posted = [c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "pesan lanjutan" in text_of(c)]
    assert len(posted) == 1 and "mendaftar BPJS" in text_of(posted[0])


async def test_typed_choices_accept_nomor_and_explain_a_wrong_number(bot: BotUnderTest) -> None:
    await ask(bot, SUGGESTED)
    (wrong,) = await ask(bot, "7")
    assert "Nomor 7 tidak ada di daftar" in text_of(wrong)
    picked = await ask(bot, "nomor 2")
    assert "surat kehilangan" in text_of(picked[0])


async def test_replies_in_a_closed_ticket_stay_in_the_group(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN)
    post = await ticket_post(bot)
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "/tutup 1")
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=2)  # ticket number, closed notice
    await bot.idle()
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "sudah beres ya", reply_to=post.result["message_id"])
    await bot.idle()
    assert all("sudah beres" not in text_of(c) for c in bot.fake.sent("sendMessage", RESIDENT))
    assert "tidak dikirim ke warga" in text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[-1])


async def test_an_emoji_flood_question_still_makes_an_answerable_post(bot: BotUnderTest) -> None:
    await ask(bot, UNKNOWN + " " + "🙏" * 2100)
    post = await ticket_post(bot)
    assert len(text_of(post).encode("utf-16-le")) // 2 <= 4096


async def test_without_the_right_to_make_topics_tickets_go_to_general(
    forum_bot: BotUnderTest,
) -> None:
    bot = forum_bot
    bot.fake.fail_next("createForumTopic", 400, "Bad Request: not enough rights to create a topic")
    await ask(bot, ROUTED)
    post = await ticket_post(bot)
    assert "message_thread_id" not in post.params
