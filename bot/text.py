"""Small text helpers for what people read on small screens."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

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
    """First and last name as the admins see them; never a phone number or username. A name
    made of invisible characters, or one that flips the text after it, is cleaned first."""
    name = " ".join(c for p in (first, last) if p and (c := clean(p).strip()))
    return shorten(name, 64) if name else fallback


# Characters a resident cannot see but that change what others see: direction overrides and
# isolates (a modified client can make "tiket #12" read as "#21 tekit"), zero-width spaces,
# the byte-order mark, and C0/C1 control characters. Zero-width joiners stay: emoji need them.
_INVISIBLE = re.compile(
    "[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\u061c\ufeff"
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
)
# A keycap digit ("1️⃣") is how some keyboards offer numbers: it means the digit.
_KEYCAP = re.compile("([0-9])\ufe0f?\u20e3")

Legibility = Literal["text", "nothing", "other_script"]


def clean(text: str) -> str:
    """A resident's words without invisible and control characters; keycaps become digits."""
    return _KEYCAP.sub(r"\1", _INVISIBLE.sub("", text)).replace("\t", " ")


def legibility(text: str) -> Legibility:
    """'nothing' when a message holds no letter, digit or emoji (only spaces, dots, question
    marks, invisible characters); 'other_script' when its letters are all in a script other
    than Latin, which neither the matcher nor, most likely, the admins can read; else 'text'."""
    latin = other = symbol = False
    for char in text:
        kind = unicodedata.category(char)
        if kind[0] == "L":
            if unicodedata.name(char, "").startswith("LATIN"):
                latin = True
            else:
                other = True
        elif kind[0] == "N" or kind == "So":
            symbol = True
    if latin:
        return "text"
    if other and not symbol:
        return "other_script"
    return "text" if symbol or other else "nothing"
