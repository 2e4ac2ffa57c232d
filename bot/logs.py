"""Logging for operators: one line per event, no personal data, never the bot token.

Log lines carry ids, decisions and scores, not what residents wrote or who they are. The token
can still reach a log through a library (httpx logs request URLs, which contain it), so every
line is scrubbed of the secrets given here before it is written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.privacy import mask

REDACTED = "[redacted]"


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        # A NIK or phone number can still reach a line inside an error's text.
        return mask(text)


class WithholdReceivedData(logging.Filter):
    """python-telegram-bot logs a whole getUpdates answer (residents' names and words) when
    it cannot read one update in it. Intake sets the update aside and logs its id
    (event=update_unreadable); the line stays, without the data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Error while parsing updates"):
            record.msg, record.args = "Error while parsing updates (data withheld)", ()
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # At DEBUG python-telegram-bot logs every request's parameters: residents' words.
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))
    handler.addFilter(WithholdReceivedData())
