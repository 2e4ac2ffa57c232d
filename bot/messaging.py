"""The core's view of a messenger: what came in, and how to send something out.

The conversation logic (`bot.service`) speaks only these types. The Telegram handlers translate
updates into `Incoming` and implement `Messenger` with the Bot API; the terminal chat implements
it with print(). So the bot, `tanya chat` and the tests run the same logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

# Media a resident or admin can send that the bot relays by copying, not by reading.
MediaKind = Literal[
    "photo", "voice", "audio", "video", "video_note", "document", "location", "venue", "contact"
]
MEDIA_KINDS: tuple[str, ...] = (
    "photo",
    "voice",
    "audio",
    "video",
    "video_note",
    "document",
    "location",
    "venue",
    "contact",
)
# Telegram's limit for one text message (and what the fake Bot API enforces), in UTF-16 units.
MESSAGE_LIMIT = 4096


@dataclass(frozen=True)
class Button:
    text: str
    data: str  # at most 64 bytes (Telegram's callback_data limit)


Buttons = Sequence[Sequence[Button]]


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str  # display name: first and last name, never a phone number


@dataclass(frozen=True)
class Incoming:
    """One message, from a resident's private chat or from the admin group."""

    chat_id: int
    message_id: int
    sender: Person
    text: str | None = None  # text, or a media caption
    media: str | None = None  # one of MEDIA_KINDS, or "sticker", "other"
    thread_id: int | None = None  # forum topic of the admin group
    reply_to: int | None = None  # message id this one replies to
    # The text of the message replied to, when the bot wrote it (Telegram sends it along).
    reply_to_bot_text: str | None = None
    # The message replied to, whoever wrote it: its text or caption, and its media kind
    # (/umumkan sends the message it replies to).
    reply_to_text: str | None = None
    # The media of the message replied to; "text" for a text with formatting or hidden links.
    reply_to_media: str | None = None


class DeliveryError(Exception):
    """A message could not be delivered; `reason` says why in the core's own words."""

    def __init__(
        self,
        reason: Literal[
            "blocked",
            "thread_missing",
            "not_found",
            "too_long",
            "transient",
            "unreachable",
            "other",
        ],
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        # "transient" (network error, server error, flood limit): worth trying again, after
        # `retry_after` seconds when the messenger said how long to wait.
        self.retry_after = retry_after


class Messenger(Protocol):
    """What the core needs from a messenger; every method raises DeliveryError on failure."""

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        buttons: Buttons = (),
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        """Send plain text; return the new message's id."""
        ...

    async def copy(
        self,
        chat_id: int,
        from_chat_id: int,
        message_id: int,
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
        caption: str | None = None,
    ) -> int:
        """Copy a message (text, photo, voice, document, location, ...); return the copy's id.
        `caption` replaces a media message's caption (None keeps it)."""
        ...

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, buttons: Buttons = ()
    ) -> None:
        """Replace a sent message's text and buttons."""
        ...

    async def create_topic(self, chat_id: int, name: str) -> int:
        """Create a forum topic; return its thread id."""
        ...

    async def is_forum(self, chat_id: int) -> bool:
        """Whether the chat is a forum supergroup (topics)."""
        ...
