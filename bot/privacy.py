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

NIK_MASK = "[NIK/KK]"
PHONE_MASK = "[nomor HP]"


def mask(text: str) -> str:
    """The text with every NIK/KK and phone number replaced by a label."""
    return _PHONE.sub(PHONE_MASK, _NIK.sub(NIK_MASK, text))
