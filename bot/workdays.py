"""The regency's working time: office hours of working days, holidays and cuti bersama.

Every promise the regency makes is in working time: the internal target for an admin's first
response (`tickets.target_working_days`), the legal limit for an information request (UU 14/2008
Pasal 22 ayat 7: 10 working days "sejak diterimanya permintaan", extendable once by 7 working
days, ayat 8). Reports, the daily digest, reminders and PPID deadlines all count with this one
calendar, so they agree with each other and with the office's own wall calendar.

Holidays come from a YAML file a regency operator edits (the national list is bundled as
`bot/data/holidays.yaml`); its errors name the file and line and say what to do, in Indonesian.

Receipt rule for deadlines (the practice written into PPID service SOPs of courts and
regencies: a request filed after service hours counts as received on the next working day; the
law itself only says "sejak diterimanya"): a request that arrives on a non-working day, or at
or after the end of office hours, counts as received on the next working day; one that arrives
before office hours open on a working day counts as received that day. The day of receipt is day 0;
the deadline is the end of office hours on the Nth working day after it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.config import CalendarConfig
from bot.i18n import t

HolidayKind = Literal["libur", "cuti_bersama", "daerah"]
KINDS: tuple[HolidayKind, ...] = ("libur", "cuti_bersama", "daerah")
_KEYS = ("date", "name", "kind")
# A calendar without a single working day in this many days is a broken file, not a holiday.
_MAX_CLOSED_DAYS = 3660


class CalendarError(Exception):
    """The holidays file cannot be used; the message (Indonesian, for the regency operator)
    names the file and line and says what to do."""


@dataclass(frozen=True)
class Holiday:
    day: dt.date
    name: str
    kind: HolidayKind


def bundled_holidays_file() -> Path:
    """The national list shipped with tanya."""
    return Path(str(resources.files("bot.data").joinpath("holidays.yaml")))


class WorkCalendar:
    """Working days and office hours of one regency. Datetimes in and out are aware; results
    are in UTC, as storage keeps them."""

    def __init__(
        self,
        tz: zoneinfo.ZoneInfo,
        work_start: dt.time,
        work_end: dt.time,
        work_days: Iterable[int],
        holidays: Iterable[Holiday] = (),
    ) -> None:
        if work_end <= work_start:
            raise ValueError("work_end must be after work_start")
        self.tz = tz
        self.work_start = work_start
        self.work_end = work_end
        self.work_days = frozenset(work_days)
        if not self.work_days or not self.work_days <= set(range(1, 8)):
            raise ValueError("work_days must be ISO weekdays 1..7")
        self._holidays = {h.day: h for h in holidays}
        self._years = frozenset(day.year for day in self._holidays)
        day = dt.date(2000, 1, 1)
        self.working_day_seconds: float = (
            dt.datetime.combine(day, work_end) - dt.datetime.combine(day, work_start)
        ).total_seconds()

    @classmethod
    def from_config(cls, config: CalendarConfig) -> WorkCalendar:
        """The calendar of the config, with the holidays file it names (or the bundled one)."""
        path = config.holidays_file or bundled_holidays_file()
        return cls(
            zoneinfo.ZoneInfo(config.timezone),
            config.work_start,
            config.work_end,
            config.work_days,
            load_holidays(path),
        )

    # --- days

    def holiday(self, day: dt.date) -> Holiday | None:
        return self._holidays.get(day)

    def holidays(self, since: dt.date, until: dt.date) -> list[Holiday]:
        """The listed holidays from `since` to `until` (both included), in date order."""
        return sorted(
            (h for d, h in self._holidays.items() if since <= d <= until), key=lambda h: h.day
        )

    def is_working_day(self, day: dt.date) -> bool:
        return day.isoweekday() in self.work_days and day not in self._holidays

    def covers(self, year: int) -> bool:
        """Whether the holidays file lists that year at all (callers warn if not: a year
        missing from the file silently counts its holidays as working days)."""
        return year in self._years

    def add_working_days(self, day: dt.date, days: int) -> dt.date:
        """The Nth working day after `day` (counting starts the next working day; `day` itself
        need not be a working day). 0 gives `day`; a negative N counts back."""
        step = dt.timedelta(days=1 if days >= 0 else -1)
        left = abs(days)
        closed = 0
        while left:
            day += step
            if self.is_working_day(day):
                left -= 1
                closed = 0
            else:
                closed += 1
                if closed > _MAX_CLOSED_DAYS:
                    raise CalendarError(t("calendar.no_working_days"))
        return day

    def working_days_until(self, today: dt.date, day: dt.date) -> int:
        """Working days after `today` up to and including `day` (0 when `day` is today or
        past): "2 working days left" on Tuesday for a deadline on Thursday."""
        count = 0
        while today < day:
            today += dt.timedelta(days=1)
            count += self.is_working_day(today)
        return count

    def next_working_day(self, day: dt.date) -> dt.date:
        return self.add_working_days(day, 1)

    # --- moments

    def office_hours(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """Opening and closing of that day in UTC; None on a non-working day."""
        if not self.is_working_day(day):
            return None
        return (
            dt.datetime.combine(day, self.work_start, tzinfo=self.tz).astimezone(dt.UTC),
            dt.datetime.combine(day, self.work_end, tzinfo=self.tz).astimezone(dt.UTC),
        )

    def local_date(self, moment: dt.datetime) -> dt.date:
        return _aware(moment).astimezone(self.tz).date()

    def working_seconds(self, start: dt.datetime, end: dt.datetime) -> float:
        """Office-hours seconds of working days between two moments; 0 if end <= start."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return 0.0
        total = 0.0
        day, last = self.local_date(start), self.local_date(end)
        while day <= last:
            hours = self.office_hours(day)
            if hours is not None:
                lo, hi = max(start, hours[0]), min(end, hours[1])
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += dt.timedelta(days=1)
        return total

    def add_working_time(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """The first moment (UTC) by which `seconds` of working time have passed since
        `start`: a span that fills a day exactly ends at closing time, not next morning."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        start = _aware(start).astimezone(dt.UTC)
        if seconds == 0:
            return start
        left = seconds
        day = self.local_date(start)
        closed = 0
        while True:
            hours = self.office_hours(day)
            if hours is not None and hours[1] > start:
                begin = max(start, hours[0])
                available = (hours[1] - begin).total_seconds()
                if left <= available:
                    return begin + dt.timedelta(seconds=left)
                left -= available
                closed = 0
            else:
                closed += 1
                if closed > _MAX_CLOSED_DAYS:
                    raise CalendarError(t("calendar.no_working_days"))
            day += dt.timedelta(days=1)

    def receipt_day(self, received: dt.datetime) -> dt.date:
        """The working day a request counts as received (see the module docstring)."""
        local = _aware(received).astimezone(self.tz)
        day = local.date()
        if not self.is_working_day(day) or local.time() >= self.work_end:
            return self.next_working_day(day)
        return day

    def deadline(self, received: dt.datetime, days: int) -> dt.datetime:
        """End of office hours (UTC) on the Nth working day after the day of receipt."""
        due = self.add_working_days(self.receipt_day(received), days)
        return dt.datetime.combine(due, self.work_end, tzinfo=self.tz).astimezone(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware (storage keeps UTC)")
    return moment


# --- the holidays file


def load_holidays(path: Path) -> list[Holiday]:
    """Read and check a holidays file; CalendarError names the file, the line and the fix."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalendarError(t("calendar.missing", file=name)) from None
    except UnicodeDecodeError:
        raise CalendarError(t("calendar.not_utf8", file=name)) from None
    except OSError as exc:
        raise CalendarError(t("calendar.unreadable", file=name, detail=exc.strerror)) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        _unclosed_quote(text, name)
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        context = exc.context_mark
        if context is not None and "flow" in (exc.context or "") and context.line < line - 1:
            line = context.line + 1  # a {...} line is one holiday: name the line it starts
        detail = exc.problem or str(exc)
        raise CalendarError(t("calendar.yaml", file=name, line=line, detail=detail)) from None
    except yaml.YAMLError as exc:
        raise CalendarError(t("calendar.yaml", file=name, line=1, detail=str(exc))) from None
    if root is None:
        raise CalendarError(t("calendar.empty", file=name))
    if not isinstance(root, SequenceNode):
        raise CalendarError(t("calendar.not_list", file=name, line=_line(root)))
    found: dict[dt.date, tuple[Holiday, int]] = {}
    for item in root.value:
        holiday = _holiday(item, name)
        line = _line(item)
        if holiday.day in found:
            raise CalendarError(
                t(
                    "calendar.duplicate",
                    file=name,
                    line=line,
                    date=holiday.day.isoformat(),
                    first=found[holiday.day][1],
                )
            )
        found[holiday.day] = (holiday, line)
    return [h for h, _ in found.values()]


def _unclosed_quote(text: str, name: str) -> None:
    """The commonest slip behind a YAML error: a name whose closing quote is missing. YAML
    notices it lines later, so name the line it is on (only once parsing failed: a valid
    file may well have a # inside a quoted name)."""
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.split("#", 1)[0].count('"') % 2:
            raise CalendarError(t("calendar.quote", file=name, line=number))


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _holiday(node: Node, file: str) -> Holiday:
    line = _line(node)
    if not isinstance(node, MappingNode):
        raise CalendarError(t("calendar.not_mapping", file=file, line=line))
    values: dict[str, tuple[str, int]] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
        key_line = _line(key_node)
        if key not in _KEYS:
            guess = difflib.get_close_matches(key, _KEYS, n=1)
            hint = t("calendar.did_you_mean", guess=guess[0]) if guess else ""
            raise CalendarError(
                t("calendar.unknown_key", file=file, line=key_line, key=key, hint=hint)
            )
        if key in values:
            raise CalendarError(t("calendar.repeated_key", file=file, line=key_line, key=key))
        if not isinstance(value_node, ScalarNode):
            raise CalendarError(t("calendar.not_text", file=file, line=key_line, key=key))
        values[key] = (str(value_node.value).strip(), _line(value_node))
    for key in _KEYS:
        if key not in values or not values[key][0]:
            raise CalendarError(t("calendar.missing_key", file=file, line=line, key=key))
    raw_date, date_line = values["date"]
    try:
        if len(raw_date) != 10:
            raise ValueError(raw_date)
        day = dt.date.fromisoformat(raw_date)
    except ValueError:
        raise CalendarError(
            t("calendar.bad_date", file=file, line=date_line, value=raw_date)
        ) from None
    kind, kind_line = values["kind"]
    if kind not in KINDS:
        raise CalendarError(
            t("calendar.bad_kind", file=file, line=kind_line, value=kind, kinds=", ".join(KINDS))
        )
    return Holiday(day, values["name"][0], kind)  # type: ignore[arg-type]
