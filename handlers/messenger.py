"""The core's Messenger, implemented with python-telegram-bot's Bot.

Telegram's errors become the core's `DeliveryError` reasons here, so the service can act on
"the resident blocked the bot" or "an admin deleted the topic" without knowing Telegram.
"""

from __future__ import annotations

import datetime as dt
import warnings

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from bot.messaging import Buttons, DeliveryError

# Sends go through do_api_request, which returns Telegram's JSON instead of building a Message
# object (the message id is all the bot needs): that object cost 13% of the bot's CPU under load.
# The request still passes python-telegram-bot's rate limiter and error mapping; only its hint
# that send_message exists is silenced.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.sendMessage'", category=PTBUserWarning)

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
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # PTB 22 warns that the int becomes a timedelta
            warnings.simplefilter("ignore")
            wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
        return DeliveryError("transient", exc.message, retry_after=seconds)
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        # Includes TimedOut and Telegram's 5xx answers, which PTB raises as NetworkError.
        return DeliveryError("transient", exc.message)
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
        params: dict[str, object] = {
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": _NO_PREVIEW,
        }
        if buttons:
            params["reply_markup"] = _markup(buttons)
        if thread_id is not None:
            params["message_thread_id"] = thread_id
        if reply_to is not None:
            params["reply_parameters"] = _reply(reply_to)
        try:
            result = await self.bot.do_api_request("sendMessage", api_kwargs=params)
        except TelegramError as exc:
            raise delivery_error(exc) from exc
        return int(result["message_id"])

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
        try:
            copied = await self.bot.copy_message(
                chat_id,
                from_chat_id,
                message_id,
                message_thread_id=thread_id,
                reply_parameters=_reply(reply_to),
                caption=caption,
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
