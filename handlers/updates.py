"""Translate Telegram updates into the core's `Incoming` and `Person`."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Message, User
from telegram.error import TelegramError

from bot.i18n import t
from bot.messaging import Incoming, Person
from bot.text import display_name

# Checked in this order: a venue also carries a location, a voice note is not a document.
_MEDIA_FIELDS = (
    "photo",
    "voice",
    "video_note",
    "video",
    "audio",
    "document",
    "venue",
    "location",
    "contact",
)


log = logging.getLogger(__name__)


async def answer_query(query: CallbackQuery, text: str | None, alert: bool) -> None:
    """Answer a button press; one pressed long ago (Telegram: "query is too old") is fine."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as exc:
        log.info("event=callback_not_answered reason=%s", type(exc).__name__)


def person(user: User | None, language: str = "id") -> Person:
    if user is None:
        return Person(0, t("name.unknown", language))
    return Person(
        user.id, display_name(user.first_name, user.last_name, t("name.unknown", language))
    )


def media_kind(message: Message) -> str | None:
    if message.animation:
        # A GIF also carries a document; like a sticker it is a reaction, not a question.
        return "sticker"
    for field in _MEDIA_FIELDS:
        if getattr(message, field, None):
            return field
    if message.sticker:
        return "sticker"
    if message.text is None and message.caption is None:
        return "other"
    return None


def incoming(message: Message, language: str = "id") -> Incoming:
    reply = message.reply_to_message
    return Incoming(
        chat_id=message.chat_id,
        message_id=message.message_id,
        sender=person(message.from_user, language),
        text=message.text if message.text is not None else message.caption,
        media=media_kind(message),
        thread_id=message.message_thread_id if message.is_topic_message else None,
        reply_to=reply.message_id if reply is not None else None,
        reply_to_bot_text=_bot_text(message),
        reply_to_text=(reply.text if reply.text is not None else reply.caption) if reply else None,
        reply_to_media=_announced_kind(reply) if reply is not None else None,
    )


# Entities that carry what plain text loses (a link behind words, bold, a quote): such a text
# is copied when it is announced, not re-sent as plain text.
_FORMATTING = frozenset(
    {
        "text_link",
        "text_mention",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "pre",
        "blockquote",
        "expandable_blockquote",
        "custom_emoji",
    }
)


def _announced_kind(message: Message) -> str | None:
    """media_kind, and "text" for a text whose formatting or hidden links plain text loses."""
    kind = media_kind(message)
    formatted = any(entity.type in _FORMATTING for entity in message.entities or ())
    if kind is None and message.text is not None and formatted:
        return "text"
    return kind


def _bot_text(message: Message) -> str | None:
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or not reply.from_user.is_bot:
        return None
    if message.get_bot().id != reply.from_user.id:
        return None
    return reply.text
