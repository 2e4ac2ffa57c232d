"""Process updates concurrently across chats, in order within each chat.

python-telegram-bot handles one update at a time by default, which caps the bot at the speed of
one Bot API round trip. Fully concurrent processing would let a resident's second message
overtake the first (a typed "2" before the list it answers). This processor runs different chats
concurrently and each chat's updates strictly in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.operation import handling
from handlers.intake import DurableUpdateQueue


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(
        self, max_concurrent_updates: int = 64, intake: DurableUpdateQueue | None = None
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.intake = intake
        self.stopping = False
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._users: dict[int | None, int] = {}

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the chat's turn first, then for a slot: a resident who sends 100 messages
        at once must hold one slot, not all of them, while the other chats go on."""
        key = _chat_key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await super().process_update(update, coroutine)
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                # Forget idle chats so the table does not grow with every resident ever seen.
                del self._users[key]
                del self._locks[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update) or self.intake is None:
            await coroutine
            return
        if self.stopping:
            # Stopping: an update not yet started stays unfinished in the database and is
            # handled at the next start, so stopping does not work off the backlog first.
            coroutine.close()  # type: ignore[attr-defined]
            return
        # The coroutine runs in this task's context: its effects are keyed by this update.
        with handling(update.update_id, replay=self.intake.is_replay(update.update_id)) as op:
            await coroutine
        if op.interrupted:
            return  # stays unfinished in the database: handled again at the next start
        await self.intake.finished(update.update_id)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def _chat_key(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    if isinstance(update, Update) and update.effective_user is not None:
        return update.effective_user.id
    return None
