"""Official clarifications (/klarifikasi) as dated entries of the knowledge base.

A hoax spreads in WhatsApp groups ("bantuan 5 juta lewat link"); the regency's clarification
goes to the subscribers, and the residents who only hear of it later ask the bot. So each
clarification is also an entry of `knowledge/klarifikasi.yaml`, a file the bot owns and editors
may edit: its question is the rumour as the admin named it (else the clarification's first
sentence), its answer the clarification, its `updated` the local date.

Entries are appended as text, as drafts are (bot.drafts), so an editor's comments and edits
survive the next clarification. The new file is written beside the knowledge in a hidden
folder, checked there by the real loader, and only then moved over the old one (os.replace,
atomic): a half-written or invalid file never reaches the bot or the watcher.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.i18n import t
from bot.knowledge import check_knowledge
from bot.replies import long_date
from bot.yaml_append import NotAppendable, check_appendable, clean_block, one_line, quoted

CLARIFY_OPD = "klarifikasi"
FILE_NAME = f"{CLARIFY_OPD}.yaml"
QUESTION_LIMIT = 200  # characters of a question taken from the clarification
# The comment above each entry names its announcement; a replay finds the entry by it.
_SOURCE = re.compile(r"^\s*#\s*dari pengumuman #(\d+)\b", re.IGNORECASE)


class ClarifyError(Exception):
    """The entry cannot be added; the message (Indonesian) says why, for the admin group."""


@dataclass(frozen=True)
class Clarification:
    announcement_id: int
    question: str
    answer: str
    from_name: str | None  # the OPD it came from; None for the whole regency
    admin: str
    day: dt.date  # the regency's local date
    regency: str


def first_sentence(text: str) -> str:
    """The clarification's first sentence, the question when the admin named no rumour."""
    flat = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    sentence = match.group(1) if match else flat
    if len(sentence) > QUESTION_LIMIT:
        sentence = sentence[: QUESTION_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    return sentence


def write_clarification(knowledge_dir: Path, c: Clarification, language: str = "id") -> str:
    """Append the clarification as an entry; return its id. Runs in a thread (disk work).

    Written once per announcement: when an entry of this announcement is there already (the
    command handled again after a crash), its id is returned and nothing is written.
    """
    path = knowledge_dir / FILE_NAME
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ClarifyError(
                t("announce.kb_file_broken", language, file=FILE_NAME, line=1)
            ) from None
        found = _entry_of(text, c.announcement_id)
        if found is not None:
            return found
        _check_appendable(text, language)
        if text and not text.endswith("\n"):
            text += "\n"
    else:
        text = _header(c, language)
    entry_id = _next_id(text, c.day)
    _replace_checked(knowledge_dir, path, text + _entry_block(entry_id, c, language))
    return entry_id


def _replace_checked(knowledge_dir: Path, path: Path, content: str) -> None:
    """Write `content` over `path` only if the knowledge loader accepts it."""
    folder = Path(tempfile.mkdtemp(prefix=f".{CLARIFY_OPD}-", dir=knowledge_dir))
    try:
        draft = folder / path.name
        with draft.open("w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        kb, problems = check_knowledge(folder)
        if kb is None:
            errors = [p.render(folder) for p in problems if p.severity == "error"]
            raise ClarifyError("\n".join(f"• {e}" for e in errors[:5]))
        os.replace(draft, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _header(c: Clarification, language: str) -> str:
    comment = t("announce.kb_file_header", language, regency=c.regency)
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    name = t("announce.kb_opd_name", language, regency=c.regency)
    return "\n".join(
        [*lines, "opd:", f"  id: {CLARIFY_OPD}", f"  name: {quoted(name)}", "entries:", ""]
    )


def _entry_block(entry_id: str, c: Clarification, language: str) -> str:
    source = t(
        "announce.kb_entry_source",
        language,
        id=c.announcement_id,
        admin=one_line(c.admin),
        day=c.day.isoformat(),
    )
    answer = clean_block(c.answer)
    if c.from_name:
        answer += "\n\n" + t(
            "announce.kb_answer_from", language, opd=c.from_name, date=long_date(c.day)
        )
    lines = [f"      {line}".rstrip() for line in answer.splitlines()]
    return "\n".join(
        [
            f"  # {source}",
            f"  - id: {entry_id}",
            "    questions:",
            f"      - {quoted(one_line(c.question))}",
            "    answer: |",
            *lines,
            f"    updated: {c.day.isoformat()}",
            "",
            "",
        ]
    )


def _entry_of(text: str, announcement_id: int) -> str | None:
    """The id of the entry an announcement already wrote, if any."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        match = _SOURCE.match(line)
        if match and int(match.group(1)) == announcement_id:
            for later in lines[number + 1 : number + 3]:
                if later.strip().startswith("- id:"):
                    return later.split(":", 1)[1].split("#", 1)[0].strip().strip("\"'")
    return None


def _next_id(text: str, day: dt.date) -> str:
    stem = f"{CLARIFY_OPD}-{day.strftime('%Y%m%d')}-"
    taken = [int(n) for n in re.findall(rf"\b{re.escape(stem)}(\d+)\b", text)]
    return f"{stem}{max(taken, default=0) + 1}"


def _check_appendable(text: str, language: str) -> None:
    try:
        check_appendable(text)
    except NotAppendable as exc:
        key = "announce.kb_file_broken" if exc.broken else "announce.kb_not_appendable"
        raise ClarifyError(t(key, language, file=FILE_NAME, line=exc.line)) from None
