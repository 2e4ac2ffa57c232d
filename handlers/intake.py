"""Durable intake: every update is in SQLite before Telegram learns that it arrived.

python-telegram-bot's Updater confirms a batch of updates (the next getUpdates carries a higher
offset) as soon as it has put them into the Application's update queue, and the webhook server
answers 200 once the update is in that queue. Both wait for `update_queue.put()`, so this queue
writes the update to the database inside `put()`: in polling mode the offset that confirms an
update is sent only after it is stored, in webhook mode the 200 is. A crash then loses nothing:
at the next start, stored updates whose handling did not finish are queued again, before any new
one, and handled with `bot.operation` marking them as a replay.

In polling mode the updates of one getUpdates answer are written together, in one statement,
just before the next getUpdates goes out (`flush`, called by that request): the offset it
carries confirms exactly what is stored, and a batch costs one database write instead of one
per update. Only then are they handed to the Application.

Telegram delivers an update again when the confirming offset never reached it (a crash right
after the store). The database refuses an update id it holds, and only the updates it took are
handled: each update is handled once. (Ids are not compared by size: after a week without
updates Telegram starts from a random id.)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from typing import Any

from telegram import Bot, Update

from bot.storage import Storage

log = logging.getLogger(__name__)

# Handled updates hold residents' words: kept only as long as a replay could need them.
KEEP_HANDLED = dt.timedelta(days=1)


class DurableUpdateQueue(asyncio.Queue[Any]):
    def __init__(self, polling: bool = True) -> None:
        super().__init__()
        self.polling = polling
        self.storage: Storage | None = None
        self._replaying: set[int] = set()
        self._batch: list[Update] = []
        self._raw: dict[int, str] = {}
        # Queued or being handled: the admins' side waits for earlier ones (earlier_done).
        self._open: set[int] = set()
        self._changed = asyncio.Condition()

    async def put(self, item: Any) -> None:
        if not isinstance(item, Update) or self.storage is None:
            await super().put(item)
        elif self.polling:
            self._batch.append(item)  # stored and queued by flush(), before the next poll
        elif await self.storage.store_update(item.update_id, item.to_json()):
            self._open.add(item.update_id)
            await super().put(item)
        else:
            log.info("event=update_seen_before update=%s", item.update_id)

    async def flush(self) -> None:
        """Store the updates of the last getUpdates answer, then queue those not seen before.
        If the store fails, the batch stays for the next attempt (PTB retries the request
        that carries the confirming offset only after this returns)."""
        if not self._batch or self.storage is None:
            return
        batch = self._batch
        rows = [(u.update_id, self._raw.get(u.update_id) or u.to_json()) for u in batch]
        fresh = await self.storage.store_updates(rows)
        self._batch, self._raw = [], {}
        if len(fresh) < len(batch):
            log.info("event=updates_seen_before count=%s", len(batch) - len(fresh))
        for update in batch:
            if update.update_id in fresh:
                self._open.add(update.update_id)
                await super().put(update)

    def saw_response(self, body: bytes) -> None:
        """Keep each update of a getUpdates answer as Telegram's own JSON: cheaper than
        serialising PTB's objects back (to_json), and exactly what arrived."""
        try:
            updates = json.loads(body).get("result")
        except (ValueError, AttributeError):
            return
        if isinstance(updates, list):
            for update in updates:
                if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                    self._raw[update["update_id"]] = json.dumps(update, ensure_ascii=False)

    async def open(self, storage: Storage, bot: Bot) -> int:
        """Start storing, and queue the updates a previous process left unhandled."""
        self.storage = storage
        count = 0
        for update_id, body in await storage.unfinished_updates():
            try:
                update = Update.de_json(json.loads(body), bot)
            except (ValueError, TypeError, KeyError):
                log.error("event=update_unreadable update=%s", update_id)
                await storage.finish_updates([update_id])
                continue
            if update is None:
                continue
            self._replaying.add(update_id)
            self._open.add(update_id)
            await super().put(update)
            count += 1
        if count:
            log.info("event=replaying_updates count=%s", count)
        return count

    def drop_queued(self) -> int:
        """The bot is stopping: let go of updates not yet started. They are in the database,
        unfinished, and handled first at the next start, so stopping need not wait for them."""
        dropped = 0
        while not self.empty():
            item = self.get_nowait()
            self.task_done()
            if isinstance(item, Update):
                self._open.discard(item.update_id)
                dropped += 1
        if dropped:
            log.info("event=stopping_with_queued count=%s", dropped)
        return dropped

    def is_replay(self, update_id: int) -> bool:
        return update_id in self._replaying

    async def finished(self, update_id: int) -> None:
        """The update's handling ended (an error in a handler ends it too: replaying an update
        that crashes a handler would only crash it again)."""
        self._replaying.discard(update_id)
        try:
            if self.storage is not None:
                await self.storage.finish_updates([update_id])
        finally:
            self._open.discard(update_id)
            async with self._changed:
                self._changed.notify_all()

    async def earlier_done(self, update_id: int, timeout: float = 30.0) -> None:
        """Wait until every update that arrived before this one was handled (or the timeout
        passed). An admin may answer a ticket post within milliseconds of its sending, while
        the handler that sent it is still recording it, or, after a crash, before the replay
        got that far: the reply must wait for that record, not be taken for chatter."""

        def settled() -> bool:
            return not any(u < update_id for u in self._open)

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(settled), timeout)
