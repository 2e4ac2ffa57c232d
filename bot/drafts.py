"""Draft knowledge entries made from answered tickets (`/faq N`), and the list of them.

A draft goes to `knowledge/_drafts/<opd-id>.yaml`, never into the live file: an admin's reply to
one resident ("Baik Bu, berkas Ibu sudah kami terima") is not yet an answer for everyone, and
only the OPD's editor can make it one. The draft is written in the knowledge-base format with
the id left empty, so `tanya kb check knowledge/_drafts` points the editor at the one field
still to fill, and the entry can be moved into the live file as it is.

Drafts are appended as text rather than re-dumped through YAML, so the editor's comments and
edits in the draft file survive the next `/faq`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.i18n import t
from bot.knowledge import Problem, check_knowledge
from bot.privacy import mask
from bot.yaml_append import NotAppendable, check_appendable, clean_block, one_line, quoted

DRAFTS_DIR = "_drafts"
# The comment above each draft entry: where it came from. `tanya kb drafts` reads it back.
_SOURCE = re.compile(r"^\s*#\s*(?:dari|from)\s+tiket\s+#(\d+)", re.IGNORECASE)


class DraftError(Exception):
    """The draft file cannot take another entry; the message says which file, line and why."""


@dataclass(frozen=True)
class Draft:
    opd_id: str
    opd_name: str
    question: str
    answer: str
    ticket_id: int
    answered_by: str
    day: dt.date
    # The entry an admin sent as the answer: the question is better added to it.
    related_entry: str | None = None


@dataclass(frozen=True)
class DraftEntry:
    id: str | None
    question: str
    ticket_id: int | None
    line: int


@dataclass(frozen=True)
class DraftFile:
    path: Path
    opd_id: str
    entries: tuple[DraftEntry, ...]
    problems: tuple[Problem, ...]


def drafts_dir(knowledge_dir: Path) -> Path:
    return knowledge_dir / DRAFTS_DIR


def write_draft(knowledge_dir: Path, draft: Draft, language: str = "id") -> Path:
    """Append the draft to its OPD's draft file (created with a header on first use)."""
    folder = drafts_dir(knowledge_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{draft.opd_id}.yaml"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        _check_appendable(path, text)
        if text and not text.endswith("\n"):
            text += "\n"
    else:
        text = _header(draft, language)
    path.write_text(text + _entry_block(draft, language), encoding="utf-8")
    return path


def _header(draft: Draft, language: str) -> str:
    comment = t("drafts.file_header", language, opd=draft.opd_id)
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    return "\n".join(
        [
            *lines,
            "opd:",
            f"  id: {draft.opd_id}",
            f"  name: {quoted(draft.opd_name)}",
            "entries:",
            "",
        ]
    )


def _entry_block(draft: Draft, language: str) -> str:
    notes = [
        t(
            "drafts.entry_source",
            language,
            ticket=draft.ticket_id,
            admin=one_line(draft.answered_by),
            day=draft.day.isoformat(),
        ),
        t("drafts.entry_todo", language),
    ]
    if draft.related_entry:
        notes.append(t("drafts.entry_related", language, entry=draft.related_entry))
    answer = [f"      {line}".rstrip() for line in clean_block(mask(draft.answer)).splitlines()]
    return "\n".join(
        [
            *(f"  # {note}" for note in notes),
            "  - id:",
            "    questions:",
            f"      - {quoted(mask(one_line(draft.question)))}",
            "    answer: |",
            *answer,
            f"    updated: {draft.day.isoformat()}",
            "",
            "",
        ]
    )


def _check_appendable(path: Path, text: str) -> None:
    try:
        check_appendable(text)
    except NotAppendable as exc:
        key = "drafts.broken_file" if exc.broken else "drafts.not_appendable"
        raise DraftError(t(key, file=path.name, line=exc.line)) from None


def list_drafts(knowledge_dir: Path) -> list[DraftFile]:
    """Every draft file with its entries and what `tanya kb check` says of it."""
    folder = drafts_dir(knowledge_dir)
    if not folder.is_dir():
        return []
    _, problems = check_knowledge(folder)
    found: list[DraftFile] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith((".", "_")):
            continue
        mine = tuple(p for p in problems if p.file is not None and Path(p.file).name == path.name)
        found.append(DraftFile(path, path.stem, _entries(path), mine))
    return found


def _entries(path: Path) -> tuple[DraftEntry, ...]:
    """The entries of a draft file, read leniently: a draft is work in progress."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ()
    found: list[DraftEntry] = []
    ticket: int | None = None
    for number, line in enumerate(lines, start=1):
        source = _SOURCE.match(line)
        if source:
            ticket = int(source.group(1))
            continue
        if line.startswith("  - id:"):
            raw = line.split(":", 1)[1].split("#", 1)[0].strip().strip("\"'")
            question = ""
            for later in lines[number : number + 6]:
                stripped = later.strip()
                if stripped.startswith("- ") and later.startswith("      "):
                    question = _unquote(stripped[2:])
                    break
            found.append(DraftEntry(raw or None, question, ticket, number))
            ticket = None
    return tuple(found)


def _unquote(text: str) -> str:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return str(value) if value is not None else ""
