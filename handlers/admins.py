"""Handlers for the admin group: replies to tickets, commands, ticket buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers.runtime import service_of
from handlers.updates import answer_query, incoming, person


async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Relay an admin's reply in a ticket's thread to the resident."""
    msg = update.message
    if msg is None:
        return
    service = service_of(context)
    await service.admin_message(incoming(msg, service.config.language))


async def superior_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The PPID's superior replying to an objection's post: relayed to the resident."""
    msg = update.message
    if msg is None:
        return
    service = service_of(context)
    await service.superior_message(incoming(msg, service.config.language))


async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer /antrian, /tiket, /tutup, /statistik, /ambil, /kirim, /pindah."""
    msg = update.message
    if msg is None or msg.text is None:
        return
    service = service_of(context)
    words = msg.text.split()
    name = words[0][1:].split("@")[0].lower()
    await service.admin_command(incoming(msg, service.config.language), name, words[1:])


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Claim, move, send a candidate, close."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    service = service_of(context)
    toast = await service.admin_button(
        person(query.from_user, service.config.language), query.message.chat.id, query.data or ""
    )
    await answer_query(query, toast.text, toast.alert)
