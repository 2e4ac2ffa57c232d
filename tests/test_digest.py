"""Issue 5, point 4: the daily digest and the reminders for tickets past the internal target,
counted in working time, and sent by the real Application's job queue."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import zoneinfo
from pathlib import Path

import pytest

from bot.config import AdminConfig, CalendarConfig, Config, MatcherConfig, TicketsConfig
from bot.digest import digest_text, overdue
from bot.kb_cache import load_matcher
from bot.storage import Storage
from bot.workdays import Holiday, WorkCalendar
from handlers import app as app_module
from tests.bot_harness import ADMIN_CHAT, RESIDENT, running_bot
from tests.core_harness import OutageMessenger, core_config
from tests.test_bot_flows import ROUTED, ask, text_of, ticket_post
from tests.test_learning import group

WIB = zoneinfo.ZoneInfo("Asia/Jakarta")
SMALL_KB = Path(__file__).parent / "data" / "kb_small"
# 2026-12-24 (Thursday) and 2026-12-25 (Friday) closed: cuti bersama and Christmas.
CALENDAR = WorkCalendar(
    WIB,
    dt.time(8),
    dt.time(16),
    (1, 2, 3, 4, 5),
    [
        Holiday(dt.date(2026, 12, 24), "Cuti bersama Natal", "cuti_bersama"),
        Holiday(dt.date(2026, 12, 25), "Natal", "libur"),
    ],
)


def wib(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=WIB)


async def seeded(path: Path) -> tuple[Storage, list[dt.datetime]]:
    clock = [wib(22, 9)]
    storage = await Storage.open(path, clock=lambda: clock[0])
    for number, opened in enumerate([wib(22, 9), wib(23, 15), wib(28, 8, 30)], start=1):
        clock[0] = opened
        await storage.touch_resident(RESIDENT + number, RESIDENT + number, f"Warga {number}")
        await storage.log_conversation(RESIDENT + number, f"pertanyaan {number}", "escalate")
        await storage.create_ticket(RESIDENT + number, f"pertanyaan {number}", "disdukcapil")
    # Ticket 2 gets its answer on Monday 28 Dec, 10:00: 1 h on the 23rd + 2 h on the 28th.
    clock[0] = wib(28, 10)
    await storage.mark_answered(2, "Admin", "Silakan datang.")
    await storage.touch_resident(RESIDENT + 9, RESIDENT + 9, "Warga 9")
    await storage.log_conversation(RESIDENT + 9, "cara daftar bpjs", "answer", "dinkes/bpjs")
    return storage, clock


async def test_overdue_counts_working_hours_across_the_christmas_holidays(tmp_path: Path) -> None:
    storage, clock = await seeded(tmp_path / "db.sqlite3")
    clock[0] = wib(28, 11)
    tickets = await storage.open_tickets()
    late = overdue(tickets, CALENDAR, CALENDAR.working_day_seconds, clock[0])
    # Ticket 1: Tue 22 (7 h) + Wed 23 (8 h) + Mon 28 (3 h) = 18 working hours: overdue.
    # Ticket 3: Mon 28 08:30 to 11:00 = 2.5 h: within the 1-day target. Ticket 2: answered.
    assert [(o.ticket.id, o.waited_s / 3600) for o in late] == [(1, 18.0)]
    await storage.close()


async def test_the_digest_lists_open_overdue_and_the_previous_working_days_figures(
    tmp_path: Path,
) -> None:
    storage, clock = await seeded(tmp_path / "db.sqlite3")
    clock[0] = wib(29, 7, 30)  # Tuesday's digest: "since" is Monday 28 Dec
    config = Config()
    text = await digest_text(storage, CALENDAR, config, lambda opd: opd or "-", clock[0])
    lines = text.splitlines()
    assert lines[0] == "📋 Ringkasan harian 29-12-2026"
    assert lines[1] == "Tiket menunggu: 2 (2 belum ditanggapi)."
    # Ticket 1: 18 h by Monday 11:00, 23 h by Monday's end; ticket 3: 7.5 h, under 8.
    assert lines[2] == "Lewat target 1 hari kerja tanpa tanggapan: 1."
    assert lines[3] == "• #1 · disdukcapil · 23 jam kerja · pertanyaan 1"
    since = lines[-1]
    assert since.startswith("Sejak 28-12: 2 pertanyaan, 1 dijawab otomatis (50%), 1 diteruskan")
    assert "1 tiket ditanggapi, median 3,0 jam kerja" in since
    await storage.close()


@pytest.fixture
def quick_reminders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "REMINDER_INTERVAL", dt.timedelta(seconds=1))


async def test_the_job_queue_reminds_once_in_the_thread_and_posts_the_digest(
    tmp_path: Path, quick_reminders: None
) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(SMALL_KB, folder)
    holidays = tmp_path / "libur.yaml"
    holidays.write_text("- {date: 2000-01-03, name: Contoh, kind: daerah}\n", encoding="utf-8")
    # Open every hour of every day, so the test means the same at any time it runs.
    calendar = CalendarConfig(
        work_start=dt.time(0, 0),
        work_end=dt.time(23, 59, 59),
        work_days=(1, 2, 3, 4, 5, 6, 7),
        holidays_file=holidays,
    )
    soon = (dt.datetime.now(WIB) + dt.timedelta(seconds=8)).time().replace(microsecond=0)
    matcher = load_matcher(folder, MatcherConfig(), None)
    async with running_bot(
        tmp_path,
        folder,
        matcher,
        calendar=calendar,
        tickets=TicketsConfig(target_working_days=3 / 86399),  # three seconds
        admin=AdminConfig(chat_id=ADMIN_CHAT, digest_at=soon),
    ) as bot:
        await ask(bot, ROUTED)
        post = await ticket_post(bot)
        await ask(bot, ROUTED.replace("ktp", "kk"), user=RESIDENT + 1)
        second = await ticket_post(bot, 2)
        await group(bot, "Sudah kami terima.", reply_to=second.result["message_id"])
        (reminder,) = await bot.fake.wait_for(
            lambda c: c.method == "sendMessage" and "⏰ Tiket #1" in text_of(c), timeout=20
        )
        replied = reminder.params.get("reply_parameters") or {}
        assert replied.get("message_id") == post.result["message_id"]
        (digest,) = await bot.fake.wait_for(
            lambda c: c.method == "sendMessage" and "Ringkasan harian" in text_of(c), timeout=20
        )
        assert "Tiket menunggu: 1 (1 belum ditanggapi)" in text_of(digest)
        assert "#1 · Dinas Kependudukan" in text_of(digest)
        await asyncio.sleep(2.5)
        texts = [text_of(c) for c in bot.fake.sent("sendMessage", ADMIN_CHAT)]
        assert sum("⏰ Tiket #1" in t for t in texts) == 1  # once, not every check
        assert not any("⏰ Tiket #2" in t for t in texts)  # answered in time
        assert "pengingat" in await group(bot, "/tiket 1")


async def test_reminders_are_capped_per_check_and_the_rest_follow_at_the_next(
    tmp_path: Path,
) -> None:
    from bot.service import REMINDERS_PER_CHECK, Service
    from bot.terminal import TerminalMessenger

    shown: list[str] = []
    clock = [wib(21, 8)]  # Monday
    storage = await Storage.open(tmp_path / "db.sqlite3", clock=lambda: clock[0])
    count = REMINDERS_PER_CHECK + 2
    for number in range(1, count + 1):
        await storage.touch_resident(RESIDENT + number, RESIDENT + number, f"Warga {number}")
        await storage.create_ticket(RESIDENT + number, f"pertanyaan {number}", "disdukcapil")
    config = core_config(SMALL_KB, tmp_path / "db.sqlite3")
    matcher = load_matcher(SMALL_KB, MatcherConfig(), None)
    service = Service(config, matcher, storage, TerminalMessenger(shown.append), calendar=CALENDAR)
    clock[0] = wib(21, 15)  # 7 working hours: within the 1-day target
    assert await service.send_reminders() == 0
    clock[0] = wib(22, 9)  # 9 working hours: every ticket is past it
    assert await service.send_reminders() == REMINDERS_PER_CHECK
    assert await service.send_reminders() == 2
    assert await service.send_reminders() == 0  # each ticket once
    assert sum("⏰ Tiket #" in s for s in shown) == count
    await storage.close()


async def test_a_reminder_that_could_not_be_sent_is_sent_at_a_later_check(
    tmp_path: Path,
) -> None:
    from bot.service import Service

    shown: list[str] = []
    clock = [wib(21, 8)]  # Monday
    storage = await Storage.open(tmp_path / "db.sqlite3", clock=lambda: clock[0])
    for number in range(1, 4):
        await storage.touch_resident(RESIDENT + number, RESIDENT + number, f"Warga {number}")
        await storage.create_ticket(RESIDENT + number, f"pertanyaan {number}", "disdukcapil")
    config = core_config(SMALL_KB, tmp_path / "db.sqlite3")
    messenger = OutageMessenger(shown.append, down=True)  # Telegram unreachable
    matcher = load_matcher(SMALL_KB, MatcherConfig(), None)
    service = Service(config, matcher, storage, messenger, calendar=CALENDAR)
    clock[0] = wib(22, 9)  # every ticket is past the target
    try:
        assert await service.send_reminders() == 0
        assert await storage.reminded([1, 2, 3]) == set()  # nothing marked as done
        messenger.down = False
        assert await service.send_reminders() == 3
        assert sum("⏰ Tiket #" in s for s in shown) == 3
    finally:
        await storage.close()


async def test_the_digest_goes_out_once_a_working_day_also_after_downtime_or_failure(
    tmp_path: Path,
) -> None:
    from bot.service import Service
    from bot.terminal import ADMIN_CHAT as TERMINAL_ADMIN

    shown: list[str] = []
    clock = [wib(21, 7)]  # Monday, before the 07:30 digest
    path = tmp_path / "db.sqlite3"
    config = core_config(
        SMALL_KB, path, AdminConfig(chat_id=TERMINAL_ADMIN, digest_at=dt.time(7, 30))
    )
    matcher = load_matcher(SMALL_KB, MatcherConfig(), None)

    async def service() -> tuple[Service, Storage, OutageMessenger]:
        storage = await Storage.open(path, clock=lambda: clock[0])
        messenger = OutageMessenger(shown.append)
        return Service(config, matcher, storage, messenger, calendar=CALENDAR), storage, messenger

    def digests() -> int:
        return sum("Ringkasan harian" in s for s in shown)

    svc, storage, messenger = await service()
    try:
        assert not await svc.send_digest(catch_up=True)  # not its time yet
        clock[0] = wib(21, 7, 30)
        messenger.down = True
        assert not await svc.send_digest()  # the daily job at 07:30 fails
        messenger.down = False
        clock[0] = wib(21, 7, 35)
        assert await svc.send_digest(catch_up=True)  # the next check sends it
        assert not await svc.send_digest(catch_up=True)  # once
        await storage.close()
        svc, storage, messenger = await service()  # a restart the same day: not again
        assert not await svc.send_digest(catch_up=True)
        assert digests() == 1
        clock[0] = wib(22, 11)  # Tuesday: the bot was down at 07:30; sent when it is back
        assert await svc.send_digest(catch_up=True)
        clock[0] = wib(24, 9)  # Thursday 24th: cuti bersama, no digest
        assert not await svc.send_digest(catch_up=True) and not await svc.send_digest()
        assert digests() == 2
    finally:
        await storage.close()
