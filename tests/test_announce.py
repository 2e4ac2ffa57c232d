"""Announcements (issue 6, point 2) through the real Application, the fake Bot API and SQLite.

Residents follow topics with /langganan (typed numbers and buttons, bad input, cancelling with
/berhenti); admins reply to a message with /umumkan or /klarifikasi in the admin group; the bot
delivers at `announcements.per_second`, records every delivery, unsubscribes residents who
blocked it, shows its progress and the count in the group, and goes on after a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import shutil
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

import bot.announce as announce
from bot.announce import Pacer
from bot.clarify import Clarification, write_clarification
from bot.cli import main
from bot.config import AnnouncementsConfig, ConfigError, MatcherConfig, RegencyConfig, load_config
from bot.kb_cache import load_matcher
from bot.matcher import Matcher
from bot.storage import Announcement
from tests.bot_harness import ADMIN, ADMIN_CHAT, RESIDENT, BotUnderTest, running_bot
from tests.fake_telegram import Call

SMALL_KB = Path(__file__).parent / "data" / "kb_small"
NEIGHBOUR = 1002  # a resident who never subscribes
# Seeded subscribers: ids far from the residents who talk in the tests.
SEEDED = range(100_000, 100_997)


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """A copy of the small knowledge: /klarifikasi writes into it."""
    folder = tmp_path / "knowledge"
    shutil.copytree(SMALL_KB, folder)
    return folder


@pytest.fixture
def matcher(kb: Path) -> Matcher:
    return load_matcher(kb, MatcherConfig(), None)


@pytest.fixture(autouse=True)
def quick_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(announce, "PROGRESS_EVERY", 0.2)


def fast(per_second: int = 2000) -> AnnouncementsConfig:
    # Built without validation (as the harness builds its config): tests go faster than the
    # 20 a second a regency runs with; the pacing itself is tested below.
    return AnnouncementsConfig.model_construct(per_second=per_second)


@pytest.fixture
async def bot(tmp_path: Path, kb: Path, matcher: Matcher):
    async with running_bot(tmp_path, kb, matcher, announcements=fast()) as running:
        yield running


def text_of(call: Call) -> str:
    return str(call.params.get("text", ""))


def buttons_of(call: Call) -> dict[str, str]:
    markup = call.params.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


async def say(bot: BotUnderTest, text: str, user: int = RESIDENT, count: int = 1) -> list[Call]:
    before = len(bot.fake.sent("sendMessage", user))
    bot.fake.private_text(user, text, first_name="Siti")
    await bot.fake.wait_sent("sendMessage", user, count=before + count)
    await bot.idle()
    return bot.fake.sent("sendMessage", user)[before:]


async def press(bot: BotUnderTest, listing: Call, label: str, user: int = RESIDENT) -> None:
    data = buttons_of(listing)[label]
    mid = listing.result["message_id"]
    bot.fake.callback(user, data, chat_id=user, message_id=mid)
    await bot.idle()


def admin_post(bot: BotUnderTest, text: str | None = None, **media: object) -> int:
    """An admin's message in the group (the one to announce); its message id."""
    if text is not None:
        update = bot.fake.group_text(ADMIN_CHAT, ADMIN, text)
    else:
        update = bot.fake.group_message(ADMIN_CHAT, ADMIN, **media)
    return int(update["message"]["message_id"])


async def admin(bot: BotUnderTest, command: str, reply_to: int | None = None) -> str:
    """An admin command in the group; the bot's reply to it."""
    update = bot.fake.group_text(ADMIN_CHAT, ADMIN, command, reply_to=reply_to)
    mid = update["message"]["message_id"]

    def replies(c: Call) -> bool:
        return (
            c.error is None
            and c.method == "sendMessage"
            and c.params.get("chat_id") == ADMIN_CHAT
            and (c.params.get("reply_parameters") or {}).get("message_id") == mid
        )

    found = await bot.fake.wait_for(replies)
    return text_of(found[0])


async def finished(bot: BotUnderTest, number: int, timeout: float = 60) -> Announcement:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        found = await bot.storage.announcement(number)
        if found is not None and found.status != "sending":
            await bot.idle()
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"announcement {number} did not finish; {bot.fake.summary()}")


def progress_text(bot: BotUnderTest, number: int) -> str:
    """What the group's progress message of announcement N says now (edits applied)."""
    texts = [t for t in bot.fake.texts(ADMIN_CHAT) if f"Pengumuman #{number} " in t]
    assert texts, bot.fake.summary()
    return texts[-1]


async def seed(bot: BotUnderTest, ids: range, topic: str) -> None:
    """Subscribers who came through /langganan long ago: straight into the database."""
    for uid in ids:
        await bot.storage.touch_resident(uid, uid, f"Warga {uid}")
    await bot.storage.subscribe_many(ids, topic)


# --------------------------------------------------------------------------- residents


async def test_subscribe_by_typing_and_by_button_and_toggle_off(bot: BotUnderTest) -> None:
    listing = (await say(bot, "/langganan"))[0]
    text = text_of(listing)
    assert "Dinas/OPD:\n1. Dinas Kependudukan dan Pencatatan Sipil\n2. Dinas Kesehatan" in text
    assert "Kecamatan:\n3. Kecamatan Kota Mekar" in text and "8. Kecamatan Sindangwangi" in text
    assert "0 selesai" in text
    assert list(buttons_of(listing)) == [*map(str, range(1, 9)), "Selesai"]
    typed = text_of((await say(bot, "2"))[0])
    assert typed.startswith("✅ Anda berlangganan pengumuman Dinas Kesehatan.")
    assert "2. ✅ Dinas Kesehatan" in typed and "1. Dinas Kependudukan" in typed
    # A button of the first list still works: toggling keeps the list's numbers and token.
    await press(bot, listing, "3")
    pressed = bot.fake.sent("sendMessage", RESIDENT)[-1]
    assert text_of(pressed).startswith("✅ Anda berlangganan pengumuman Kecamatan Kota Mekar.")
    assert "✅ 3" in buttons_of(pressed) and "✅ 2" in buttons_of(pressed)
    off = text_of((await say(bot, "2"))[0])
    assert off.startswith("Anda berhenti berlangganan pengumuman Dinas Kesehatan.")
    assert await bot.storage.subscriptions(RESIDENT) == {"kec-kota-mekar"}
    done = text_of((await say(bot, "0"))[0])
    assert "Anda menerima pengumuman: Kecamatan Kota Mekar" in done and "/berhenti" in done
    # The list is closed: a number now means nothing.
    assert "Tidak ada pilihan" in text_of((await say(bot, "2"))[0])
    assert await bot.storage.subscriptions(RESIDENT) == {"kec-kota-mekar"}


async def test_bad_input_at_every_step_of_the_list(bot: BotUnderTest) -> None:
    listing = (await say(bot, "/langganan"))[0]
    assert "Nomor 9 tidak ada di daftar. Balas nomor 1-8" in text_of((await say(bot, "9"))[0])
    assert "Nomor 99 tidak ada" in text_of((await say(bot, "99"))[0])
    # A forged number on a real token, and a token of no list: nothing changes.
    token = buttons_of(listing)["1"].split(":")[1]
    bot.fake.callback(
        RESIDENT, f"p:{token}:42", chat_id=RESIDENT, message_id=listing.result["message_id"]
    )
    await bot.idle()
    assert "Nomor 42 tidak ada" in text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    bot.fake.callback(
        RESIDENT, "p:12345:1", chat_id=RESIDENT, message_id=listing.result["message_id"]
    )
    await bot.idle()
    assert "tidak berlaku" in bot.fake.sent("answerCallbackQuery")[-1].params["text"]
    assert await bot.storage.subscriptions(RESIDENT) == set()
    # Still on the list after the mistakes: "1" subscribes.
    assert "✅ Anda berlangganan" in text_of((await say(bot, "1"))[0])
    # Words instead of a number are a question: the list is closed, nothing toggled.
    answer = text_of((await say(bot, "cara daftar bpjs mandiri"))[0])
    assert "Mobile JKN" in answer
    assert await bot.storage.subscriptions(RESIDENT) == {"disdukcapil"}
    # A photo while the list is shown goes to a person, as any photo does.
    bot.fake.private_message(
        RESIDENT, photo=[{"file_id": "p1", "file_unique_id": "p1", "width": 1, "height": 1}]
    )
    await bot.fake.wait_sent("sendMessage", ADMIN_CHAT)
    await bot.idle()
    assert await bot.storage.subscriptions(RESIDENT) == {"disdukcapil"}


async def test_berhenti_stops_everything_also_halfway_through_the_list(
    bot: BotUnderTest,
) -> None:
    await say(bot, "/langganan")
    await say(bot, "2")
    await say(bot, "4")  # Kecamatan Sukamekar
    stopped = text_of((await say(bot, "/berhenti"))[0])
    assert "tidak lagi menerima pengumuman (2 topik dihentikan)" in stopped
    assert "/langganan" in stopped
    assert await bot.storage.subscriptions(RESIDENT) == set()
    # The list it cut short is closed too.
    assert "Tidak ada pilihan" in text_of((await say(bot, "3"))[0])
    again = text_of((await say(bot, "/berhenti"))[0])
    assert "tidak berlangganan pengumuman apa pun" in again
    assert await bot.storage.subscriptions(RESIDENT) == set()


async def test_a_long_list_comes_in_two_pages(tmp_path: Path, kb: Path, matcher: Matcher) -> None:
    names = tuple(f"Desa Contoh {n}" for n in range(1, 13))
    regency = RegencyConfig(kecamatan=names)
    async with running_bot(tmp_path, kb, matcher, regency=regency) as bot:
        first = text_of((await say(bot, "/langganan"))[0])
        assert "1. Dinas Kependudukan" in first and "3. ➡ Daftar kecamatan" in first
        assert "Kecamatan Desa" not in first
        second = (await say(bot, "3"))[0]
        assert "1. Kecamatan Desa Contoh 1\n" in text_of(second)
        assert "13. ⬅ Daftar dinas/OPD" in text_of(second)
        assert "Kecamatan Desa Contoh 12" in text_of((await say(bot, "12"))[0])
        assert await bot.storage.subscriptions(RESIDENT) == {"kec-desa-contoh-12"}
        await press(bot, second, "⬅ Dinas")
        back = bot.fake.sent("sendMessage", RESIDENT)[-1]
        assert "1. Dinas Kependudukan" in text_of(back)
        assert "Nomor 14 tidak ada" in text_of((await say(bot, "14"))[0])


# --------------------------------------------------------------------------- admins


async def test_umumkan_without_reply_or_with_an_unknown_topic_shows_usage(
    bot: BotUnderTest,
) -> None:
    await say(bot, "/langganan")
    await say(bot, "2")
    usage = await admin(bot, "/umumkan")
    assert "balasan (reply)" in usage and "dinkes (1)" in usage and "kec-cibunga (0)" in usage
    assert "semua" in usage
    assert "harus membalas" in await admin(bot, "/umumkan dinkes")
    post = admin_post(bot, "Posyandu libur besok.")
    unknown = await admin(bot, "/umumkan dinas-rahasia", reply_to=post)
    assert 'Topik "dinas-rahasia" tidak dikenal' in unknown and "dinkes (1)" in unknown
    assert "harus membalas" in await admin(bot, "/klarifikasi dinkes hoaks")
    await bot.idle()
    assert await bot.storage.announcement(1) is None
    assert len(bot.fake.sent("sendMessage", RESIDENT)) == 2  # the list and the toggle only


async def test_broadcast_to_1000_subscribers_some_of_whom_blocked_the_bot(
    bot: BotUnderTest,
) -> None:
    # Three subscribe through /langganan (two of them by a button), 997 were seeded.
    for user in (RESIDENT, 1003, 1004):
        listing = (await say(bot, "/langganan", user=user))[0]
        if user == RESIDENT:
            await say(bot, "2", user=user)
        else:
            await press(bot, listing, "2", user=user)
    await say(bot, "/start", user=NEIGHBOUR, count=2)  # a resident who does not subscribe
    await seed(bot, SEEDED, "dinkes")
    blocked = set(SEEDED[::20])  # 50 blocked the bot since they subscribed
    assert len(blocked) == 50
    bot.fake.blocked |= blocked
    everyone = {RESIDENT, 1003, 1004, *SEEDED}
    assert len(everyone) == 1000

    post = admin_post(bot, "Vaksinasi gratis Sabtu ini di semua puskesmas.")
    started = await admin(bot, "/umumkan dinkes", reply_to=post)
    assert "Pengumuman #1 (Dinas Kesehatan): dikirim ke 1000 pelanggan" in started
    # Telegram says "wait" once in the middle: that send waits and goes out, not dropped.
    bot.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    done = await finished(bot, 1)

    assert (done.status, done.total, done.sent, done.blocked, done.failed) == (
        "done",
        1000,
        950,
        50,
        0,
    )
    got: dict[int, list[str]] = {}
    for call in bot.fake.sent("sendMessage"):
        chat = call.params["chat_id"]
        if chat in everyone and "Vaksinasi" in text_of(call):
            got.setdefault(chat, []).append(text_of(call))
    assert set(got) == everyone - blocked
    assert all(len(texts) == 1 for texts in got.values())  # exactly one each
    sample = got[RESIDENT][0]
    assert sample.startswith("📢 Pengumuman · Dinas Kesehatan\n\nVaksinasi gratis")
    assert sample.endswith("Berhenti menerima pengumuman: /berhenti")
    refused = [
        c
        for c in bot.fake.calls
        if c.error and c.error[0] == 403 and c.params["chat_id"] in blocked
    ]
    assert {c.params["chat_id"] for c in refused} == blocked and len(refused) == 50
    assert not [c for c in bot.fake.sent(chat_id=NEIGHBOUR) if "Vaksinasi" in str(c.params)]
    # Those who blocked the bot follow nothing any more; the others still do.
    counts = await bot.storage.subscriber_counts()
    assert counts["dinkes"] == 950
    for uid in sorted(blocked)[:5]:
        assert await bot.storage.subscriptions(uid) == set()
    assert await bot.storage.subscriptions(SEEDED[1]) == {"dinkes"}
    # The group saw the progress while it ran and the final count that matches.
    edits = [text_of(c) for c in bot.fake.sent("editMessageText", ADMIN_CHAT)]
    assert any("terkirim ·" in e and "/1000" in e for e in edits), edits
    final = progress_text(bot, 1)
    assert "selesai: terkirim ke 950 dari 1000 pelanggan · 50 memblokir bot" in final
    assert "0 gagal" in final


async def test_the_broadcast_keeps_its_pace(tmp_path: Path, kb: Path, matcher: Matcher) -> None:
    """12 recipients at 10 a second take at least 1.1 s from the first send to the last
    (unpaced, the fake takes them in a few milliseconds)."""
    ids = range(300_000, 300_012)
    async with running_bot(tmp_path, kb, matcher, announcements=fast(10)) as bot:
        await seed(bot, ids, "dinkes")
        post = admin_post(bot, "Uji tempo.")
        await admin(bot, "/umumkan dinkes", reply_to=post)
        await finished(bot, 1)
        sends = [c for c in bot.fake.sent("sendMessage") if c.params["chat_id"] in ids]
        assert len(sends) == 12
        assert sends[-1].arrived - sends[0].arrived >= 1.05


async def test_a_restart_in_the_middle_of_a_broadcast_loses_no_one(
    tmp_path: Path, kb: Path, matcher: Matcher
) -> None:
    ids = range(200_000, 200_300)
    async with running_bot(tmp_path, kb, matcher, announcements=fast(100)) as bot:
        await seed(bot, ids, "kec-cibunga")
        post = admin_post(bot, "Jalan desa ditutup Senin untuk perbaikan.")
        assert "dikirim ke 300 pelanggan" in await admin(bot, "/umumkan kec-cibunga", post)

        def delivered(c: Call) -> bool:
            return c.error is None and c.method == "sendMessage" and c.params["chat_id"] in ids

        await bot.fake.wait_for(delivered, count=30, timeout=20)
        await bot.restart()
        before = len([c for c in bot.fake.calls if delivered(c)])
        assert before < 300, "the restart came too late to test anything"
        done = await finished(bot, 1)
        assert (done.sent, done.total) == (300, 300)
        chats = [c.params["chat_id"] for c in bot.fake.calls if delivered(c)]
        assert sorted(chats) == list(ids)  # everyone once: none lost, none twice
        assert "selesai: terkirim ke 300 dari 300" in progress_text(bot, 1)


async def test_media_is_copied_with_heading_and_footer(bot: BotUnderTest) -> None:
    await say(bot, "/langganan")
    await say(bot, "4")  # Kecamatan Sukamekar
    photo = admin_post(
        bot,
        photo=[{"file_id": "ph", "file_unique_id": "ph", "width": 9, "height": 9}],
        caption="Jadwal pasar murah",
    )
    await admin(bot, "/umumkan sukamekar", reply_to=photo)  # the kecamatan's name will do
    await finished(bot, 1)
    copy = bot.fake.sent("copyMessage", RESIDENT)[-1]
    assert copy.params["message_id"] == photo
    caption = copy.params["caption"]
    assert caption.startswith("📢 Pengumuman · Kecamatan Sukamekar\n\nJadwal pasar murah")
    assert caption.endswith("/berhenti")
    place = admin_post(bot, location={"latitude": -6.9, "longitude": 107.6})
    await admin(bot, "/umumkan kec-sukamekar", reply_to=place)
    await finished(bot, 2)
    assert "caption" not in bot.fake.sent("copyMessage", RESIDENT)[-1].params
    heading = text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    assert heading.startswith("📢 Pengumuman · Kecamatan Sukamekar") and "/berhenti" in heading


async def test_klarifikasi_answers_later_questions_about_the_rumour(
    bot: BotUnderTest, kb: Path
) -> None:
    await say(bot, "/langganan")
    await say(bot, "2")
    post = admin_post(
        bot,
        "Tidak benar. Dinas Kesehatan tidak pernah memungut biaya vaksin rabies gratis lewat "
        "transfer. Jangan kirim uang ke nomor yang mengaku petugas.",
    )
    reply = await admin(
        bot, "/klarifikasi dinkes benarkah vaksin rabies gratis harus transfer dulu", post
    )
    today = dt.datetime.now(ZoneInfo("Asia/Jakarta")).date()  # the regency's calendar day
    entry = f"klarifikasi-{today:%Y%m%d}-1"
    assert "dikirim ke 1 pelanggan" in reply and f"klarifikasi/{entry}" in reply
    await finished(bot, 1)
    sent = text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    assert sent.startswith("✅ Klarifikasi resmi · Dinas Kesehatan\n\nTidak benar.")
    assert "Pengumuman #1 (Dinas Kesehatan) selesai" in progress_text(bot, 1)
    assert f"klarifikasi/{entry}" in progress_text(bot, 1)  # the note stays under the count
    # A resident who never subscribed asks about the rumour days later: the bot answers.
    answer = text_of((await say(bot, "apa benar vaksin rabies harus transfer?", NEIGHBOUR))[0])
    assert "Tidak benar. Dinas Kesehatan tidak pernah memungut" in answer
    assert "Klarifikasi ini disampaikan oleh Dinas Kesehatan" in answer
    assert "Sumber: Klarifikasi Resmi Kabupaten Mekar Sari, diperbarui" in answer
    written = (kb / "klarifikasi.yaml").read_text(encoding="utf-8")
    assert written.startswith("# Klarifikasi resmi Kabupaten Mekar Sari")
    assert "ditulis oleh bot Tanya" in written and f"updated: {today.isoformat()}" in written
    assert not [p for p in kb.iterdir() if p.name.startswith(".")]  # no temporary left
    check = CliRunner().invoke(main, ["kb", "check", str(kb)], catch_exceptions=False)
    assert check.exit_code == 0, check.output
    # Without an issue named, the first sentence is the question; a second id that day.
    second = admin_post(bot, "Pendaftaran CPNS tidak dipungut biaya. Laporkan calo ke kami.")
    reply = await admin(bot, "/klarifikasi semua", reply_to=second)
    assert f"klarifikasi-{today:%Y%m%d}-2" in reply
    assert '- "Pendaftaran CPNS tidak dipungut biaya."' in (kb / "klarifikasi.yaml").read_text(
        encoding="utf-8"
    )


async def test_a_media_clarification_without_text_adds_nothing_to_the_knowledge(
    bot: BotUnderTest, kb: Path
) -> None:
    await say(bot, "/langganan")
    await say(bot, "1")
    voice = admin_post(bot, voice={"file_id": "v1", "file_unique_id": "v1", "duration": 3})
    reply = await admin(bot, "/klarifikasi disdukcapil", reply_to=voice)
    assert "dikirim ke 1 pelanggan" in reply and "tidak ada yang ditambahkan" in reply
    await finished(bot, 1)
    assert bot.fake.sent("copyMessage", RESIDENT)[-1].params["caption"].startswith("✅ Klarifikasi")
    assert not (kb / "klarifikasi.yaml").exists()


async def test_a_broken_clarification_file_is_reported_and_left_alone(
    bot: BotUnderTest, kb: Path
) -> None:
    broken = "opd:\n  id: klarifikasi\n  name: Klarifikasi\nentries: [\n"
    (kb / "klarifikasi.yaml").write_text(broken, encoding="utf-8")
    post = admin_post(bot, "Tidak benar ada pungutan untuk KTP-el.")
    reply = await admin(bot, "/klarifikasi disdukcapil pungutan ktp", reply_to=post)
    assert "tidak ditambahkan ke basis pengetahuan" in reply and "rusak di baris" in reply
    assert (kb / "klarifikasi.yaml").read_text(encoding="utf-8") == broken


async def test_a_resident_who_is_not_subscribed_gets_nothing(bot: BotUnderTest) -> None:
    await say(bot, "/langganan", user=NEIGHBOUR)
    await say(bot, "1", user=NEIGHBOUR)  # another topic
    await say(bot, "/langganan")
    await say(bot, "2")
    await say(bot, "/berhenti")  # subscribed, then stopped
    post = admin_post(bot, "Posyandu libur.")
    assert "belum ada pelanggan" in await admin(bot, "/umumkan dinkes", reply_to=post)
    await bot.idle()
    to_residents = [c for c in bot.fake.sent() if (c.params.get("chat_id") or 0) > 0]
    assert not [c for c in to_residents if "Posyandu" in str(c.params)]
    assert (await bot.storage.announcement(1)).status == "done"  # type: ignore[union-attr]


async def test_semua_reaches_each_subscriber_once(bot: BotUnderTest) -> None:
    await say(bot, "/langganan")
    await say(bot, "1")
    await say(bot, "2")
    await say(bot, "/langganan", user=NEIGHBOUR)
    await say(bot, "5", user=NEIGHBOUR)
    post = admin_post(bot, "Kantor tutup pada cuti bersama.")
    assert "dikirim ke 2 pelanggan" in await admin(bot, "/umumkan SEMUA", reply_to=post)
    await finished(bot, 1)
    for user in (RESIDENT, NEIGHBOUR):
        got = [c for c in bot.fake.sent("sendMessage", user) if "cuti bersama" in text_of(c)]
        assert len(got) == 1
        assert text_of(got[0]).startswith("📢 Pengumuman · Kabupaten Mekar Sari")


# --------------------------------------------------------------------------- pieces


async def test_the_pacer_spaces_starts_and_holds_after_a_retry_after() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(20, clock=lambda: now[0], sleep=sleep)
    delays = [pacer.take() for _ in range(100)]
    # 100 starts at 20 a second: the last one 4.95 s after the first, evenly spaced.
    assert delays[0] == 0 and delays[-1] == pytest.approx(4.95)
    assert all(b - a == pytest.approx(0.05) for a, b in itertools.pairwise(delays))
    now[0] += 10  # idle a while: no burst is saved up
    assert pacer.take() == 0 and pacer.take() == pytest.approx(0.05)
    pacer.hold(3)  # Telegram: retry after 3
    assert pacer.take() == pytest.approx(3)
    await asyncio.gather(*(pacer.wait() for _ in range(4)))
    assert slept == pytest.approx([3.05, 3.1, 3.15, 3.2])


def test_per_second_must_stay_below_the_bots_limit(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "telegram:\n  token: '123:SECRET'\nannouncements:\n  per_second: 30\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert "announcements" in str(raised.value) and "SECRET" not in str(raised.value)
    config.write_text("announcements:\n  per_second: 25\n", encoding="utf-8")
    assert load_config(config).announcements.per_second == 25
    assert load_config(tmp_path / "config.yaml").regency.kecamatan[0] == "Kota Mekar"


def test_a_clarification_is_written_once_per_announcement(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(SMALL_KB, folder)
    day = dt.date(2026, 3, 2)
    item = Clarification(
        7,
        "hoaks: bansos lewat link?",
        "Tidak benar.\n\tCek situs resmi.",
        None,
        "Budi",
        day,
        "Kabupaten X",
    )
    first = write_clarification(folder, item)
    again = write_clarification(folder, item)  # the command handled again after a crash
    assert first == again == "klarifikasi-20260302-1"
    text = (folder / "klarifikasi.yaml").read_text(encoding="utf-8")
    assert text.count("- id:") == 1 and "# Dari pengumuman #7 · Budi · 2026-03-02" in text
    assert '"hoaks: bansos lewat link?"' in text and "    Cek situs resmi." in text
    nxt = write_clarification(
        folder, Clarification(8, "lagi", "Juga tidak benar.", None, "A", day, "X")
    )
    assert nxt == "klarifikasi-20260302-2"
    check = CliRunner().invoke(main, ["kb", "check", str(folder)], catch_exceptions=False)
    assert check.exit_code == 0, check.output


async def test_subscriptions_are_personal_data(bot: BotUnderTest) -> None:
    await say(bot, "/langganan")
    await say(bot, "2")
    data = await bot.storage.resident_data(RESIDENT)
    assert [s["topic"] for s in data["subscriptions"]] == ["dinkes"]  # type: ignore[index]
    counts = await bot.storage.forget_resident(RESIDENT)
    assert counts["subscriptions"] == 1
    assert await bot.storage.subscriber_counts() == {}


async def test_in_a_forum_topic_the_command_must_still_reply(
    tmp_path: Path, kb: Path, matcher: Matcher
) -> None:
    async with running_bot(tmp_path, kb, matcher, forum=True) as bot:
        update = bot.fake.group_text(ADMIN_CHAT, ADMIN, "/umumkan dinkes", thread_id=77)
        mid = update["message"]["message_id"]
        found = await bot.fake.wait_for(
            lambda c: (
                c.method == "sendMessage"
                and (c.params.get("reply_parameters") or {}).get("message_id") == mid
            )
        )
        assert "harus membalas" in text_of(found[0])
        assert found[0].params.get("message_thread_id") == 77
        assert await bot.storage.announcement(1) is None


def _unfinish(bot: BotUnderTest, text: str, *, forget_sends: bool) -> None:
    """What a kill while handling the update that carried `text` leaves behind."""
    db = sqlite3.connect(bot.config.storage.path)
    rows = db.execute("SELECT update_id, body FROM updates ORDER BY update_id").fetchall()
    (update_id,) = [u for u, body in rows if json.loads(body)["message"].get("text") == text][-1:]
    db.execute("UPDATE updates SET done_at = NULL WHERE update_id = ?", (update_id,))
    if forget_sends:
        db.execute("DELETE FROM sent WHERE key LIKE ?", (f"u{update_id}:%",))
    db.commit()
    db.close()


async def test_a_replayed_toggle_does_not_toggle_back(bot: BotUnderTest) -> None:
    await say(bot, "/langganan")
    await say(bot, "2")
    assert await bot.storage.subscriptions(RESIDENT) == {"dinkes"}
    await bot.stop()
    _unfinish(bot, "2", forget_sends=True)  # killed before the list went out
    before = len(bot.fake.sent("sendMessage", RESIDENT))
    await bot.start()
    await bot.fake.wait_sent("sendMessage", RESIDENT, count=before + 1)
    await bot.idle()
    again = text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    assert again.startswith("✅ Anda berlangganan pengumuman Dinas Kesehatan.")
    assert await bot.storage.subscriptions(RESIDENT) == {"dinkes"}


async def test_a_replayed_klarifikasi_makes_one_announcement_and_one_entry(
    bot: BotUnderTest, kb: Path
) -> None:
    await say(bot, "/langganan")
    await say(bot, "2")
    post = admin_post(bot, "Tidak benar ada pungutan vaksin.")
    await admin(bot, "/klarifikasi dinkes pungutan vaksin", reply_to=post)
    await finished(bot, 1)
    group = len(bot.fake.sent("sendMessage", ADMIN_CHAT))
    await bot.stop()
    _unfinish(bot, "/klarifikasi dinkes pungutan vaksin", forget_sends=False)
    await bot.start()
    await bot.idle(0.5)
    db = sqlite3.connect(bot.config.storage.path)
    assert db.execute("SELECT COUNT(*) FROM updates WHERE done_at IS NULL").fetchone() == (0,)
    db.close()  # handled again, to the end
    assert await bot.storage.announcement(2) is None
    assert (kb / "klarifikasi.yaml").read_text(encoding="utf-8").count("- id:") == 1
    got = [c for c in bot.fake.sent("sendMessage", RESIDENT) if "pungutan vaksin" in text_of(c)]
    assert len(got) == 1
    assert len(bot.fake.sent("sendMessage", ADMIN_CHAT)) == group


async def test_the_watcher_does_not_echo_the_bots_own_clarification(
    tmp_path: Path, kb: Path, matcher: Matcher
) -> None:
    from bot.config import KnowledgeConfig

    knowledge = KnowledgeConfig(dir=kb, cache_dir=None, watch=True)
    async with running_bot(tmp_path, kb, matcher, knowledge=knowledge, announcements=fast()) as bot:
        await asyncio.sleep(0.5)  # the watcher is up
        post = admin_post(bot, "Tidak benar ada pungutan untuk KTP. Layanan KTP gratis.")
        assert "klarifikasi/" in await admin(bot, "/klarifikasi disdukcapil ktp bayar", post)
        await asyncio.sleep(2.5)  # longer than the watcher's debounce
        notices = [t for t in bot.fake.texts(ADMIN_CHAT) if "Berkas pengetahuan berubah" in t]
        assert notices == []
        # An editor's save is still news (the watcher was running all along).
        dinkes = kb / "dinkes.yaml"
        dinkes.write_text(dinkes.read_text(encoding="utf-8") + "\n# disunting\n", "utf-8")
        for _ in range(60):
            if any(
                "Berkas pengetahuan berubah (dinkes.yaml)" in t for t in bot.fake.texts(ADMIN_CHAT)
            ):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(bot.fake.summary())


async def test_berhenti_during_a_broadcast_stops_the_rest_of_it_for_that_resident(
    tmp_path: Path, kb: Path, matcher: Matcher
) -> None:
    ids = range(100, 150)  # sent before RESIDENT (by id), at 10 a second: 5 s
    async with running_bot(tmp_path, kb, matcher, announcements=fast(10)) as bot:
        await seed(bot, ids, "dinkes")
        await say(bot, "/langganan")
        await say(bot, "2")  # Dinas Kesehatan
        post = admin_post(bot, "Posyandu libur minggu depan.")
        await admin(bot, "/umumkan dinkes", reply_to=post)
        await say(bot, "/berhenti")
        done = await finished(bot, 1)
        mine = [c for c in bot.fake.sent("sendMessage", RESIDENT) if "Posyandu libur" in text_of(c)]
        assert mine == []
        assert (done.total, done.sent) == (50, 50)


async def test_an_outage_mid_broadcast_pauses_it_and_nobody_is_lost(
    tmp_path: Path, kb: Path, matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.messaging import Incoming
    from bot.service import Service
    from bot.storage import Storage
    from bot.terminal import ADMIN
    from bot.terminal import ADMIN_CHAT as TERMINAL_ADMIN
    from tests.core_harness import OutageMessenger, core_config

    monkeypatch.setattr(announce, "UNREACHABLE_PAUSE", 0.2)
    storage = await Storage.open(tmp_path / "db.sqlite3")
    config = core_config(
        kb, tmp_path / "db.sqlite3", announcements=AnnouncementsConfig(per_second=25)
    )
    shown: list[str] = []
    # Telegram unreachable (after the messenger's own retries) for the first 3 sends.
    messenger = OutageMessenger(shown.append, reason="unreachable", failures=3, private_only=True)
    service = Service(config, matcher, storage, messenger)
    ids = range(500, 510)
    for uid in ids:
        await storage.touch_resident(uid, uid, f"Warga {uid}")
    await storage.subscribe_many(ids, "dinkes")
    body = messenger.remember(TERMINAL_ADMIN, "Posyandu libur minggu depan.")
    line = "/umumkan dinkes"
    command = Incoming(
        TERMINAL_ADMIN,
        messenger.remember(TERMINAL_ADMIN, line),
        ADMIN,
        text=line,
        reply_to=body,
        reply_to_text="Posyandu libur minggu depan.",
    )
    try:
        await service.admin_command(command, "umumkan", ["dinkes"])
        await asyncio.wait_for(service.announcements.idle(), timeout=30)
        done = await storage.announcement(1)
        assert done is not None and (done.sent, done.failed, done.blocked) == (10, 0, 0)
        assert sum("Posyandu libur" in s for s in shown) == 10
    finally:
        await service.announcements.stop()
        await storage.close()  # also when an assertion failed: its thread would hang pytest


async def test_a_formatted_text_is_copied_so_its_links_survive(bot: BotUnderTest) -> None:
    await say(bot, "/langganan")
    await say(bot, "2")  # Dinas Kesehatan
    text = "Jadwal vaksin ada di sini. Datang tepat waktu."
    link = {"type": "text_link", "offset": 21, "length": 7, "url": "https://example.org/vaksin"}
    bold = {"type": "bold", "offset": 27, "length": 18}
    update = bot.fake.group_message(ADMIN_CHAT, ADMIN, text=text, entities=[link, bold])
    post = int(update["message"]["message_id"])
    await admin(bot, "/umumkan dinkes", reply_to=post)
    await finished(bot, 1)
    (copy,) = bot.fake.sent("copyMessage", RESIDENT)
    received = bot.fake.message(RESIDENT, copy.result["message_id"])
    assert received is not None and received["text"] == text
    assert any(e.get("url") == "https://example.org/vaksin" for e in received["entities"])
    heading = text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    assert heading.startswith("📢 Pengumuman · Dinas Kesehatan") and "/berhenti" in heading
    # A plain text still goes as one message with heading and footer.
    plain = admin_post(bot, "Posyandu libur minggu depan.")
    await admin(bot, "/umumkan dinkes", reply_to=plain)
    await finished(bot, 2)
    assert len(bot.fake.sent("copyMessage", RESIDENT)) == 1
    last = text_of(bot.fake.sent("sendMessage", RESIDENT)[-1])
    assert "Posyandu libur minggu depan." in last and "/berhenti" in last
