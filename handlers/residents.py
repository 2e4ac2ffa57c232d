"""Handlers for residents' private chats: commands, messages, button presses."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers.runtime import service_of
from handlers.updates import answer_query, incoming, person


async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer /start, /bantuan, /menu, /status or an unknown command."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    service = service_of(context)
    name = message.text.split()[0][1:].split("@")[0].lower() if message.text.strip() else ""
    await service.resident_command(incoming(message, service.config.language), name)


async def message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Match a question, follow up a ticket, or escalate media."""
    msg = update.message
    if msg is None:
        return
    service = service_of(context)
    await service.resident_message(incoming(msg, service.config.language))


async def edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: the resident is told it is not read again."""
    msg = update.edited_message
    if msg is None:
        return
    service = service_of(context)
    await service.resident_edited(incoming(msg, service.config.language))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A pressed choice, feedback or menu button."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    service = service_of(context)
    toast = await service.resident_button(
        person(query.from_user, service.config.language), query.message.chat.id, query.data or ""
    )
    await answer_query(query, toast.text, toast.alert)
