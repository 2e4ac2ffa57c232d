"""Formal information requests and objections (issue 6, point 1) through the real Application,
the fake Bot API and a real SQLite file, on a clock the tests move to reach deadlines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.config import Config, ConfigError, LimitsConfig, MatcherConfig, PpidConfig, load_config
from bot.kb_cache import load_matcher
from bot.matcher import Matcher
from bot.ppid import asks_for_document, format_number
from handlers.runtime import RUNTIME_KEY
from tests.bot_harness import ADMIN, ADMIN_CHAT, RESIDENT, BotUnderTest, running_bot
from tests.fake_telegram import Call

SMALL_KB = Path(__file__).parent / "data" / "kb_small"
WIB = dt.timezone(dt.timedelta(hours=7))
SUPERIOR = -1009876543210


def wib(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=WIB).astimezone(dt.UTC)


class Clock:
    """Stands where a test puts it, but ticks a microsecond per reading, as time does (the
    storage tells a new resident by a first_seen written "just now")."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self._ticks = 0

    def __call__(self) -> dt.datetime:
        self._ticks += 1
        return self.now + dt.timedelta(microseconds=self._ticks)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return load_matcher(SMALL_KB, MatcherConfig(), None)


@pytest.fixture
def clock() -> Clock:
    return Clock(wib(2026, 12, 3))  # a Thursday


@pytest.fixture
async def bot(tmp_path: Path, matcher: Matcher, clock: Clock):
    ppid = PpidConfig(superior_chat_id=SUPERIOR)
    # Tests type faster than limits.messages_per_minute lets a resident.
    limits = LimitsConfig(messages_per_minute=500)
    async with running_bot(
        tmp_path, SMALL_KB, matcher, clock=clock, ppid=ppid, limits=limits
    ) as running:
        yield running


def text_of(call: Call) -> str:
    return str(call.params.get("text", ""))


def buttons_of(call: Call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {}
    return [
        (b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row
    ]


async def say(bot: BotUnderTest, text: str, count: int = 1, user: int = RESIDENT) -> list[str]:
    """Type as a resident; the texts of the `count` messages the bot sends back."""
    before = len(bot.fake.sent("sendMessage", user))
    bot.fake.private_text(user, text, first_name="Siti", last_name="Aminah")
    await bot.fake.wait_sent("sendMessage", user, count=before + count)
    await bot.idle()
    return [text_of(c) for c in bot.fake.sent("sendMessage", user)[before:]]


async def admin(bot: BotUnderTest, text: str, reply_to: int | None = None) -> str:
    before = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    bot.fake.group_text(ADMIN_CHAT, ADMIN, text, reply_to=reply_to)
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=before + 1)
    await bot.idle()
    return "\n---\n".join(text_of(c) for c in bot.fake.sent("sendMessage", ADMIN_CHAT)[before:])


async def file_request(
    bot: BotUnderTest, info: str = "Salinan DPA Dinas Kesehatan tahun 2025"
) -> str:
    """The whole dialogue, typed; returns the resident's confirmation."""
    opening = await say(bot, "/permohonan", count=2)
    assert "Langkah 1 dari 6" in opening[1] and "Siti Aminah" in opening[1]
    assert "Langkah 2 dari 6" in (await say(bot, "1"))[0]  # the Telegram name
    assert "Langkah 3 dari 6" in (await say(bot, "0812-3456-7890"))[0]
    assert "Langkah 4 dari 6" in (await say(bot, info))[0]
    assert "Langkah 5 dari 6" in (await say(bot, "bahan skripsi tentang anggaran kesehatan"))[0]
    summary = (await say(bot, "1"))[0]  # in the chat: no e-mail step
    assert "Langkah 6 dari 6" in summary and "Nama: Siti Aminah" in summary
    assert "Kontak: 081234567890" in summary and f"Informasi yang diminta: {info}" in summary
    return (await say(bot, "1"))[0]


def runtime(bot: BotUnderTest):
    assert bot.app is not None
    return bot.app.bot_data[RUNTIME_KEY]


# ------------------------------------------------------------------ the dialogue


async def test_a_typed_request_gets_a_number_a_deadline_and_a_post(bot: BotUnderTest) -> None:
    done = await file_request(bot)
    assert "Nomor: PPID/2026/12/0001" in done and "di luar jam kerja" not in done
    # Received Thursday 3 December (10:00, office open): 10 working days -> Thursday 17th.
    assert "Batas waktu jawaban: Kamis, 17 Desember 2026 (10 hari kerja)" in done
    assert "Dinas Kesehatan" in done
    post = next(
        c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "PPID/2026/12/0001" in text_of(c)
    )
    text = text_of(post)
    assert "Pemohon: Siti Aminah" in text and "Salinan DPA" in text and "bahan skripsi" in text
    assert "Kamis, 17 Desember 2026 (10 hari kerja lagi)" in text and "/jawab 1" in text
    assert [d for _, d in buttons_of(post)] == ["a:claim:1", "a:move:1"]
    request = await bot.storage.request_of_ticket(1)
    assert request is not None and request.opd == "dinkes" and request.contact == "081234567890"
    # The next request takes the next number; its own deadline.
    assert "PPID/2026/12/0002" in await file_request(bot, "Data jumlah posyandu per desa 2025")
    # A request is not a ticket the resident's next questions join.
    assert "BPJS" in "\n".join(await say(bot, "cara daftar bpjs mandiri"))
    assert (
        "PPID/2026/12/0001 · diproses, batas Kamis, 17 Desember 2026"
        in (await say(bot, "/status"))[0]
    )
    # The resident's copy of their data holds the requests; erasure takes them.
    data = await bot.storage.resident_data(RESIDENT)
    assert data is not None
    assert [r["number"] for r in data["information_requests"]] == [
        "PPID/2026/12/0001",
        "PPID/2026/12/0002",
    ]
    gone = await bot.storage.forget_resident(RESIDENT)
    assert gone["info_requests"] == 2 and await bot.storage.resident_requests(RESIDENT) == []


async def test_cancel_halfway_sends_nothing_and_questions_work_again(bot: BotUnderTest) -> None:
    await say(bot, "/permohonan", count=2)
    await say(bot, "Siti Aminah")
    await say(bot, "siti@contoh.com")
    assert "dibatalkan" in (await say(bot, "batal"))[0]
    assert await bot.storage.resident_requests(RESIDENT) == []
    assert not [c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "Permohonan" in text_of(c)]
    assert "BPJS" in "\n".join(await say(bot, "cara daftar bpjs mandiri"))
    # /batal with nothing going on says so.
    assert "Tidak ada isian" in (await say(bot, "/batal"))[0]


async def test_bad_input_at_every_step_keeps_the_step(bot: BotUnderTest) -> None:
    await say(bot, "/permohonan", count=2)
    cases = [
        ("12345", "nama lengkap dengan huruf", "Langkah 1"),
        ("Siti Aminah", None, "Langkah 2"),
        ("nomor saya rahasia", "nomor HP", "Langkah 2"),
        ("0812", "nomor HP", "Langkah 2"),
        ("081234567890", None, "Langkah 3"),
        ("ktp", "beberapa kata", "Langkah 3"),
        ("x" * 1600, "Terlalu panjang", "Langkah 3"),
        ("Rekap jumlah penerima bantuan sosial 2025", None, "Langkah 4"),
        ("?", "tujuannya", "Langkah 4"),
        ("penelitian kampus", None, "Langkah 5"),
        ("9", "nomor 1-3", "Langkah 5"),
        ("lewat merpati", "nomor 1-3", "Langkah 5"),
        ("email", None, "Langkah 6 dari 7"),  # a phone contact: the e-mail is asked
        ("siti@", "e-mail belum benar", "Langkah 6 dari 7"),
        ("siti@contoh.com", None, "Langkah 7 dari 7"),
        ("mungkin", "nomor 1", "Langkah 7"),
    ]
    for typed, error, step in cases:
        replies = await say(bot, typed, count=2 if error else 1)
        if error:
            assert error in replies[0], (typed, replies)
        assert step in replies[-1], (typed, replies)
    # A photo at a step is not an answer: the step is asked again.
    before = len(bot.fake.sent("sendMessage", RESIDENT))
    bot.fake.private_message(
        RESIDENT, photo=[{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}]
    )
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=before + 2)
    await bot.idle()
    replies = [text_of(c) for c in bot.fake.sent("sendMessage", RESIDENT)[before:]]
    assert "perlu diketik" in replies[0] and "Langkah 7" in replies[1]
    done = (await say(bot, "kirim"))[0]
    assert "PPID/2026/12/0001" in done
    request = await bot.storage.request_of_ticket(1)
    assert (
        request is not None and request.delivery == "email" and request.email == "siti@contoh.com"
    )


async def test_back_goes_one_step_and_shows_the_earlier_answer(bot: BotUnderTest) -> None:
    await say(bot, "/permohonan", count=2)
    assert "Ini langkah pertama" in (await say(bot, "0", count=2))[0]
    await say(bot, "Siti Aminah")
    await say(bot, "siti@contoh.com")
    await say(bot, "Data stunting per kecamatan 2025")
    back = (await say(bot, "kembali"))[0]
    assert "Langkah 3" in back and "Jawaban sebelumnya: Data stunting per kecamatan 2025" in back
    await say(bot, "Data stunting per desa 2025")
    await say(bot, "perencanaan program desa")
    summary = (await say(bot, "2"))[0]  # e-mail, and the contact is one: no e-mail step
    assert (
        "Langkah 6 dari 6" in summary and "per desa" in summary and "(siti@contoh.com)" in summary
    )


async def test_buttons_and_stale_buttons(bot: BotUnderTest) -> None:
    await say(bot, "/permohonan", count=2)
    await say(bot, "Siti Aminah")
    await say(bot, "081234567890")
    await say(bot, "Laporan realisasi anggaran puskesmas 2025")
    step5 = bot.fake.sent("sendMessage", RESIDENT)[-1]
    await say(bot, "evaluasi layanan")
    delivery = bot.fake.sent("sendMessage", RESIDENT)[-1]
    data = dict(buttons_of(delivery))
    assert {"Kembali", "Batal", "1", "2", "3"} <= set(data)
    before = len(bot.fake.sent("sendMessage", RESIDENT))
    # A button of an earlier step does nothing (its token is gone).
    old = dict(buttons_of(step5))["Batal"]
    bot.fake.callback(RESIDENT, old, chat_id=RESIDENT, message_id=step5.result["message_id"])
    await bot.fake.wait_sent("answerCallbackQuery")
    await bot.idle()
    assert len(bot.fake.sent("sendMessage", RESIDENT)) == before
    assert await bot.storage.dialogue(RESIDENT) is not None
    bot.fake.callback(
        RESIDENT, data["3"], chat_id=RESIDENT, message_id=delivery.result["message_id"]
    )
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=before + 1)
    await bot.idle()
    summary = bot.fake.sent("sendMessage", RESIDENT)[-1]
    assert "Ambil langsung di kantor" in text_of(summary)
    send = dict(buttons_of(summary))["1"]
    bot.fake.callback(RESIDENT, send, chat_id=RESIDENT, message_id=summary.result["message_id"])
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=before + 2)
    await bot.idle()
    assert "PPID/2026/12/0001" in text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])


async def test_another_command_pauses_the_dialogue_and_permohonan_resumes(
    bot: BotUnderTest,
) -> None:
    await say(bot, "/permohonan", count=2)
    await say(bot, "Siti Aminah")
    menu = (await say(bot, "/menu"))[0]
    assert "1." in menu
    # A number now means the menu, not the dialogue.
    assert "Langkah" not in (await say(bot, "1"))[0]
    resumed = await say(bot, "/permohonan", count=2)
    assert "Melanjutkan" in resumed[0] and "Langkah 2" in resumed[1]
    # The state survives a restart.
    await bot.restart()
    assert "Langkah 3" in (await say(bot, "081234567890"))[0]


async def test_a_question_asking_for_a_document_offers_the_request(bot: BotUnderTest) -> None:
    offer = (await say(bot, "sy mau minta salinan dokumen apbd 2025 min"))[0]
    assert "1. Ajukan permohonan" in offer and "2. Tanya petugas" in offer
    opening = await say(bot, "1", count=2)
    assert "Langkah 1" in opening[1]
    await say(bot, "Siti Aminah")
    step3 = (await say(bot, "081234567890"))[0]
    assert "Ketik 1 untuk memakai: sy mau minta salinan dokumen apbd 2025 min" in step3
    assert "Langkah 4" in (await say(bot, "1"))[0]
    # The other choice passes the question to a person as a ticket.
    await say(bot, "batal")
    await say(bot, "minta data realisasi anggaran desa dong")
    created = (await say(bot, "2"))[0]
    assert "tiket #" in created


# ------------------------------------------------------------------ the PPID's commands


async def test_extend_once_with_a_reason(bot: BotUnderTest, clock: Clock) -> None:
    await file_request(bot)
    assert "Alasan wajib" in await admin(bot, "/perpanjang 1")
    assert "Alasan wajib" in await admin(bot, "/perpanjang 1 belum")
    reply = await admin(bot, "/perpanjang 1 dokumen masih dikumpulkan dari tiga bidang")
    # 17 Dec + 7 working days, skipping Christmas Eve (cuti bersama) and Christmas Day.
    assert "Batas waktu baru: Rabu, 30 Desember 2026" in reply
    told = bot.fake.sent("sendMessage", RESIDENT)[-1]
    assert "diperpanjang 7 hari kerja" in text_of(told) and "tiga bidang" in text_of(told)
    assert "sekali" in await admin(bot, "/perpanjang PPID/2026/12/0001 butuh waktu lebih lama lagi")
    request = await bot.storage.request_of_ticket(1)
    assert (
        request is not None
        and request.extension_reason == "dokumen masih dikumpulkan dari tiga bidang"
    )
    assert "tidak ditemukan" in await admin(bot, "/perpanjang 99 alasan yang cukup panjang")


async def test_answer_with_a_document_relays_it(bot: BotUnderTest) -> None:
    await file_request(bot)
    assert "Balas (reply) pesan berisi dokumen" in await admin(bot, "/jawab 1")
    doc = bot.fake.group_message(
        ADMIN_CHAT,
        ADMIN,
        document={"file_id": "d1", "file_unique_id": "ud1", "file_name": "dpa.pdf"},
    )
    await bot.idle()
    reply = await admin(bot, "/jawab 1", reply_to=doc["message"]["message_id"])
    assert "dijawab oleh Admin, tepat waktu" in reply
    copies = bot.fake.sent("copyMessage", RESIDENT)
    assert len(copies) == 1 and copies[0].params["message_id"] == doc["message"]["message_id"]
    texts = bot.fake.texts(RESIDENT)
    assert any("Jawaban atas permohonan informasi PPID/2026/12/0001" in t for t in texts)
    assert any("selesai dijawab" in t and "/keberatan" in t for t in texts)
    request = await bot.storage.request_of_ticket(1)
    assert request is not None and request.status == "answered"
    post = bot.fake.message(ADMIN_CHAT, (await bot.storage.ticket(1)).post_message_id)
    assert "✅ Dijawab" in post["text"]
    assert "sudah selesai" in await admin(bot, "/tolak 1 h data pribadi orang lain")
    # /tutup is not how a request ends.
    await file_request(bot)
    assert "/jawab 2 atau /tolak 2" in await admin(bot, "/tutup 2")


async def test_refusal_cites_the_exemption_and_leads_to_an_objection(bot: BotUnderTest) -> None:
    await file_request(bot)
    assert "Pasal 17" in await admin(bot, "/tolak 1")
    assert "h. dapat mengungkap rahasia pribadi" in await admin(bot, "/tolak 1 z alasannya panjang")
    assert "Alasan wajib" in await admin(bot, "/tolak 1 h")
    reply = await admin(bot, "/tolak 1 h memuat data pribadi penerima bantuan")
    assert "ditolak oleh Admin (Pasal 17 huruf h)" in reply
    told = text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    assert "Pasal 17 huruf h, informasi yang dapat mengungkap rahasia pribadi" in told
    assert "/keberatan" in told and "30 hari kerja" in told
    # The objection: one request, so straight to the reason.
    reason = (await say(bot, "/keberatan"))[0]
    assert "Langkah 1 dari 3" in reason and "1. Permohonan ditolak" in reason
    await say(bot, "1")
    summary = (await say(bot, "data yang saya minta hanya jumlah penerima, bukan nama"))[0]
    assert "Permohonan: PPID/2026/12/0001" in summary and "Permohonan ditolak" in summary
    filed = (await say(bot, "1"))[0]
    assert "Nomor: KEB/2026/12/0001" in filed
    posts = bot.fake.sent("sendMessage", SUPERIOR)
    assert len(posts) == 1 and "Keberatan KEB/2026/12/0001" in text_of(posts[0])
    assert "ditolak, Pasal 17 huruf h" in text_of(posts[0])
    # A second objection while this one is open is not offered.
    assert "Belum ada permohonan" in (await say(bot, "/keberatan"))[0]
    # The superior answers by replying to the post.
    before = len(bot.fake.sent("sendMessage", RESIDENT))
    bot.fake.group_text(
        SUPERIOR,
        777,
        "Keberatan diterima; data agregat dikirim.",
        reply_to=posts[0].result["message_id"],
    )
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=before + 1)
    await bot.idle()
    assert "Tanggapan atasan PPID atas keberatan KEB/2026/12/0001" in text_of(
        bot.fake.sent("sendMessage", RESIDENT)[-1]
    )
    assert "terkirim" in text_of(bot.fake.sent("sendMessage", SUPERIOR)[-1])
    objection = (await bot.storage.request_objections(1))[0]
    assert objection.status == "answered"


async def test_deadlines_remind_then_tell_the_resident_once(
    bot: BotUnderTest, clock: Clock
) -> None:
    await file_request(bot)  # due Thursday 17 December
    desk = runtime(bot).service.ppid
    assert await desk.check_deadlines() == 0
    clock.now = wib(2026, 12, 15, 9)  # Tuesday: 2 working days left
    assert await desk.check_deadlines() == 1
    await bot.idle()
    reminder = text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[-1])
    assert "paling lambat Kamis, 17 Desember 2026: 2 hari kerja lagi" in reminder
    assert await desk.check_deadlines() == 0  # once
    clock.now = wib(2026, 12, 17, 15, 59)
    assert await desk.check_deadlines() == 0  # the last day is not late yet
    assert "hari ini batas terakhir" in await admin(bot, "/permohonan")
    clock.now = wib(2026, 12, 17, 16, 1)
    assert await desk.check_deadlines() == 1
    await bot.idle()
    told = text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    assert (
        "belum dijawab sampai batas waktu Kamis, 17 Desember 2026" in told and "/keberatan" in told
    )
    assert "melewati batas waktu" in text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[-1])
    await bot.restart()
    assert await runtime(bot).service.ppid.check_deadlines() == 0  # not again after a restart
    assert "lewat batas waktu" in (await say(bot, "/status"))[0]
    assert "Langkah 1 dari 3" in (await say(bot, "/keberatan"))[0]
    # Too late to extend (art. 22(8)): the deadline passed.
    late = await admin(bot, "/perpanjang 1 dokumen masih dikumpulkan dari tiga bidang")
    assert "sudah lewat batas waktunya" in late
    assert (await bot.storage.request_of_ticket(1)).extended_at is None
    # Answered late: counted as late.
    reply = await admin(bot, "/jawab 1 Dokumen terlampir di e-mail Anda.")
    assert "melewati batas waktu" in reply


async def test_a_request_after_closing_before_a_holiday_week(
    tmp_path: Path, matcher: Matcher
) -> None:
    # Friday 13 March 2026, 16:30: after closing, so received Monday 16th; then Nyepi, Idul
    # Fitri and their cuti bersama (18-24 March) and Good Friday (3 April) are skipped.
    clock = Clock(wib(2026, 3, 13, 16, 30))
    async with running_bot(tmp_path, SMALL_KB, matcher, clock=clock) as bot:
        done = await file_request(bot)
        assert (
            "Diterima: Jumat, 13 Maret 2026\n"
            "(di luar jam kerja: dianggap diterima Senin, 16 Maret 2026)" in done
        )
        assert "Batas waktu jawaban: Selasa, 7 April 2026" in done
        reply = await admin(bot, "/perpanjang 1 dokumen di arsip kecamatan, perlu diambil")
        assert "Batas waktu baru: Kamis, 16 April 2026" in reply


async def test_requests_list_for_admins(bot: BotUnderTest) -> None:
    assert "Tidak ada permohonan" in await admin(bot, "/permohonan")
    await file_request(bot)
    listing = await admin(bot, "/permohonan")
    assert "#1 · PPID/2026/12/0001 · Dinas Kesehatan" in listing and "10 hari kerja lagi" in listing
    assert "Permohonan informasi terbuka: 1" in await admin(bot, "/antrian")


# ------------------------------------------------------------------ pieces


def test_number_formats_and_their_validation(tmp_path: Path) -> None:
    assert (
        format_number("PPID/{year}/{month:02d}/{seq:04d}", dt.date(2024, 7, 3), 12)
        == "PPID/2024/07/0012"
    )
    assert format_number("{seq}/PPID-MS/{year}", dt.date(2026, 1, 9), 7) == "7/PPID-MS/2026"
    for bad, says in [
        ("PPID/{year}", "must contain {seq}"),
        ("PPID/{tahun}/{seq}", "unknown field {tahun}"),
        ("PPID/{seq:zz}", "not a valid format"),
    ]:
        file = tmp_path / "config.yaml"
        file.write_text(f'ppid:\n  number_format: "{bad}"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=r"ppid\.number_format") as caught:
            load_config(file)
        assert says in str(caught.value)
    assert Config().ppid.number_format == "PPID/{year}/{month:02d}/{seq:04d}"


@pytest.mark.parametrize(
    "question",
    [
        "sy mau minta salinan dokumen apbd 2025",
        "bagaimana cara mendapatkan data realisasi anggaran desa",
        "mohon laporan keuangan dinas kesehatan",
        "saya ingin mengajukan permohonan informasi publik",
    ],
)
def test_document_requests_are_recognised(question: str) -> None:
    assert asks_for_document(question)


@pytest.mark.parametrize(
    "question",
    [
        "cara bikin ktp",
        "syarat daftar sekolah",
        "data kk saya salah",
        "jadwal posyandu",
        "minta tolong",
    ],
)
def test_ordinary_questions_are_not_document_requests(question: str) -> None:
    assert not asks_for_document(question)


async def test_the_monthly_report_counts_requests(bot: BotUnderTest, clock: Clock) -> None:
    from bot.report import build_report
    from bot.report_render import render_csv, render_html

    await file_request(bot)  # #1 dinkes: answered on time
    await file_request(bot, "Data jumlah posyandu Dinas Kesehatan 2025")  # #2: refused
    await file_request(bot, "Anggaran Dinas Kesehatan 2025 per program")  # #3: extended, late
    await file_request(bot, "Daftar jalan rusak yang akan diperbaiki")  # #4: no OPD, open
    await admin(bot, "/jawab 1 Dokumen terlampir.")
    await admin(bot, "/tolak 2 h memuat data pribadi kader posyandu")
    await admin(bot, "/perpanjang 3 dokumen masih di bagian keuangan")
    await say(bot, "/keberatan", count=1)  # two requests to object to: #1 and #2
    await say(bot, "2")
    await say(bot, "1")
    await say(bot, "jumlah kader saja, tanpa nama")
    assert "KEB/2026/12/0001" in (await say(bot, "1"))[0]
    clock.now = wib(2026, 12, 31, 17)  # #3 was due Wednesday 30th after its extension
    service = runtime(bot).service
    names = {o.id: o.name for o in service.kb.opds.values()}
    report = await build_report(bot.storage, service.calendar, service.config, 2026, 12, names)
    dinkes = next(r for r in report.rows if r.opd == "dinkes")
    assert (dinkes.requests, dinkes.requests_answered, dinkes.requests_refused) == (3, 1, 1)
    assert (dinkes.requests_on_time, dinkes.requests_late, dinkes.requests_open) == (2, 1, 0)
    assert (dinkes.requests_extended, dinkes.objections) == (1, 1)
    assert dinkes.tickets == 0  # requests are not counted again as tickets
    none = next(r for r in report.rows if r.opd is None)
    assert (none.requests, none.requests_open, none.requests_late) == (1, 0, 1)
    assert report.total.requests == 4
    html = render_html(report, charts={})
    assert "Permohonan informasi resmi (UU 14/2008) per OPD" in html
    assert "<td data-k='dinkes.requests_late'>1</td>" in html
    header = render_csv(report).splitlines()[0]
    assert "Permohonan terlambat" in header and "Keberatan" in header


async def test_a_replayed_update_reads_the_dialogue_as_its_first_attempt(tmp_path: Path) -> None:
    from bot.operation import handling
    from bot.storage import Storage

    storage = await Storage.open(tmp_path / "db.sqlite3")
    try:
        await storage.touch_resident(1, 1, "Siti")
        await storage.save_dialogue(1, "request", "name", {})
        with handling(10):  # the first attempt: reads "name", saves "contact", then crashes
            first = await storage.dialogue(1)
            await storage.save_dialogue(1, "request", "contact", {"name": "Siti"})
        with handling(10, replay=True):
            again = await storage.dialogue(1)
        assert first is not None and again is not None and again.step == first.step == "name"
        with handling(13):  # a later update reads the state as it is now
            now = await storage.dialogue(1)
        assert now is not None and now.step == "contact"
        await storage.end_dialogue(1)
        with handling(11):  # this update starts a dialogue; on replay there was none before
            assert await storage.dialogue(1) is None
            await storage.save_dialogue(1, "request", "name", {})
        with handling(11, replay=True):
            assert await storage.dialogue(1) is None
        with handling(12):
            later = await storage.dialogue(1)
        assert later is not None and later.step == "name"
    finally:
        await storage.close()


async def test_the_daily_digest_counts_open_requests(bot: BotUnderTest, clock: Clock) -> None:
    from bot.digest import digest_text

    service = runtime(bot).service
    await file_request(bot)  # due Thursday 17 December

    async def digest() -> str:
        now = bot.storage.now()
        return await digest_text(bot.storage, service.calendar, service.config, str, now)

    assert (
        "Permohonan informasi terbuka: 1 (0 batas waktunya dekat, 0 lewat batas)" in await digest()
    )
    clock.now = wib(2026, 12, 15, 7, 30)
    assert "(1 batas waktunya dekat, 0 lewat batas)" in await digest()
    clock.now = wib(2026, 12, 18, 7, 30)
    assert "(0 batas waktunya dekat, 1 lewat batas)" in await digest()


async def test_a_deadline_in_a_year_without_holidays_warns_the_admins(
    tmp_path: Path, matcher: Matcher
) -> None:
    clock = Clock(wib(2026, 12, 21))  # due in January 2027, which the bundled list lacks
    async with running_bot(tmp_path, SMALL_KB, matcher, clock=clock) as bot:
        assert "Januari 2027" in await file_request(bot)
        post = bot.fake.message(ADMIN_CHAT, (await bot.storage.ticket(1)).post_message_id)
        assert "Hari libur tahun 2027 belum ada" in post["text"]
    clock = Clock(wib(2026, 12, 3))
    async with running_bot(tmp_path / "b", SMALL_KB, matcher, clock=clock) as bot:
        await file_request(bot)
        post = bot.fake.message(ADMIN_CHAT, (await bot.storage.ticket(1)).post_message_id)
        assert "belum ada di berkas" not in post["text"]


async def test_in_a_forum_the_request_lives_in_its_opds_topic(
    tmp_path: Path, matcher: Matcher, clock: Clock
) -> None:
    async with running_bot(tmp_path, SMALL_KB, matcher, forum=True, clock=clock) as bot:
        await file_request(bot)
        topic = bot.fake.sent("createForumTopic")[0]
        thread = topic.result["message_thread_id"]
        post = next(
            c for c in bot.fake.sent("sendMessage", ADMIN_CHAT) if "PPID/2026/12/0001" in text_of(c)
        )
        assert post.params["message_thread_id"] == thread
        # In the topic: a plain message "replies" to the topic's creation message; /jawab
        # without a real reply and without text is only its usage.
        before = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
        bot.fake.group_text(ADMIN_CHAT, ADMIN, "/jawab 1", thread_id=thread)
        await bot.fake.wait_sent("sendMessage", ADMIN_CHAT, count=before + 1)
        await bot.idle()
        usage = bot.fake.sent("sendMessage", ADMIN_CHAT)[-1]
        assert "Balas (reply) pesan berisi dokumen" in text_of(usage)
        assert usage.params["message_thread_id"] == thread
        assert bot.fake.sent("copyMessage", RESIDENT) == []
        doc = bot.fake.group_message(
            ADMIN_CHAT,
            ADMIN,
            thread_id=thread,
            document={"file_id": "d1", "file_unique_id": "ud1", "file_name": "dpa.pdf"},
        )
        await bot.idle()
        bot.fake.group_text(
            ADMIN_CHAT, ADMIN, "/jawab 1", thread_id=thread, reply_to=doc["message"]["message_id"]
        )
        await bot.fake.wait_sent("copyMessage", RESIDENT)
        await bot.idle()
        assert (await bot.storage.request_of_ticket(1)).status == "answered"


async def test_the_requester_can_answer_the_ppids_question(bot: BotUnderTest) -> None:
    await file_request(bot)
    # Before any admin wrote about it, the resident's messages are questions of their own.
    assert "BPJS" in "\n".join(await say(bot, "cara daftar bpjs mandiri"))
    post = (await bot.storage.ticket(1)).post_message_id
    before = len(bot.fake.sent("sendMessage", RESIDENT))
    bot.fake.group_text(ADMIN_CHAT, ADMIN, "DPA tahun anggaran berapa, Bu?", reply_to=post)
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=before + 1)
    await bot.idle()
    asked = text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    assert "Pesan petugas PPID tentang permohonan PPID/2026/12/0001" in asked
    assert (await bot.storage.request_of_ticket(1)).status == "open"
    reply = (await say(bot, "tahun anggaran 2025 pak"))[0]
    assert "teruskan ke petugas PPID untuk permohonan PPID/2026/12/0001" in reply
    relayed = [
        t
        for t in (text_of(c) for c in bot.fake.sent("sendMessage", ADMIN_CHAT))
        if "tahun anggaran 2025" in t
    ]
    assert relayed, bot.fake.summary()
    again = (await say(bot, "oh iya yang murni ya pak"))[0]  # still joins: not a new question
    assert "permohonan PPID/2026/12/0001" in again
    # A question the knowledge answers is a new question, as after a ticket's answer.
    assert "BPJS" in "\n".join(await say(bot, "cara daftar bpjs mandiri"))
    await admin(bot, "/jawab 1 Terlampir DPA murni 2025.")
    assert "tiket #" in "\n".join(await say(bot, "jadwal vaksin rabies anjing kapan"))


async def test_the_objection_dialogue_takes_bad_input_back_and_cancel(bot: BotUnderTest) -> None:
    await file_request(bot)
    await file_request(bot, "Data jumlah posyandu Dinas Kesehatan 2025")
    await admin(bot, "/tolak 1 h memuat data pribadi penerima bantuan")
    await admin(bot, "/tolak 2 j dilarang undang-undang kesehatan")
    which = (await say(bot, "/keberatan"))[0]
    assert "Langkah 1 dari 4" in which and "1. PPID/2026/12/0001" in which
    assert "nomor 1-2" in (await say(bot, "3", count=2))[0]
    assert "Langkah 2 dari 4" in (await say(bot, "ppid/2026/12/0002"))[0]  # typed, any case
    assert "nomor 1-7" in (await say(bot, "9", count=2))[0]
    assert "Langkah 3 dari 4" in (await say(bot, "1"))[0]
    assert "beberapa kata" in (await say(bot, "x", count=2))[0]
    back = (await say(bot, "0"))[0]
    assert "Langkah 2 dari 4" in back
    await say(bot, "5")
    summary = (await say(bot, "datanya agregat, bukan rahasia"))[0]
    assert "Permohonan: PPID/2026/12/0002" in summary and "Permohonan tidak dipenuhi" in summary
    assert "nomor 1" in (await say(bot, "nanti dulu", count=2))[0]
    assert "Keberatan dibatalkan" in (await say(bot, "batal"))[0]
    assert await bot.storage.request_objections(2) == []
    assert bot.fake.sent("sendMessage", SUPERIOR) == []
    # Objections are only for a refusal, an answer or a lapse, within the window.
    await file_request(bot, "Rekap kunjungan puskesmas Dinas Kesehatan 2025")
    which = (await say(bot, "/keberatan"))[0]
    assert "PPID/2026/12/0003" not in which


async def test_a_deadline_notice_that_failed_is_sent_at_the_next_check(
    bot: BotUnderTest, clock: Clock
) -> None:
    await file_request(bot)
    desk = runtime(bot).service.ppid
    clock.now = wib(2026, 12, 15, 9)  # 2 working days left
    bot.fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    assert await desk.check_deadlines() == 0
    assert not (await bot.storage.request_of_ticket(1)).reminded_soon
    assert await desk.check_deadlines() == 1
    await bot.idle()
    assert "2 hari kerja lagi" in text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[-1])
    # A requester who blocked the bot: the lapse is still posted in the thread, once.
    clock.now = wib(2026, 12, 18, 9)
    bot.fake.blocked.add(RESIDENT)
    assert await desk.check_deadlines() == 1
    await bot.idle()
    assert "melewati batas waktu" in text_of(bot.fake.sent("sendMessage", ADMIN_CHAT)[-1])
    assert await desk.check_deadlines() == 0


async def test_an_objection_started_halfway_through_a_request_keeps_the_request(
    bot: BotUnderTest,
) -> None:
    await file_request(bot)
    await admin(bot, "/tolak 1 h memuat data pribadi penerima bantuan")
    await say(bot, "/permohonan", count=2)
    await say(bot, "Siti Aminah")
    await say(bot, "081234567890")  # now at the information step
    assert "Langkah 1 dari 3" in (await say(bot, "/keberatan"))[0]
    assert "Langkah 1 dari 3" in (await say(bot, "/keberatan", count=2))[1]  # resumes, no nesting
    await say(bot, "1")
    await say(bot, "yang saya minta hanya jumlah penerima")
    filed = await say(bot, "1", count=2)
    assert "KEB/2026/12/0001" in filed[0] and "/permohonan" in filed[1]
    resumed = await say(bot, "/permohonan", count=2)
    assert "Melanjutkan" in resumed[0] and "Langkah 3 dari 6" in resumed[1]
    # With nothing to object to, /keberatan says so and the request goes on.
    await say(bot, "/keberatan")  # nothing left to object to: the request stays
    assert "Langkah 4" in (await say(bot, "Rekap penerima bantuan Dinas Kesehatan 2025"))[0]


async def test_an_objection_is_refused_when_its_window_closed_during_the_dialogue(
    bot: BotUnderTest, clock: Clock
) -> None:
    await file_request(bot)
    await admin(bot, "/tolak 1 h memuat data pribadi penerima bantuan")
    # 30 working days from Thursday 3 December 2026 (2027's holidays are not bundled).
    clock.now = wib(2027, 1, 18, 15)
    assert "Langkah 1 dari 3" in (await say(bot, "/keberatan"))[0]
    await say(bot, "1")
    await say(bot, "datanya agregat, bukan data pribadi")
    clock.now = wib(2027, 1, 21, 9)
    assert "Belum ada permohonan" in (await say(bot, "1"))[0]
    assert await bot.storage.request_objections(1) == []
    assert bot.fake.sent("sendMessage", SUPERIOR) == []


async def test_a_paused_dialogue_can_be_cancelled_and_its_buttons_still_work(
    bot: BotUnderTest,
) -> None:
    await say(bot, "/permohonan", count=2)
    await say(bot, "Siti Aminah")
    prompt = bot.fake.sent("sendMessage", RESIDENT)[-1]
    await say(bot, "/status")  # pauses it
    before = len(bot.fake.sent("sendMessage", RESIDENT))
    back = dict(buttons_of(prompt))["Kembali"]
    bot.fake.callback(RESIDENT, back, chat_id=RESIDENT, message_id=prompt.result["message_id"])
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=before + 1)
    await bot.idle()
    assert "Langkah 1 dari 6" in text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    await say(bot, "/menu")  # paused again
    assert "dibatalkan" in (await say(bot, "/batal"))[0]
    assert await bot.storage.dialogue(RESIDENT) is None
    assert "Langkah 1 dari 6" in (await say(bot, "/permohonan", count=2))[1]  # a new one


async def test_a_lapse_notice_survives_an_outage(tmp_path: Path, matcher: Matcher) -> None:
    from bot.service import Service
    from bot.storage import Storage
    from tests.core_harness import OutageMessenger, core_config

    clock = Clock(wib(2026, 12, 3))
    storage = await Storage.open(tmp_path / "db.sqlite3", clock=clock)
    config = core_config(SMALL_KB, tmp_path / "db.sqlite3")
    shown: list[str] = []
    # Telegram unreachable for residents' chats until `down` is cleared.
    messenger = OutageMessenger(shown.append, reason="unreachable", down=True, private_only=True)
    service = Service(config, matcher, storage, messenger)
    resident = await storage.touch_resident(RESIDENT, RESIDENT, "Siti")
    fields = {
        "name": "Siti Aminah",
        "contact": "081234567890",
        "info": "Salinan DPA Dinas Kesehatan 2025",
        "purpose": "skripsi",
        "delivery": "chat",
        "email": None,
    }
    await storage.create_request(
        resident.id, fields, "dinkes", lambda n: f"PPID/{n}", "request:2026", service.ppid._due
    )
    clock.now = wib(2026, 12, 18, 9)  # past Thursday 17th
    try:
        assert await service.ppid.check_deadlines() == 0
        assert not (await storage.request(1)).lapse_told  # not marked: nobody was told
        messenger.down = False
        assert await service.ppid.check_deadlines() == 1
        assert any("belum dijawab sampai batas waktu" in s for s in shown)
    finally:
        await storage.close()
