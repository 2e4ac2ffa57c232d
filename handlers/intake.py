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

from bot.storage import Storage, StorageError

log = logging.getLogger(__name__)

# Handled updates hold residents' words: kept only as long as a replay could need them.
KEEP_HANDLED = dt.timedelta(days=1)
# How long a finished update waits for others to share the write that marks them done.
DONE_DELAY = 0.05


class DurableUpdateQueue(asyncio.Queue[Any]):
    def __init__(self, polling: bool = True) -> None:
        super().__init__()
        self.polling = polling
        self.storage: Storage | None = None
        self._replaying: set[int] = set()
        self._batch: list[Update] = []
        self._raw: dict[int, str] = {}
        self._check_next = False
        # Queued or being handled: the admins' side waits for earlier ones (earlier_done).
        self._open: set[int] = set()
        self._changed = asyncio.Condition()
        self._done: list[int] = []
        self._done_writer: asyncio.Task[None] | None = None

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
        if self._raw and not self._batch:
            # The last answer held updates but none reached put(): python-telegram-bot could
            # not read one of them (a field this version does not know how to parse).
            self._check_next = True
            self._raw = {}
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

    def saw_response(self, body: bytes) -> bytes | None:
        """Keep each update of a getUpdates answer as Telegram's own JSON: cheaper than
        serialising PTB's objects back (to_json), and exactly what arrived.

        After an answer python-telegram-bot could not read (see `flush`), the same updates
        come again: this time each is checked, and one that cannot be read is handed on in the
        plainest form that can (returned as the new body), so the offset moves past it instead
        of the bot asking for the same batch forever."""
        try:
            answer = json.loads(body)
            updates = answer.get("result")
        except (ValueError, AttributeError):
            return None
        if not isinstance(updates, list):
            return None
        check, self._check_next = self._check_next, False
        changed = False
        for index, update in enumerate(updates):
            if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                self._raw[update["update_id"]] = json.dumps(update, ensure_ascii=False)
                if check and not _readable(update):
                    updates[index] = _salvage(update)
                    changed = True
        return json.dumps(answer, ensure_ascii=False).encode() if changed else None

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
        that crashes a handler would only crash it again).

        The mark is written a moment later, together with the marks of other updates that
        ended meanwhile: one database write per batch instead of one per update. A crash in
        that moment only means the update is handled again at the next start, where every
        step it took is found done (bot.operation) and nothing is sent twice."""
        self._replaying.discard(update_id)
        self._done.append(update_id)
        if self._done_writer is None or self._done_writer.done():
            self._done_writer = asyncio.create_task(self._write_done_soon())
        self._open.discard(update_id)
        async with self._changed:
            self._changed.notify_all()

    async def _write_done_soon(self) -> None:
        await asyncio.sleep(DONE_DELAY)
        await self.write_done()

    async def write_done(self) -> None:
        done, self._done = self._done, []
        if not done or self.storage is None:
            return
        try:
            await self.storage.finish_updates(done)
        except StorageError as exc:
            # Left unfinished: handled again at the next start, which is safe (see finished).
            log.error("event=finish_mark_failed count=%s error=%s", len(done), exc)

    async def close(self) -> None:
        """Write the marks still waiting, before the database closes."""
        if self._done_writer is not None:
            await self._done_writer
        await self.write_done()

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


# What a message keeps when the rest of it cannot be read: enough to answer its sender.
_MESSAGE_CORE = ("message_id", "date", "chat", "from", "message_thread_id", "text", "caption")
_QUERY_CORE = ("id", "from", "chat_instance", "data", "inline_message_id")


def _readable(update: dict) -> bool:
    try:
        Update.de_json(update, None)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


def _salvage(update: dict) -> dict:
    """An unreadable update as python-telegram-bot can read it: a message keeps who sent it,
    where, and its words (its sender is answered as for any message the bot cannot read); a
    button press keeps its data and chat (the message it was under counts as inaccessible);
    anything else keeps only its id. The update as it arrived is still what is stored."""
    update_id = update["update_id"]
    kinds = ",".join(sorted(k for k in update if k != "update_id"))[:80]
    log.error("event=update_unreadable update=%s kinds=%s", update_id, kinds)
    for kind in ("message", "edited_message", "callback_query"):
        value = update.get(kind)
        if not isinstance(value, dict):
            continue
        if kind == "callback_query":
            core = {k: value[k] for k in _QUERY_CORE if k in value}
            under = value.get("message")
            if isinstance(under, dict):
                core["message"] = {k: under.get(k) for k in ("chat", "message_id")} | {"date": 0}
        else:
            core = {k: value[k] for k in _MESSAGE_CORE if k in value}
        plain = {"update_id": update_id, kind: core}
        if _readable(plain):
            return plain
    return {"update_id": update_id}
