"""Flood control: keep to Telegram's limits up front instead of learning them from 429s.

Telegram takes about 30 messages a second from a bot in all, about one a second into one private
chat and 20 a minute into one group; beyond that it answers 429 "retry after N", and a bot that
keeps sending while N runs is held back longer, so every resident waits. python-telegram-bot's
`AIORateLimiter` falls short of that: it has no limit per private chat; its leaky buckets refill
continuously, so up to 39 messages can reach a group within one minute; by default a 429 halts
nothing; and with retries switched on its halt is lifted by whichever request finishes next
(PTB issue 5338), so the bot sends while Telegram still says wait.

Hence sliding windows, in which a request counts from the moment it is made until `period`
after its answer came back. Telegram saw the request at some moment in between, so "at most N
in any window" holds on Telegram's side as well, whatever the network's delay.

A 429 halts every request, not only those to its chat: Telegram's answer does not say which
limit was hit. The halt is a deadline that a later 429 can only push back; no request lifts it,
so it cannot end early. The request that got the 429 is not retried here. Its caller
(`bot.delivery.ReliableMessenger`) waits the `retry_after`, in a wait the bot's stop can cut
short, and sends again through this limiter, where the halt has by then run out: nothing waits
twice, and the retry is paced like any other request.

When the bot stops (`interrupt`), a request still waiting for its turn gives up as a network
error: its caller leaves the update unfinished for the next start, so a stop does not wait for
a backlog of ticket posts at 20 a minute.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter, TimedOut
from telegram.ext import BaseRateLimiter

from bot.config import TelegramConfig

log = logging.getLogger(__name__)

Result = bool | dict[str, Any] | list[dict[str, Any]]
Limit = tuple[int, float]  # at most this many requests in any window of this many seconds

# Methods that put a message into a chat or change one: what Telegram's limits count. Other
# methods (getChat, answerCallbackQuery, ...) are not paced, but they wait out a 429 like all.
_MESSAGE_PREFIXES = ("send", "copy", "forward", "edit", "stop")
_MESSAGE_METHODS = frozenset({"createForumTopic"})  # posts a service message into the group

# Per-chat windows are forgotten once idle; the table is swept when it has grown this large.
_SWEEP_AT = 1024


def counts_as_message(endpoint: str) -> bool:
    return endpoint.startswith(_MESSAGE_PREFIXES) or endpoint in _MESSAGE_METHODS


async def _wait(
    stopping: asyncio.Event, seconds: float | None, event: asyncio.Event | None
) -> None:
    """Wait `seconds`, or for `event`; raise TimedOut if the bot starts stopping first."""
    if not stopping.is_set():
        waited = asyncio.sleep(seconds or 0.0) if event is None else event.wait()
        pending = {asyncio.ensure_future(waited), asyncio.ensure_future(stopping.wait())}
        try:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pending:
                task.cancel()
    if stopping.is_set():
        raise TimedOut("the bot is stopping: request left for the next start")


class _Window:
    """At most `count` requests in any `period` seconds, each counting from the moment it is
    made until `period` after its answer. Waiters are served first come, first served."""

    __slots__ = ("_answered", "_freed", "_in_flight", "_stopping", "_turn", "count", "period")

    def __init__(self, count: int, period: float, stopping: asyncio.Event) -> None:
        self.count = count
        self.period = period
        self._stopping = stopping
        self._in_flight = 0
        self._answered: deque[float] = deque()  # when answers came back, oldest first
        self._turn = asyncio.Lock()  # FIFO: only the first waiter watches the clock
        self._freed = asyncio.Event()

    def _full(self, now: float) -> bool:
        while self._answered and self._answered[0] <= now - self.period:
            self._answered.popleft()
        return self._in_flight + len(self._answered) >= self.count

    def idle(self) -> bool:
        self._full(time.monotonic())  # drops answers that have left the window
        return not (self._turn.locked() or self._in_flight or self._answered)

    async def take(self) -> None:
        async with self._turn:
            while self._full(now := time.monotonic()):
                if self._answered:  # room comes when the oldest answer leaves the window
                    await _wait(self._stopping, self._answered[0] + self.period - now, None)
                else:  # every place is in flight: wait for an answer first
                    self._freed.clear()
                    await _wait(self._stopping, None, self._freed)
            self._in_flight += 1

    def give_back(self) -> None:
        self._in_flight -= 1
        self._answered.append(time.monotonic())
        self._freed.set()


def _chat_key(chat_id: object) -> int | str | None:
    if chat_id is None:
        return None
    if isinstance(chat_id, int):
        return chat_id
    try:
        return int(str(chat_id))
    except ValueError:
        return str(chat_id)  # "@channelname": a channel or supergroup


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int becomes a timedelta
        warnings.simplefilter("ignore")
        wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)


class FloodLimiter(BaseRateLimiter[None]):
    """python-telegram-bot's rate-limiter hook (getUpdates never passes through it)."""

    def __init__(
        self,
        *,
        overall: Limit = (30, 1.0),
        private_chat: Limit = (1, 1.0),
        group: Limit = (20, 60.0),
    ) -> None:
        self._stopping = asyncio.Event()
        self._overall = _Window(*overall, self._stopping)
        self._private = private_chat
        self._group = group
        self._chats: dict[int | str, _Window] = {}
        self._sweep_at = _SWEEP_AT
        self._halted_until = 0.0  # time.monotonic(); only ever moved later

    @classmethod
    def from_config(cls, telegram: TelegramConfig) -> FloodLimiter:
        return cls(
            overall=(telegram.sends_per_second, 1.0),
            private_chat=(telegram.sends_per_second_per_chat, 1.0),
            group=(telegram.sends_per_minute_per_group, 60.0),
        )

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def interrupt(self) -> None:
        """The bot is stopping: requests waiting for their turn give up (module docstring)."""
        self._stopping.set()

    @property
    def halted_for(self) -> float:
        """Seconds until requests may go out again after a 429 (0 when not halted)."""
        return max(0.0, self._halted_until - time.monotonic())

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Result:
        taken: list[_Window] = []
        try:
            for window in self._windows(endpoint, data):
                await window.take()
                taken.append(window)
            # Last, right before the request: a 429 may have come while this one queued.
            while (left := self._halted_until - time.monotonic()) > 0:
                await _wait(self._stopping, left, None)
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            self._halted_until = max(self._halted_until, time.monotonic() + seconds)
            log.warning("event=flood_halt seconds=%.1f method=%s", seconds, endpoint)
            raise
        finally:
            for window in taken:
                window.give_back()

    def _windows(self, endpoint: str, data: dict[str, Any]) -> list[_Window]:
        """The chat's window (narrowest first), then the bot's; none for other methods."""
        if not counts_as_message(endpoint):
            return []
        chat = _chat_key(data.get("chat_id"))
        if chat is None:  # e.g. an inline message: only the bot-wide limit applies
            return [self._overall]
        window = self._chats.get(chat)
        if window is None:
            if len(self._chats) >= self._sweep_at:
                self._chats = {k: w for k, w in self._chats.items() if not w.idle()}
                self._sweep_at = max(_SWEEP_AT, 2 * len(self._chats))
            private = isinstance(chat, int) and chat > 0
            limit = self._private if private else self._group
            window = self._chats[chat] = _Window(*limit, self._stopping)
        return [window, self._overall]
