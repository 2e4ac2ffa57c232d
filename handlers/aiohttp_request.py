"""python-telegram-bot's networking backend on aiohttp instead of httpx.

Measured on loopback (benchmarks/bench_bot.py and a send-only loop): one sendMessage through
PTB's default `HTTPXRequest` costs about 3 ms of CPU, through this class about 0.4 ms. The bot is
CPU-bound on one core under load, so this is most of the difference between 200 and 300+
questions per second. PTB documents `BaseRequest` as the place to plug in another HTTP library;
its sister project ptbcontrib has a similar class but is not published on PyPI.

Timeouts follow PTB's meaning per request: `read_timeout` bounds the wait for the response (PTB
adds the long-poll time to it for getUpdates), `connect_timeout` the TCP connect, and
`pool_timeout` the wait for a free connection plus the connect. aiohttp has no write timeout;
bodies here are small, and the read timeout covers a stalled upload. The read timeout is 15 s,
not PTB's 5 s: a send that times out after Telegram accepted it is sent again when retried, so
a slow answer should not count as a lost one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_DEFAULT = BaseRequest.DEFAULT_NONE
_JSON = "application/json"


def _pick(value: object, default: float | None) -> float | None:
    """A timeout the caller left at PTB's DEFAULT_NONE takes this request's default."""
    if value is _DEFAULT:
        return default
    return value  # type: ignore[return-value]


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a bounded connection pool, created in `initialize`."""

    def __init__(
        self,
        connection_pool_size: int = 64,
        *,
        read_timeout: float | None = 15.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_read_timeout: float | None = 30.0,
        before_request: Callable[[], Awaitable[None]] | None = None,
        on_response: Callable[[bytes], bytes | None] | None = None,
    ) -> None:
        # Awaited before every request: the getUpdates request stores the previous batch
        # first (handlers.intake), so its offset confirms only what is safe. `on_response`
        # sees each response body (intake keeps the updates' JSON as Telegram sent it) and may
        # return a replacement (intake makes an unreadable update readable).
        self._before = before_request
        self._on_response = on_response
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_read = media_read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        # The session binds to the running loop, so it cannot be made in __init__ (the
        # Application is built before its loop runs).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                timeout=aiohttp.ClientTimeout(total=None),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None = _DEFAULT,  # type: ignore[assignment]
        write_timeout: float | None = _DEFAULT,  # type: ignore[assignment]
        connect_timeout: float | None = _DEFAULT,  # type: ignore[assignment]
        pool_timeout: float | None = _DEFAULT,  # type: ignore[assignment]
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        if self._before is not None:
            await self._before()
        files = bool(request_data and request_data.contains_files)
        body = _body(request_data)
        headers = {"User-Agent": self.USER_AGENT}
        if isinstance(body, bytes):
            headers["Content-Type"] = _JSON
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_pick(pool_timeout, self._pool),
            sock_connect=_pick(connect_timeout, self._connect),
            sock_read=_pick(read_timeout, self._media_read if files else self._read),
        )
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
            ) as response:
                content = await response.read()
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise TimedOut("Pool timeout: no free connection to the Bot API") from exc
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # The class name says more than an often empty message (e.g. ServerDisconnectedError).
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        if self._on_response is not None and response.status == 200:
            content = self._on_response(content) or content
        return response.status, content


def _body(request_data: RequestData | None) -> bytes | aiohttp.FormData | None:
    """A JSON body (the Bot API takes application/json for everything but uploads), or
    multipart when the request uploads a file, as PTB's own backend sends it. One json.dumps
    costs less than PTB's per-field encoding plus form quoting, a measurable share of a send."""
    if request_data is None:
        return None
    if not request_data.multipart_data:
        params = request_data.parameters
        return json.dumps(params, ensure_ascii=False).encode() if params else None
    form = aiohttp.FormData(request_data.json_parameters)
    for field, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(field, content, filename=filename, content_type=mimetype)
    return form
