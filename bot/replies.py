"""Turn a match into what the resident reads, independent of the messenger.

The Telegram handlers and the terminal chat render the same `Reply`, so what a resident sees
is tested once, in the core. Replies are short plain text for small screens and slow links;
every choice can be typed as a number, buttons are only a shortcut.
"""

from __future__ import annotations

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
        lines = [t("reply.suggest_intro", language)]
        uids = []
        for number, candidate in enumerate(result.candidates, start=1):
            entry = kb.entry(candidate.entry)
            if entry is None:
                continue
            uids.append(entry.uid)
            lines.append(f"{number}. {entry.questions[0]}")
        numbers = ", ".join(str(n) for n in range(1, len(uids)))
        numbers = f"{numbers} atau {len(uids)}" if len(uids) > 1 else "1"
        lines.append(t("reply.suggest_hint", language, numbers=numbers))
        return Reply("\n".join(lines), tuple(uids))
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
        date = f"{entry.updated.day} {MONTHS[entry.updated.month - 1]} {entry.updated.year}"
        source = t("reply.source_dated", language, opd=opd.name, date=date)
    parts.append(source)
    return "\n\n".join(parts)
