"""Personal numbers (UU 27/2022 on personal data) kept out of logs, exports and statistics.

Residents write their NIK or KK number (16 digits, often grouped with spaces, dots or dashes)
and phone numbers (08…, 628…, +62 8…) into questions, because an officer needs them. The ticket
relay to admins keeps them; everything written for anyone else (log lines, a data export, a
report) goes through `mask`.
"""

from __future__ import annotations

import re

# 16 digits, each optionally followed by one separator; not part of a longer number.
_NIK = re.compile(r"(?<![\d])(?:\d[ .\-]?){15}\d(?![\d])")
# Indonesian mobile numbers: 08, 628 or +62 8, then 7 to 11 more digits, grouped any way.
_PHONE = re.compile(r"(?<![\d+])(?:\+62[ .\-]?|62[ .\-]?|0)8(?:[ .\-]?\d){7,11}(?![\d])")
# The same with the prefix in brackets: "(0812) 3456 7890".
_PHONE_BRACKETED = re.compile(r"\((?:\+62 ?|62|0)8\d{1,3}\)[ .\-]?\d(?:[ .\-]?\d){4,9}(?![\d])")
_LANDLINE = re.compile(r"(?<![\d+])\(0[1-79]\d{1,3}\)[ .\-]?\d(?:[ .\-]?\d){4,7}(?![\d])")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_DIGIT_GAP = re.compile(r"(?<=\d)[ \t\u00a0]{2,}(?=[\d(+])")

NIK_MASK = "[NIK/KK]"
PHONE_MASK = "[nomor HP]"
EMAIL_MASK = "[e-mail]"


def mask(text: str) -> str:
    """The text with every NIK/KK, phone number and e-mail address replaced by a label."""
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _NIK.sub(NIK_MASK, _collapse_in_numbers(text))
    for pattern in (_PHONE_BRACKETED, _PHONE, _LANDLINE):
        text = pattern.sub(PHONE_MASK, text)
    return text


def _collapse_in_numbers(text: str) -> str:
    """Runs of spaces between digits become one ("0812  3456" is a number typed loosely).
    Line breaks stay: a multi-line answer keeps its lines; one-line texts (questions in drafts,
    gaps and reports) are joined before they are masked."""
    return _DIGIT_GAP.sub(" ", text)
