"""Delivery that survives a flaky network and a crash: retries, and no message sent twice on replay.

`ReliableMessenger` wraps the real messenger for the service:

- a transient failure (network error, Telegram 5xx, 429 flood limit) is retried with
  exponential backoff, or after exactly the `retry_after` Telegram asked for, for up to
  `give_up_after` seconds; permanent failures (blocked, chat not found) go straight to the
  service, which marks the ticket and tells the admins;
- every message sent while an update is being handled is recorded under that step's key
  (bot.operation) right after Telegram accepted it. When the update is handled again after a
  crash, a step whose message is recorded is not sent again: its recorded message id is
  returned instead.

What no bot can promise: a crash in the instant between Telegram accepting a message and the
record being written (one local SQLite write, well under a millisecond) leaves no trace of the
send, and the replay sends it again. The Bot API has no idempotency key that would close this.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.messaging import Buttons, DeliveryError, Messenger
from bot.operation import current, effect_key, replaying
from bot.storage import Storage, StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY = 0.5
MAX_DELAY = 30.0


class Interrupted(Exception):
    """The bot is stopping while a send waits to be retried. The update stays unfinished and
    is handled at the next start, where the wait goes on; nothing is given up."""


class ReliableMessenger:
    def __init__(
        self,
        inner: Messenger,
        storage: Storage,
        *,
        give_up_after: float = 600.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.storage = storage
        self.give_up_after = give_up_after
        self._sleep = sleep
        self._stopping = asyncio.Event()

    def interrupt(self) -> None:
        """Stop waiting to retry (the bot is stopping): see `Interrupted`."""
        self._stopping.set()

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        buttons: Buttons = (),
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        return await self._once(
            chat_id,
            lambda: self.inner.send(
                chat_id, text, buttons=buttons, thread_id=thread_id, reply_to=reply_to
            ),
        )

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
        return await self._once(
            chat_id,
            lambda: self.inner.copy(
                chat_id,
                from_chat_id,
                message_id,
                thread_id=thread_id,
                reply_to=reply_to,
                caption=caption,
            ),
        )

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, buttons: Buttons = ()
    ) -> None:
        # Editing twice leaves the same message: no record needed.
        await self._retrying(lambda: self.inner.edit(chat_id, message_id, text, buttons=buttons))

    async def create_topic(self, chat_id: int, name: str) -> int:
        return await self._once(chat_id, lambda: self.inner.create_topic(chat_id, name), "topic")

    async def is_forum(self, chat_id: int) -> bool:
        return await self._retrying(lambda: self.inner.is_forum(chat_id))

    async def _once(
        self, chat_id: int, action: Callable[[], Awaitable[int]], kind: str = "send"
    ) -> int:
        key = effect_key(kind)
        if key is not None and replaying():
            done = await self.storage.sent_message(key)
            if done is not None:
                log.info("event=send_skipped_on_replay key=%s", key)
                return done
        message_id = await self._retrying(action)
        if key is not None:
            try:
                await self.storage.record_sent(key, chat_id, message_id)
            except StorageError as exc:
                # The message is out: the rest of the handling must go on. Only a replay
                # would resend it.
                log.error("event=send_not_recorded key=%s error=%s", key, exc)
        return message_id

    async def _retrying(self, action: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.give_up_after
        delay = FIRST_DELAY
        attempt = 0
        while True:
            try:
                return await action()
            except DeliveryError as exc:
                if exc.reason != "transient":
                    raise
                attempt += 1
                wait = exc.retry_after if exc.retry_after is not None else delay
                if time.monotonic() + wait > deadline:
                    log.error("event=delivery_gave_up attempts=%s detail=%s", attempt, exc.detail)
                    # Still failing after retrying: Telegram (or the network) is unreachable.
                    raise DeliveryError("unreachable", exc.detail) from exc
                log.warning(
                    "event=delivery_retry attempt=%s wait=%.1f detail=%s",
                    attempt,
                    wait,
                    exc.detail,
                )
                await self._wait(wait)
                # Jitter, so chats that failed together do not all come back in the same tick.
                delay = min(MAX_DELAY, delay * 2) * random.uniform(0.8, 1.2)

    async def _wait(self, seconds: float) -> None:
        if not self._stopping.is_set():
            stop = asyncio.ensure_future(self._stopping.wait())
            nap = asyncio.ensure_future(self._sleep(seconds))
            try:
                await asyncio.wait({stop, nap}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                nap.cancel()
        if self._stopping.is_set():
            operation = current()
            if operation is not None:
                operation.interrupted = True
            raise Interrupted("the bot is stopping")
