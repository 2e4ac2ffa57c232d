"""Turn a match into what the resident reads, independent of the messenger.

The Telegram handlers and the terminal chat render the same `Reply`, so what a resident sees
is tested once, in the core. Replies are short plain text for small screens and slow links;
every choice can be typed as a number, buttons are only a shortcut.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.i18n import t
from bot.knowledge import KnowledgeBase
from bot.matcher import MatchResult

MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


WEEKDAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")


def long_date(day: dt.date, *, weekday: bool = False) -> str:
    """'17 Desember 2026', or 'Kamis, 17 Desember 2026': dates as residents read them."""
    date = f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    return f"{WEEKDAYS[day.weekday()]}, {date}" if weekday else date


@dataclass(frozen=True)
class Reply:
    text: str
    choices: tuple[str, ...] = ()  # entry uids, numbered from 1 in `text`


def render(result: MatchResult, kb: KnowledgeBase, regency: str, language: str = "id") -> Reply:
    if result.decision == "smalltalk":
        return Reply(t(f"smalltalk.{result.smalltalk or 'greeting'}", language, regency=regency))
    if result.decision == "answer" and result.entry:
        return Reply(answer_text(result.entry, kb, language))
    if result.decision == "suggest":
        entries = [e for c in result.candidates if (e := kb.entry(c.entry)) is not None]
        if entries:
            lines = [t("reply.suggest_intro", language)]
            lines += [f"{n}. {e.questions[0]}" for n, e in enumerate(entries, start=1)]
            numbers = "1" if len(entries) == 1 else f"1-{len(entries)}"
            lines.append(t("reply.suggest_hint", language, numbers=numbers))
            return Reply("\n".join(lines), tuple(e.uid for e in entries))
    opd = kb.opds.get(result.opd) if result.opd else None
    if opd is not None:
        return Reply(t("reply.escalate_opd", language, opd=opd.name))
    return Reply(t("reply.escalate", language))


def answer_text(uid: str, kb: KnowledgeBase, language: str = "id") -> str:
    entry = kb.entry(uid)
    if entry is None:
        return t("reply.entry_gone", language)
    opd = kb.opds[entry.opd_id]
    parts = [entry.answer.strip()]
    if entry.links:
        parts.append("\n".join(entry.links))
    source = t("reply.source", language, opd=opd.name)
    if entry.updated:
        source = t("reply.source_dated", language, opd=opd.name, date=long_date(entry.updated))
    parts.append(source)
    return "\n\n".join(parts)
