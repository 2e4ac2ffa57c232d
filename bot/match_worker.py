"""Matching in a process of its own, so the bot uses a second core.

The bot's event loop is what limits how many questions it handles per second: it parses
updates, sends replies and runs the matcher, all on one core (Python runs one thread at a time).
The matcher is the largest single part of that work and needs nothing but the message, so it
runs here, in a child process fed through a pipe. The loop only hands over the text and reads
back the decision (a few dozen microseconds), and matching runs in parallel on the other core.

Protocol: frames of a 4-byte big-endian length and a pickle, over the child's stdin and
stdout. The parent sends `("matcher", Matcher)` (at start and after each reload) and
`("match", text)`; the child answers every frame in order, with `("ok", value)` or
`("error", description)`. Both sides are this program, so pickle is safe here.

If the child dies or answers garbage, `MatchWorkerGone` is raised for every waiting and later
question and the caller matches in its own process (see Service._match): slower, never lost.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
from typing import Any, BinaryIO

from bot.heap import settle_heap
from bot.matcher import Matcher, MatchResult

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
# Unsent frames beyond this wait for the pipe (a 10,000-entry matcher is a few MB).
_HIGH_WATER = 1 << 20
_WARM_UP = "bagaimana cara mengurus surat"
# A match takes milliseconds; a child this slow is stuck, and residents must not wait on it.
MATCH_TIMEOUT = 10.0


class MatchWorkerGone(Exception):
    """The matching process is not there (any more): match in this process instead."""


def _frame(value: object) -> bytes:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


class MatchWorker:
    """The parent's side: start with `await MatchWorker.start(matcher)`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._gone: str | None = None
        self._reader = asyncio.create_task(self._read_answers())

    @classmethod
    async def start(cls, matcher: Matcher) -> MatchWorker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.match_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(process)
        await worker.use(matcher)
        log.info("event=match_worker_started pid=%s", process.pid)
        return worker

    @property
    def alive(self) -> bool:
        return self._gone is None

    async def use(self, matcher: Matcher) -> None:
        """Match with this matcher from now on (questions sent earlier use the old one).
        Pickling a large knowledge base takes a moment, so it runs in a thread."""
        frame = await asyncio.to_thread(_frame, ("matcher", matcher))
        await self._ask(frame)

    async def match(self, text: str) -> MatchResult:
        try:
            result = await asyncio.wait_for(self._ask(_frame(("match", text))), MATCH_TIMEOUT)
        except TimeoutError:
            self._stop(f"no answer in {MATCH_TIMEOUT:g} s", kill=True)
            raise MatchWorkerGone(self._gone) from None
        if not isinstance(result, MatchResult):
            self._stop(f"unexpected answer {type(result).__name__}", kill=True)
            raise MatchWorkerGone(self._gone)
        return result

    async def _ask(self, frame: bytes) -> Any:
        if self._gone is not None:
            raise MatchWorkerGone(self._gone)
        stdin = self._process.stdin
        assert stdin is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            stdin.write(frame)
            if stdin.transport.get_write_buffer_size() > _HIGH_WATER:
                await stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._stop(f"pipe closed: {exc}")
        return await future

    async def _read_answers(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            while True:
                (size,) = _HEADER.unpack(await stdout.readexactly(_HEADER.size))
                kind, value = pickle.loads(await stdout.readexactly(size))
                if not self._waiting:
                    raise ValueError("an answer nobody asked for")
                future = self._waiting.popleft()
                if future.done():
                    continue  # its asker was cancelled
                if kind == "ok":
                    future.set_result(value)
                else:
                    future.set_exception(MatchWorkerGone(f"matching failed: {value}"))
        except asyncio.CancelledError:
            raise
        except asyncio.IncompleteReadError:
            self._stop("it exited")
        except Exception as exc:  # a broken frame: the pipe cannot be trusted any more
            self._stop(f"unreadable answer: {exc}", kill=True)

    def _stop(self, why: str, kill: bool = False) -> None:
        """No more questions for the child; `kill` one that is alive but cannot be trusted.
        (One that exited is not signalled: that would reap it before asyncio's watcher can,
        which then reports a made-up exit code.)"""
        if self._gone is None:
            self._gone = why
            log.error("event=match_worker_gone reason=%s", why)
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(MatchWorkerGone(why))
        if kill and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()

    async def close(self) -> None:
        """End the child: it exits when its input closes."""
        if self._gone is None:
            self._gone = "closed"
        stdin = self._process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), timeout=5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self._stop("closed")


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The child's side: answer frames until the input ends."""
    matcher: Matcher | None = None
    while (header := _read_exact(stdin, _HEADER.size)) is not None:
        (size,) = _HEADER.unpack(header)
        body = _read_exact(stdin, size)
        if body is None:
            return
        try:
            kind, value = pickle.loads(body)
            if kind == "matcher":
                matcher = value
                matcher.match(_WARM_UP)  # first use builds caches: not on a resident's time
                settle_heap()
                answer: tuple[str, object] = ("ok", None)
            elif matcher is None:
                answer = ("error", "no matcher yet")
            else:
                answer = ("ok", matcher.match(value))
        except Exception as exc:  # answered, so the parent matches this one itself
            answer = ("error", f"{type(exc).__name__}: {exc}")
        stdout.write(_frame(answer))
        stdout.flush()


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group, and systemd sends SIGTERM to every
    # process of the service: the parent decides when this ends (it closes the pipe once its
    # last question is answered), and a parent that dies closes the pipe too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Frames go to the real stdout; anything a library prints goes to stderr instead of into
    # the pipe, where it would break the protocol.
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, frames)


if __name__ == "__main__":
    main()
