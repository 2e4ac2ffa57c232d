"""The admin group's daily digest and the reminders for tickets past the internal target.

Both count working time on the regency's calendar (bot.workdays): a question sent on Friday
evening is not "three days late" on Monday morning. The texts are short and plain, as every
admin message is; the job queue in the handlers decides when they are sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Config
from bot.i18n import t
from bot.storage import Storage, Ticket
from bot.text import shorten
from bot.workdays import WorkCalendar

# Tickets listed by name in the digest; the rest are counted.
DIGEST_LIST = 10


@dataclass(frozen=True)
class Overdue:
    ticket: Ticket
    waited_s: float  # working seconds since the ticket was opened


def target_seconds(config: Config, calendar: WorkCalendar) -> float:
    return config.tickets.target_working_days * calendar.working_day_seconds


def overdue(
    tickets: list[Ticket], calendar: WorkCalendar, target_s: float, now: dt.datetime
) -> list[Overdue]:
    """Open tickets no admin has responded to within the target, longest wait first."""
    found = [
        Overdue(ticket, calendar.working_seconds(ticket.created_at, now))
        for ticket in tickets
        if ticket.status == "open" and ticket.first_response_at is None
    ]
    return sorted(
        (o for o in found if o.waited_s > target_s), key=lambda o: (-o.waited_s, o.ticket.id)
    )


def working_hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f}" if hours >= 10 else f"{hours:.1f}".replace(".", ",")


async def digest_text(
    storage: Storage,
    calendar: WorkCalendar,
    config: Config,
    opd_label: Callable[[str | None], str],
    now: dt.datetime,
) -> str:
    """Open and overdue tickets now, and what happened since the previous working day began."""
    lang = config.language
    today = calendar.local_date(now)
    since_day = _previous_working_day(calendar, today)
    since = dt.datetime.combine(since_day, dt.time(0), calendar.tz)
    until = dt.datetime.combine(today, dt.time(0), calendar.tz)
    target_s = target_seconds(config, calendar)
    tickets = await storage.open_tickets()
    late = overdue(tickets, calendar, target_s, now)
    waiting = sum(1 for tk in tickets if tk.first_response_at is None)
    lines = [
        t("digest.head", lang, day=today.strftime("%d-%m-%Y")),
        t("digest.open", lang, open=len(tickets), waiting=waiting),
        t("digest.overdue", lang, count=len(late), target=_days(config, lang)),
    ]
    for item in late[:DIGEST_LIST]:
        lines.append(
            t(
                "digest.overdue_line",
                lang,
                ticket=item.ticket.id,
                opd=opd_label(item.ticket.opd),
                hours=working_hours(item.waited_s),
                question=shorten(item.ticket.question, 60),
            )
        )
    if len(late) > DIGEST_LIST:
        lines.append(t("digest.more", lang, count=len(late) - DIGEST_LIST))
    requests = await storage.open_requests()
    if requests:
        soon = sum(
            1
            for r in requests
            if now <= r.due_at
            and calendar.working_days_until(today, calendar.local_date(r.due_at))
            <= config.ppid.remind_days_before
        )
        lapsed = sum(1 for r in requests if now > r.due_at)
        lines.append(t("digest.requests", lang, open=len(requests), soon=soon, late=lapsed))
    stats = await storage.stats(since, until)
    responses = await storage.first_responses(since, until)
    waits = sorted(calendar.working_seconds(created, first) for created, first in responses)
    share = f"{100 * stats.answered / stats.questions:.0f}%" if stats.questions else "-"
    lines += [
        "",
        t(
            "digest.since",
            lang,
            day=since_day.strftime("%d-%m"),
            questions=stats.questions,
            answered=stats.answered,
            share=share,
            escalated=stats.escalated,
            responded=len(waits),
            median=working_hours(_median(waits)) if waits else "-",
            helpful=stats.helpful,
            not_helpful=stats.not_helpful,
        ),
    ]
    return "\n".join(lines)


def reminder_text(item: Overdue, config: Config) -> str:
    return t(
        "digest.reminder",
        config.language,
        ticket=item.ticket.id,
        hours=working_hours(item.waited_s),
        target=_days(config, config.language),
    )


def _days(config: Config, lang: str) -> str:
    days = config.tickets.target_working_days
    return t("digest.days", lang, n=f"{days:g}".replace(".", ","))


def _previous_working_day(calendar: WorkCalendar, today: dt.date) -> dt.date:
    day = today - dt.timedelta(days=1)
    for _ in range(60):
        if calendar.is_working_day(day):
            return day
        day -= dt.timedelta(days=1)
    return today - dt.timedelta(days=1)


def _median(values: list[float]) -> float:
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
