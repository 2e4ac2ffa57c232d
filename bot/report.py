"""The monthly figures of the service, per OPD and for the whole regency (`tanya report`).

Pure computation over what storage recorded; bot.report_render turns a `Report` into HTML and
CSV. Each figure is defined once here, and the same definitions are printed under the report
(`report.note.*` in the locale catalogue), so what an official reads is what was counted:

- questions: what residents asked that the matcher decided on (conversations with decision
  answer, suggest, escalate or media), by the time they arrived; smalltalk, menu browsing and
  follow-ups that joined a ticket are not questions. questions = answered + suggested + direct.
- answered: answered automatically (decision answer); share = answered / questions.
- suggested: numbered choices offered; taken: a choice picked (decision choice, counted when
  picked, for the OPD of the entry picked).
- direct: sent straight to a person (decision escalate or media).
- tickets ("escalated"): tickets opened in the month by any route (straight, 0 on a choice
  list, or a 👎 passed on), for the OPD holding the ticket now.
- first response: working hours (calendar) from a ticket's creation to an admin's first answer,
  whenever it came; median and 90th percentile (linear interpolation) over the month's tickets
  that have one. waiting: tickets without one yet.
- past target: first response (or, without one, the cut-off: the end of the month or now,
  whichever is earlier) more than `tickets.target_working_days` of working time after creation.
- past legal limit: first response (or the cut-off) after `WorkCalendar.deadline(created,
  ppid.deadline_working_days)`, plus `ppid.extension_working_days` for an extended ticket.
- 👍/👎: feedback given in the month, for the OPD of the entry; share = 👍 / (👍 + 👎).
- gaps: bot.gaps clusters of the month's questions nobody had an answer for.
- requests: formal information requests received in the month, for the OPD holding them now;
  on time: answered or refused by their deadline (extended or not), whenever that was; late:
  decided after it, or still undecided once it passed; open: undecided, deadline ahead.
  objections: filed in the month, for the OPD of the request objected to.

Month boundaries are midnight in the regency's time zone.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.config import Config
from bot.gaps import Gap, cluster_gaps
from bot.i18n import t
from bot.storage import (
    InfoRequest,
    Objection,
    ReportFeedback,
    ReportQuestion,
    ReportTicket,
    Storage,
)
from bot.workdays import Holiday, WorkCalendar

RowKind = Literal["opd", "none", "total"]
TOP_GAPS = 10


@dataclass(frozen=True)
class Figures:
    """One row of the report: an OPD, the questions with no OPD, or the whole regency."""

    kind: RowKind
    opd: str | None
    label: str
    questions: int = 0
    answered: int = 0
    suggested: int = 0
    taken: int = 0
    direct: int = 0
    tickets: int = 0
    responded: int = 0
    waiting: int = 0
    median_hours: float | None = None
    p90_hours: float | None = None
    past_target: int = 0
    past_legal: int = 0
    extended: int = 0
    helpful: int = 0
    not_helpful: int = 0
    gap_questions: int = 0
    top_gap: str | None = None  # the most typical question of this OPD's biggest gap (masked)
    # Formal information requests received in the month (bot.ppid), by their OPD now.
    requests: int = 0
    requests_answered: int = 0
    requests_refused: int = 0
    requests_open: int = 0  # undecided, deadline not passed
    requests_on_time: int = 0  # answered or refused by the deadline (after any extension)
    requests_late: int = 0  # decided after the deadline, or undecided past it
    requests_extended: int = 0
    objections: int = 0  # filed in the month, against a request of this OPD

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.questions if self.questions else None

    @property
    def helpful_share(self) -> float | None:
        votes = self.helpful + self.not_helpful
        return self.helpful / votes if votes else None


@dataclass(frozen=True)
class DayVolume:
    day: dt.date
    working: bool
    answered: int = 0
    suggested: int = 0
    direct: int = 0
    tickets: int = 0


@dataclass(frozen=True)
class TicketTiming:
    """How one ticket of the month fared against the target and the legal limit."""

    ticket: ReportTicket
    response_hours: float | None  # working hours to the first response
    past_target: bool
    past_legal: bool
    deadline: dt.datetime


@dataclass(frozen=True)
class Report:
    year: int
    month: int
    regency: str
    timezone: str
    since: dt.datetime  # UTC, first moment of the month (local midnight)
    until: dt.datetime  # UTC, first moment of the next month
    cutoff: dt.datetime  # UTC, the end of the month or the moment the report was made
    generated_at: dt.datetime
    rows: tuple[Figures, ...]  # OPDs by name, then "no OPD" if any
    total: Figures
    days: tuple[DayVolume, ...]
    timings: tuple[TicketTiming, ...]
    gaps: tuple[Gap, ...]
    opd_labels: Mapping[str, str]
    holidays: tuple[Holiday, ...]  # listed holidays in the month
    uncovered_years: tuple[int, ...]  # years the holidays file does not list at all
    target_working_days: float
    deadline_working_days: int
    extension_working_days: int
    working_day_hours: float
    work_start: dt.time
    work_end: dt.time
    work_days: tuple[int, ...]
    gap_total: int = 0

    @property
    def complete(self) -> bool:
        """Whether the month was over when the report was made."""
        return self.cutoff >= self.until

    def label(self, opd: str | None) -> str:
        return self.opd_labels.get(opd, opd) if opd is not None else t("report.no_opd")


def month_bounds(year: int, month: int, calendar: WorkCalendar) -> tuple[dt.datetime, dt.datetime]:
    """The month as UTC moments [since, until), its boundaries at local midnight."""
    start = dt.datetime(year, month, 1, tzinfo=calendar.tz)
    nxt = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=calendar.tz)
    return start.astimezone(dt.UTC), nxt.astimezone(dt.UTC)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def time_ticket(
    ticket: ReportTicket, calendar: WorkCalendar, config: Config, cutoff: dt.datetime
) -> TicketTiming:
    """A ticket against the internal target and the legal limit, as of `cutoff` when it has
    no first response yet."""
    end = ticket.first_response_at or cutoff
    target = config.tickets.target_working_days * calendar.working_day_seconds
    days = config.ppid.deadline_working_days + (
        config.ppid.extension_working_days if ticket.extended else 0
    )
    deadline = calendar.deadline(ticket.created_at, days)
    response = (
        calendar.working_seconds(ticket.created_at, ticket.first_response_at) / 3600
        if ticket.first_response_at is not None
        else None
    )
    return TicketTiming(
        ticket=ticket,
        response_hours=response,
        past_target=calendar.working_seconds(ticket.created_at, end) > target,
        past_legal=end > deadline,
        deadline=deadline,
    )


def _entry_opd(entry: str | None) -> str | None:
    return entry.split("/", 1)[0] if entry and "/" in entry else None


def _question_opd(q: ReportQuestion) -> str | None:
    return q.opd or _entry_opd(q.entry)


class _Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.hours: list[float] = []


async def build_report(
    storage: Storage,
    calendar: WorkCalendar,
    config: Config,
    year: int,
    month: int,
    opd_names: Mapping[str, str] | None = None,
) -> Report:
    """The figures of one month (local time), as of now (storage's clock)."""
    since, until = month_bounds(year, month, calendar)
    now = storage.now()
    cutoff = max(since, min(until, now))
    questions = await storage.report_questions(since, until)
    tickets = await storage.report_tickets(since, until)
    feedback = await storage.report_feedback(since, until)
    gap_questions = await storage.gap_questions(since, until)
    gaps = cluster_gaps(gap_questions)
    timings = [time_ticket(ticket, calendar, config, cutoff) for ticket in tickets]

    tallies: dict[str | None, _Tally] = defaultdict(_Tally)
    _count_questions(tallies, questions)
    _count_tickets(tallies, timings)
    _count_feedback(tallies, feedback)
    for question in gap_questions:
        tallies[question.opd].counts["gap_questions"] += 1
    requests = await storage.report_requests(since, until)
    objections = await storage.report_objections(since, until)
    objected = {o.request_id: await storage.request(o.request_id) for o in objections}
    _count_requests(tallies, requests, objections, objected, now)
    top_gap = {}
    for gap in gaps:  # biggest first: the first gap seen for an OPD is its biggest
        if gap.opd not in top_gap and gap.examples:
            top_gap[gap.opd] = gap.examples[0]

    labels = dict(opd_names or {})
    for opd in tallies:
        if opd is not None:
            labels.setdefault(opd, opd)
    rows = [
        _figures("opd", opd, labels[opd], tallies[opd], top_gap.get(opd))
        for opd in sorted((o for o in tallies if o is not None), key=lambda o: labels[o].casefold())
    ]
    if None in tallies:
        rows.append(_figures("none", None, t("report.no_opd"), tallies[None], top_gap.get(None)))
    everything = _Tally()
    for tally in tallies.values():
        for key, value in tally.counts.items():
            everything.counts[key] += value
        everything.hours += tally.hours
    biggest = next((g.examples[0] for g in gaps if g.examples), None)
    total = _figures("total", None, t("report.total"), everything, biggest)

    first_day = since.astimezone(calendar.tz).date()
    last_day = (until.astimezone(calendar.tz) - dt.timedelta(days=1)).date()
    years = {year} | ({year + 1} if month == 12 else set())
    return Report(
        year=year,
        month=month,
        regency=config.regency.name,
        timezone=config.calendar.timezone,
        since=since,
        until=until,
        cutoff=cutoff,
        generated_at=now,
        rows=tuple(rows),
        total=total,
        days=_days(first_day, last_day, calendar, questions, tickets),
        timings=tuple(timings),
        gaps=tuple(gaps[:TOP_GAPS]),
        opd_labels=labels,
        holidays=tuple(calendar.holidays(first_day, last_day)),
        uncovered_years=tuple(sorted(y for y in years if not calendar.covers(y))),
        target_working_days=config.tickets.target_working_days,
        deadline_working_days=config.ppid.deadline_working_days,
        extension_working_days=config.ppid.extension_working_days,
        working_day_hours=calendar.working_day_seconds / 3600,
        work_start=calendar.work_start,
        work_end=calendar.work_end,
        work_days=tuple(sorted(calendar.work_days)),
        gap_total=len(gap_questions),
    )


def _count_questions(
    tallies: dict[str | None, _Tally], questions: Iterable[ReportQuestion]
) -> None:
    for q in questions:
        counts = tallies[_question_opd(q)].counts
        if q.decision == "choice":
            counts["taken"] += 1
            continue
        counts["questions"] += 1
        if q.decision == "answer":
            counts["answered"] += 1
        elif q.decision == "suggest":
            counts["suggested"] += 1
        else:
            counts["direct"] += 1


def _count_tickets(tallies: dict[str | None, _Tally], timings: Iterable[TicketTiming]) -> None:
    for timing in timings:
        tally = tallies[timing.ticket.opd]
        counts = tally.counts
        counts["tickets"] += 1
        if timing.response_hours is None:
            counts["waiting"] += 1
        else:
            counts["responded"] += 1
            tally.hours.append(timing.response_hours)
        counts["past_target"] += timing.past_target
        counts["past_legal"] += timing.past_legal
        counts["extended"] += timing.ticket.extended


def _count_requests(
    tallies: dict[str | None, _Tally],
    requests: Iterable[InfoRequest],
    objections: Iterable[Objection],
    objected: Mapping[int, InfoRequest | None],
    now: dt.datetime,
) -> None:
    for request in requests:
        counts = tallies[request.opd].counts
        counts["requests"] += 1
        counts["requests_extended"] += request.extended_at is not None
        if request.status == "open":
            late = now > request.due_at
            counts["requests_late" if late else "requests_open"] += 1
            continue
        counts["requests_answered" if request.status == "answered" else "requests_refused"] += 1
        decided = request.decided_at or now
        counts["requests_on_time" if decided <= request.due_at else "requests_late"] += 1
    for objection in objections:
        request = objected.get(objection.request_id)
        tallies[request.opd if request else None].counts["objections"] += 1


def _count_feedback(tallies: dict[str | None, _Tally], feedback: Iterable[ReportFeedback]) -> None:
    for vote in feedback:
        tallies[_entry_opd(vote.entry)].counts["helpful" if vote.helpful else "not_helpful"] += 1


_COUNTS = (
    "questions",
    "answered",
    "suggested",
    "taken",
    "direct",
    "tickets",
    "responded",
    "waiting",
    "past_target",
    "past_legal",
    "extended",
    "helpful",
    "not_helpful",
    "gap_questions",
    "requests",
    "requests_answered",
    "requests_refused",
    "requests_open",
    "requests_on_time",
    "requests_late",
    "requests_extended",
    "objections",
)


def _figures(
    kind: RowKind, opd: str | None, label: str, tally: _Tally, top_gap: str | None
) -> Figures:
    return Figures(
        kind=kind,
        opd=opd,
        label=label,
        median_hours=quantile(tally.hours, 0.5),
        p90_hours=quantile(tally.hours, 0.9),
        top_gap=top_gap,
        **{name: tally.counts[name] for name in _COUNTS},
    )


def _days(
    first: dt.date,
    last: dt.date,
    calendar: WorkCalendar,
    questions: Iterable[ReportQuestion],
    tickets: Iterable[ReportTicket],
) -> tuple[DayVolume, ...]:
    counts: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for q in questions:
        if q.decision == "choice":
            continue
        kind = {"answer": "answered", "suggest": "suggested"}.get(q.decision, "direct")
        counts[calendar.local_date(q.at)][kind] += 1
    for ticket in tickets:
        counts[calendar.local_date(ticket.created_at)]["tickets"] += 1
    days = []
    day = first
    while day <= last:
        c = counts.get(day, {})
        days.append(
            DayVolume(
                day=day,
                working=calendar.is_working_day(day),
                answered=c.get("answered", 0),
                suggested=c.get("suggested", 0),
                direct=c.get("direct", 0),
                tickets=c.get("tickets", 0),
            )
        )
        day += dt.timedelta(days=1)
    return tuple(days)
