"""The core's Messenger, implemented with python-telegram-bot's Bot.

Telegram's errors become the core's `DeliveryError` reasons here, so the service can act on
"the resident blocked the bot" or "an admin deleted the topic" without knowing Telegram.
"""

from __future__ import annotations

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
)
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.messaging import Buttons, DeliveryError

# Links in answers stay links, but a preview card costs a resident on a slow connection data.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def _markup(buttons: Buttons) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in buttons]
    )


def _reply(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    # A reply to a message someone deleted is still worth sending, without the quote.
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


def delivery_error(exc: TelegramError) -> DeliveryError:
    """Translate a Bot API error (the description is Telegram's, e.g. 'Bad Request: ...')."""
    text = exc.message.lower()
    if isinstance(exc, Forbidden):
        return DeliveryError("blocked", exc.message)
    if isinstance(exc, BadRequest):
        if "thread not found" in text or "topic_deleted" in text or "topic_closed" in text:
            return DeliveryError("thread_missing", exc.message)
        if "chat not found" in text or "user not found" in text:
            return DeliveryError("not_found", exc.message)
        if "too long" in text:
            return DeliveryError("too_long", exc.message)
        if "not found" in text:
            return DeliveryError("not_found", exc.message)
    return DeliveryError("other", exc.message)


class TelegramMessenger:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        buttons: Buttons = (),
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        try:
            message = await self.bot.send_message(
                chat_id,
                text,
                reply_markup=_markup(buttons),
                message_thread_id=thread_id,
                reply_parameters=_reply(reply_to),
                link_preview_options=_NO_PREVIEW,
            )
        except TelegramError as exc:
            raise delivery_error(exc) from exc
        return message.message_id

    async def copy(
        self,
        chat_id: int,
        from_chat_id: int,
        message_id: int,
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        try:
            copied = await self.bot.copy_message(
                chat_id,
                from_chat_id,
                message_id,
                message_thread_id=thread_id,
                reply_parameters=_reply(reply_to),
            )
        except TelegramError as exc:
            raise delivery_error(exc) from exc
        return copied.message_id

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, buttons: Buttons = ()
    ) -> None:
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=_markup(buttons),
                link_preview_options=_NO_PREVIEW,
            )
        except TelegramError as exc:
            raise delivery_error(exc) from exc

    async def create_topic(self, chat_id: int, name: str) -> int:
        try:
            topic = await self.bot.create_forum_topic(chat_id, name)
        except TelegramError as exc:
            raise delivery_error(exc) from exc
        return topic.message_thread_id

    async def is_forum(self, chat_id: int) -> bool:
        try:
            chat = await self.bot.get_chat(chat_id)
        except TelegramError as exc:
            raise delivery_error(exc) from exc
        return bool(chat.is_forum)
