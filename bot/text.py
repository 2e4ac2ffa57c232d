"""Small text helpers for what people read on small screens."""

from __future__ import annotations

import re

from bot.messaging import MESSAGE_LIMIT

_BREAKS = ("\n\n", "\n", ". ", " ")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a long text into messages of at most `limit`, at paragraph, line or word ends.

    A resident should never see a word cut in half, so the cut goes back to the last paragraph
    break, else line break, sentence end or space inside the limit; only a single unbroken run
    longer than the limit is cut hard.
    """
    text = text.strip()
    parts: list[str] = []
    while utf16_len(text) > limit:
        window = _fit(text, limit)
        cut = -1
        for mark in _BREAKS:
            at = window.rfind(mark)
            if at > len(window) // 3:
                cut = at + (1 if mark == ". " else 0)
                break
        if cut <= 0:
            cut = len(window)
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def _fit(text: str, limit: int) -> str:
    """The longest prefix of `text` whose UTF-16 length is within `limit`."""
    lo, hi = 0, min(len(text), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if utf16_len(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def shorten_units(text: str, units: int) -> str:
    """Like `shorten`, but counted in UTF-16 units (a question made of emoji fits a post)."""
    line = text.strip()
    if utf16_len(line) <= units:
        return line
    return _fit(line, units - 1).rstrip() + "…"


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters, ending in '…' when cut."""
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def display_name(first: str | None, last: str | None, fallback: str) -> str:
    """First and last name as the admins see them; never a phone number or username."""
    name = " ".join(p.strip() for p in (first, last) if p and p.strip())
    return shorten(name, 64) if name else fallback
