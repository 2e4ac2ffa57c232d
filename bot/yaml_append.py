"""Entries appended to a knowledge YAML file as text, so the comments an editor wrote survive.

The bot writes knowledge in two places: draft entries from answered tickets (bot.drafts) and
clarifications (bot.clarify). Both add text at the end of a file rather than dumping parsed YAML
again, which would drop every comment; this module holds what both need for that.
"""

from __future__ import annotations

import json
import re

import yaml

_TOP_KEY = re.compile(r"^[A-Za-z_]+\s*:")
_ENTRIES_LINE = re.compile(r"^entries\s*:\s*(#.*)?$")


class NotAppendable(Exception):
    """The file cannot take an entry at its end: `broken` YAML, or `entries:` not last."""

    def __init__(self, broken: bool, line: int) -> None:
        super().__init__(f"{'broken' if broken else 'not appendable'} at line {line}")
        self.broken = broken
        self.line = line


def check_appendable(text: str) -> None:
    """A new entry can go at the end only while the file ends inside its `entries:` list."""
    try:
        data = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise NotAppendable(True, mark.line + 1 if mark else 1) from None
    last_top: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if _TOP_KEY.match(line):
            last_top = (number, line)
    entries = data.get("entries") if isinstance(data, dict) else None
    # "entries:" with the list below it (or still empty), last in the file.
    open_list = last_top is not None and _ENTRIES_LINE.match(last_top[1]) is not None
    if not (open_list and (entries is None or isinstance(entries, list))):
        raise NotAppendable(False, last_top[0] if last_top else 1)


def clean_block(text: str) -> str:
    """Text a block scalar can hold: no tabs (YAML indents with spaces), no stray controls."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = "".join(ch for ch in text if ch == "\n" or ch.isprintable())
    return text.strip() or "-"


def one_line(text: str) -> str:
    return " ".join(clean_block(text).split())


def quoted(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar: safe for ':', '#' and quotes.
    return json.dumps(text, ensure_ascii=False)
