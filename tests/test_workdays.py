"""The working-day calendar: weekends, holidays and cuti bersama, office hours, UU 14/2008
deadlines, and a holidays file a regency operator can edit (errors name the line)."""

from __future__ import annotations

import datetime as dt
import textwrap
import zoneinfo
from pathlib import Path

import pytest

from bot.config import CalendarConfig
from bot.workdays import CalendarError, Holiday, WorkCalendar, bundled_holidays_file, load_holidays

WIB = zoneinfo.ZoneInfo("Asia/Jakarta")
HOUR = 3600.0
CALENDAR = WorkCalendar.from_config(CalendarConfig())  # the bundled national list


def wib(month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=WIB)


def d(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "libur.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- days


def test_weekends_are_closed_and_weekdays_open() -> None:
    assert CALENDAR.is_working_day(d(3, 13))  # Friday
    assert not CALENDAR.is_working_day(d(3, 14))  # Saturday
    assert not CALENDAR.is_working_day(d(3, 15))  # Sunday
    assert CALENDAR.is_working_day(d(3, 16))  # Monday
    assert CALENDAR.holiday(d(3, 14)) is None  # a weekend is not a listed holiday


def test_national_holidays_and_cuti_bersama_of_the_bundled_list_are_closed() -> None:
    nyepi = CALENDAR.holiday(d(3, 19))
    assert nyepi == Holiday(d(3, 19), "Hari Suci Nyepi (Tahun Baru Saka 1948)", "libur")
    cuti = CALENDAR.holiday(d(3, 18))
    assert cuti is not None and cuti.kind == "cuti_bersama"
    assert not CALENDAR.is_working_day(d(3, 18)) and not CALENDAR.is_working_day(d(3, 19))
    # Idul Fitri 1447 H: cuti bersama 20, 23, 24 March around the holiday weekend.
    assert [CALENDAR.is_working_day(d(3, n)) for n in range(17, 26)] == [
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
        True,
    ]
    assert CALENDAR.holiday(dt.date(2025, 8, 18)).kind == "cuti_bersama"  # added 7 Aug 2025
    assert not CALENDAR.is_working_day(dt.date(2025, 12, 26))


def test_covers_tells_which_years_the_file_lists() -> None:
    assert CALENDAR.covers(2025) and CALENDAR.covers(2026)
    assert not CALENDAR.covers(2024) and not CALENDAR.covers(2027)


def test_the_bundled_file_has_the_skb_counts() -> None:
    holidays = load_holidays(bundled_holidays_file())
    by_year: dict[tuple[int, str], int] = {}
    for h in holidays:
        by_year[(h.day.year, h.kind)] = by_year.get((h.day.year, h.kind), 0) + 1
    # SKB 2025: 17 national holidays and 10 cuti bersama, plus 18 August added in 2025.
    assert by_year[(2025, "libur")] == 17 and by_year[(2025, "cuti_bersama")] == 11
    # SKB 2026: 17 national holidays and 8 cuti bersama.
    assert by_year[(2026, "libur")] == 17 and by_year[(2026, "cuti_bersama")] == 8


def test_add_working_days_skips_weekends_and_the_long_holiday() -> None:
    assert CALENDAR.add_working_days(d(3, 12), 1) == d(3, 13)
    assert CALENDAR.add_working_days(d(3, 13), 1) == d(3, 16)  # over the weekend
    assert CALENDAR.add_working_days(d(3, 14), 1) == d(3, 16)  # from a Saturday
    assert CALENDAR.add_working_days(d(3, 17), 1) == d(3, 25)  # over Nyepi and Idul Fitri
    assert CALENDAR.add_working_days(d(3, 17), 0) == d(3, 17)
    assert CALENDAR.add_working_days(d(3, 25), -1) == d(3, 17)
    assert CALENDAR.next_working_day(d(4, 2)) == d(4, 6)  # Good Friday 3 April


# --- office hours


def test_working_seconds_count_only_office_hours_of_working_days() -> None:
    # Friday 15:00 to Monday 09:00: one hour each side of the weekend.
    assert CALENDAR.working_seconds(wib(3, 13, 15), wib(3, 16, 9)) == 2 * HOUR
    # After hours and before opening count nothing.
    assert CALENDAR.working_seconds(wib(3, 16, 17), wib(3, 17, 7, 59)) == 0
    assert CALENDAR.working_seconds(wib(3, 16, 6), wib(3, 16, 9)) == 1 * HOUR
    # Tuesday 10:00 before Nyepi to the Wednesday after Idul Fitri, 12:00.
    assert CALENDAR.working_seconds(wib(3, 17, 10), wib(3, 25, 12)) == 10 * HOUR
    assert CALENDAR.working_seconds(wib(3, 25, 12), wib(3, 17, 10)) == 0
    assert CALENDAR.working_day_seconds == 8 * HOUR


def test_moments_in_utc_are_read_in_the_regency_time_zone() -> None:
    start = dt.datetime(2026, 3, 16, 0, 0, tzinfo=dt.UTC)  # 07:00 WIB, 08:00 WITA
    end = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)
    assert CALENDAR.working_seconds(start, end) == 0
    wita = WorkCalendar.from_config(CalendarConfig(timezone="Asia/Makassar"))
    assert wita.working_seconds(start, end) == HOUR
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDAR.working_seconds(dt.datetime(2026, 3, 16, 9), end)


def test_add_working_time_lands_in_office_hours_and_round_trips() -> None:
    assert CALENDAR.add_working_time(wib(3, 13, 15), 2 * HOUR) == wib(3, 16, 9)
    # A span that fills a day ends at closing time, not the next morning.
    assert CALENDAR.add_working_time(wib(3, 16, 8), 8 * HOUR) == wib(3, 16, 16)
    assert CALENDAR.add_working_time(wib(3, 16, 18), HOUR) == wib(3, 17, 9)
    assert CALENDAR.add_working_time(wib(3, 17, 10), 8 * HOUR) == wib(3, 25, 10)
    assert CALENDAR.add_working_time(wib(3, 14, 12), 0) == wib(3, 14, 12)
    assert CALENDAR.add_working_time(wib(3, 16, 9), 0).tzinfo == dt.UTC
    start = wib(3, 13, 11, 17)
    for seconds in (1.0, 1800.0, 5 * HOUR, 8 * HOUR, 30 * HOUR, 123_456.0):
        moment = CALENDAR.add_working_time(start, seconds)
        assert CALENDAR.working_seconds(start, moment) == pytest.approx(seconds)
        assert CALENDAR.working_seconds(start, moment - dt.timedelta(seconds=1)) < seconds


def test_custom_work_days_and_hours() -> None:
    saturday_open = WorkCalendar.from_config(
        CalendarConfig(work_days=(1, 2, 3, 4, 5, 6), work_start=dt.time(7, 30))
    )
    assert saturday_open.is_working_day(d(3, 14))
    assert saturday_open.working_day_seconds == 8.5 * HOUR
    assert (
        saturday_open.working_seconds(wib(3, 13, 15), wib(3, 16, 9)) == 11 * HOUR
    )  # 1 + 8.5 + 1.5


# --- UU 14/2008 deadlines


def test_deadline_counts_working_days_from_the_day_after_receipt_across_idul_fitri() -> None:
    # Received Tuesday 17 March 10:00: day 1 is Wednesday 25 March (cuti bersama, Nyepi,
    # Idul Fitri in between); Good Friday 3 April is skipped too; day 10 is Wednesday 8 April.
    received = wib(3, 17, 10)
    assert CALENDAR.deadline(received, 10) == wib(4, 8, 16)
    assert CALENDAR.deadline(received, 10).tzinfo == dt.UTC
    # Extended by 7 working days: Friday 17 April.
    assert CALENDAR.deadline(received, 17) == wib(4, 17, 16)


def test_received_after_hours_or_on_a_closed_day_counts_from_the_next_working_day() -> None:
    assert CALENDAR.receipt_day(wib(3, 16, 15, 59)) == d(3, 16)
    assert CALENDAR.receipt_day(wib(3, 16, 16)) == d(3, 17)  # at closing time: next day
    assert CALENDAR.receipt_day(wib(3, 16, 6)) == d(3, 16)  # before opening: that day
    assert CALENDAR.receipt_day(wib(3, 14, 10)) == d(3, 16)  # Saturday
    assert CALENDAR.receipt_day(wib(3, 20, 10)) == d(3, 25)  # cuti bersama Idul Fitri
    assert CALENDAR.deadline(wib(3, 16, 15, 59), 10) == wib(4, 7, 16)
    assert CALENDAR.deadline(wib(3, 16, 16), 10) == wib(4, 8, 16)
    assert CALENDAR.deadline(wib(3, 14, 10), 10) == wib(4, 7, 16)


# --- the holidays file


def test_a_regency_file_with_a_regional_holiday(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        # Libur Kabupaten Mekar Sari
        - {date: 2026-03-12, name: "Hari Jadi Kabupaten", kind: daerah}
        - date: 2026-03-13
          name: Cuti bersama daerah
          kind: cuti_bersama
        """,
    )
    calendar = WorkCalendar.from_config(CalendarConfig(holidays_file=path))
    assert calendar.holiday(d(3, 12)) == Holiday(d(3, 12), "Hari Jadi Kabupaten", "daerah")
    assert not calendar.is_working_day(d(3, 13))
    assert calendar.is_working_day(d(3, 19))  # this file replaces the bundled list
    assert calendar.add_working_days(d(3, 11), 1) == d(3, 16)
    assert calendar.holidays(d(3, 1), d(3, 31)) == [
        Holiday(d(3, 12), "Hari Jadi Kabupaten", "daerah"),
        Holiday(d(3, 13), "Cuti bersama daerah", "cuti_bersama"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        (
            '- {date: 2026-01-01, name: "Tahun Baru", kind: libur}\n'
            '- {date: 2026-02-30, name: "Salah", kind: libur}\n',
            2,
            ["tanggal '2026-02-30' tidak sah", "TAHUN-BULAN-TANGGAL"],
        ),
        (
            '- {date: 2026-01-01, name: "Tahun Baru", kind: libur}\n'
            "# catatan\n"
            '- {dat: 2026-01-02, name: "Salah", kind: libur}\n',
            3,
            ["kunci 'dat' tidak dikenal", "Maksud Anda 'date'?"],
        ),
        (
            '- {date: 2026-01-01, name: "Tahun Baru", kind: cuti}\n',
            1,
            ["kind 'cuti' tidak dikenal", "libur, cuti_bersama, daerah"],
        ),
        (
            '- {date: 2026-01-01, name: "Tahun Baru", kind: libur}\n'
            '- {date: 2026-01-02, name: "Lupa kutip, kind: libur}\n'
            '- {date: 2026-01-03, name: "Lain", kind: libur}\n',
            2,
            ['tanda kutip " yang dibuka di baris ini tidak ditutup'],
        ),
        (
            '- {date: 2026-01-01, name: "Tahun Baru", kind: libur}\n'
            '- {date: 2026-01-02, name: "Kurung kurawal lupa ditutup", kind: libur\n'
            '- {date: 2026-01-03, name: "Lain", kind: libur}\n',
            2,
            ["penulisan tidak sah", "contoh baris yang benar"],
        ),
        (
            '- {date: 2026-01-01, name: "Tahun Baru", kind: libur}\n'
            '- {date: 2026-01-01, name: "Lagi", kind: daerah}\n',
            2,
            ["tanggal 2026-01-01 sudah tercantum di baris 1", "Hapus salah satunya"],
        ),
        (
            "- {date: 2026-01-01, kind: libur}\n",
            1,
            ["'name' wajib diisi"],
        ),
        (
            "date: 2026-01-01\nname: Tahun Baru\n",
            1,
            ["harus berupa daftar"],
        ),
        (
            '- {date: 2026-1-1, name: "Tahun Baru", kind: libur}\n',
            1,
            ["tanggal '2026-1-1' tidak sah"],
        ),
    ],
)
def test_a_broken_file_names_the_file_the_line_and_what_to_do(
    tmp_path: Path, text: str, line: int, fragments: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CalendarError) as caught:
        WorkCalendar.from_config(CalendarConfig(holidays_file=path))
    message = str(caught.value)
    assert message.startswith(f"Berkas hari libur {path}, baris {line}: "), message
    for fragment in fragments:
        assert fragment in message


def test_a_missing_empty_or_non_utf8_file_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "tidak-ada.yaml"
    with pytest.raises(CalendarError, match=r"tidak-ada\.yaml tidak ditemukan.*holidays_file"):
        WorkCalendar.from_config(CalendarConfig(holidays_file=missing))
    empty = write(tmp_path, "# hanya catatan\n")
    with pytest.raises(CalendarError, match="kosong"):
        load_holidays(empty)
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(
        '- {date: 2026-01-01, name: "Hari Jadi Kabupatén", kind: daerah}\n'.encode("latin-1")
    )
    with pytest.raises(CalendarError, match="UTF-8"):
        load_holidays(latin)


def test_working_days_until_counts_the_days_left_to_a_deadline() -> None:
    # 2026: Tuesday 17 March to Wednesday 25 March spans Nyepi, Idul Fitri and cuti bersama.
    assert CALENDAR.working_days_until(dt.date(2026, 3, 17), dt.date(2026, 3, 25)) == 1
    assert CALENDAR.working_days_until(dt.date(2026, 12, 15), dt.date(2026, 12, 17)) == 2
    assert CALENDAR.working_days_until(dt.date(2026, 12, 17), dt.date(2026, 12, 17)) == 0
    assert CALENDAR.working_days_until(dt.date(2026, 12, 18), dt.date(2026, 12, 17)) == 0
    assert CALENDAR.working_days_until(dt.date(2026, 12, 23), dt.date(2026, 12, 28)) == 1
