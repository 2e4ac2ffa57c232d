"""Which incoming update the code now running is handling, so its effects can be replayed once.

Every update is stored before Telegram is told it arrived, and handled again after a crash if
its handling had not finished. Handling it again must not repeat what the first attempt already
did: a message the resident already got, a ticket already opened. Each effect therefore gets a
key made of the update's id and the effect's place in the handling ("u812:send:0"): a second
attempt, which takes the same steps, finds the keys of the steps already done.

The key travels in a context variable rather than through every call, because the handlers,
the service and the storage between them should not all grow a parameter for it; asyncio gives
each concurrently handled update its own context.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Operation:
    update_id: int
    # True when this update was handled before, by a process that stopped before it finished.
    replay: bool = False
    # Set when the bot began to stop in the middle of it: left unfinished, handled at next start.
    interrupted: bool = False
    _counters: dict[str, int] = field(default_factory=dict)

    def key(self, kind: str) -> str:
        """The next key for an effect of this kind; the same sequence on every attempt."""
        n = self._counters.get(kind, 0)
        self._counters[kind] = n + 1
        return f"u{self.update_id}:{kind}:{n}"


_current: ContextVar[Operation | None] = ContextVar("tanya_operation", default=None)


@contextlib.contextmanager
def handling(update_id: int, replay: bool = False) -> Iterator[Operation]:
    """Mark the code inside as the handling of one update."""
    operation = Operation(update_id, replay)
    token = _current.set(operation)
    try:
        yield operation
    finally:
        _current.reset(token)


def current() -> Operation | None:
    return _current.get()


def effect_key(kind: str) -> str | None:
    """A key for the next effect of this kind, or None outside an update (a test, a job)."""
    operation = _current.get()
    return operation.key(kind) if operation is not None else None


def from_this_update(source: str | None) -> bool:
    """Whether a row's effect key says the update being handled made it (on a replay)."""
    operation = _current.get()
    return bool(source and operation and source.startswith(f"u{operation.update_id}:"))


def replaying() -> bool:
    operation = _current.get()
    return operation is not None and operation.replay


def token_for(key: str | None, fallback: int) -> int:
    """A button token that a replay derives again (buttons already sent keep working), and that
    differs between lists (an old list's buttons do not match a newer one)."""
    if key is None:
        return fallback
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF
