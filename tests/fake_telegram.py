"""A fake Telegram Bot API server for end-to-end tests of the real python-telegram-bot stack.

Tests build a real ``Application``/``Bot`` with ``base_url(fake.base_url)`` so every layer of PTB
(parameter encoding, HTTP, error mapping, update parsing) runs as in production; only Telegram
is replaced. The fake keeps a small model of the world (chats, stored messages, forum topics,
blocked users) so answers look like Telegram's, including its quirks, and records every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import math
import re
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

TOKEN = "123456:TEST-token"
BOT_ID = 123456
BOT_USERNAME = "tanya_test_bot"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Tanya",
    "username": BOT_USERNAME,
}
MAX_TEXT, MAX_CAPTION = 4096, 1024
DEFAULT_ICON_COLOR = 7322096
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


def _names(text: str) -> frozenset[str]:
    """Long lists of parameter names, written as one string to keep them readable."""
    return frozenset(text.split())


# PTB sends str values raw and everything else JSON-encoded, so a text "123" or "[1]" arrives
# exactly like an int or a list would. These parameters are always strings and are never decoded.
STRING_PARAMS = _names(
    "text caption name parse_mode callback_query_id inline_message_id url title description "
    "short_description query emoji language_code photo voice document audio video animation "
    "sticker video_note file_id secret_token action address foursquare_id google_place_id "
    "icon_custom_emoji_id message_effect_id business_connection_id first_name last_name "
    "phone_number vcard question explanation data custom_title ip_address"
)
ID_PARAMS = ("chat_id", "from_chat_id", "user_id", "message_id", "message_thread_id")
JSON_LIKE = re.compile(r"[{\[]|-?\d+(\.\d+)?([eE][-+]?\d+)?$|true$|false$|null$")
# Fields that make up a message's content: what copyMessage/forwardMessage carry over.
CONTENT_FIELDS = _names(
    "text entities caption caption_entities photo voice audio document video video_note "
    "animation sticker location venue contact poll dice"
)
ADMIN_RIGHTS = _names(
    "can_be_edited can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members "
    "can_promote_members can_change_info can_invite_users can_post_stories can_edit_stories "
    "can_delete_stories can_pin_messages can_manage_topics"
)
RESTRICTED_RIGHTS = _names(
    "can_change_info can_invite_users can_pin_messages can_send_messages can_send_polls "
    "can_send_other_messages can_add_web_page_previews can_manage_topics can_send_audios "
    "can_send_documents can_send_photos can_send_videos can_send_video_notes "
    "can_send_voice_notes can_edit_tag"
)


@dataclass
class Call:
    """One Bot API request as the fake saw and answered it."""

    method: str
    params: dict
    result: Any
    error: tuple[int, str] | None
    at: float = field(default_factory=time.monotonic)  # when it was answered
    arrived: float = field(default_factory=time.monotonic)  # when the request came in


class ApiError(Exception):
    """Raised by a method implementation to answer ``{"ok": false, ...}``."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{code} {description}")
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood limits, for a fake that enforces them (opt-in: `FakeTelegram(limits=)`).

    Each limit is (messages, seconds): at most that many accepted messages in any window of that
    many seconds, as sliding windows (stricter than any bucket that refills): `overall` for the
    bot in all chats together, `private_chat` into one private chat (Telegram tolerates short
    bursts here; the fake does not), `group` into one group. A message is a call of a method
    that puts a message into a chat or changes one (send*, copy*, forward*, edit*, stop*).
    Beyond a limit the fake answers 429 with a whole-second `retry_after`, and its scope (the
    chat, or the whole bot for `overall`) stays closed until then: any request into a closed
    scope, of any method but getUpdates, is a violation. A 429 from `fail_next` closes the whole
    bot for its retry_after.
    """

    overall: tuple[int, float] = (30, 1.0)
    private_chat: tuple[int, float] = (1, 1.0)
    group: tuple[int, float] = (20, 60.0)


_WHOLE_BOT = "bot"
_MESSAGE_PREFIXES = ("send", "copy", "forward", "edit", "stop")


class _FloodError(Exception):
    def __init__(self, retry_after: int, *, violation: bool) -> None:
        super().__init__(f"Too Many Requests: retry after {retry_after}")
        self.retry_after, self.violation = retry_after, violation


def _decode_value(key: str, raw: str) -> Any:
    """Undo PTB's form encoding: JSON-decode non-string parameters (ids, markup, bools)."""
    if key in STRING_PARAMS or not JSON_LIKE.match(raw):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _normalise_ids(params: dict) -> dict:
    """Telegram accepts ids as "123"/"-100123"; tests compare ints, so store them as ints."""
    for key in ID_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            params[key] = int(value)
    return params


def _visible_text(text: str, parse_mode: str | None) -> str:
    """Telegram checks length and emptiness on the rendered text, after HTML tags are parsed."""
    if (parse_mode or "").upper() == "HTML":
        return html.unescape(re.sub(r"<[^>]*>", "", text))
    return text


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?(?![\w/@])")


def _with_entities(content: dict) -> dict:
    """Telegram marks /commands as bot_command entities; PTB's CommandHandler needs them."""
    text = content.get("text")
    if isinstance(text, str) and "entities" not in content:
        entities = [
            {
                "type": "bot_command",
                "offset": _utf16_len(text[: m.start()]),
                "length": _utf16_len(m.group()),
            }
            for m in COMMAND.finditer(text)
        ]
        if entities:
            content = {**content, "entities": entities}
    return content


def _nested(message: dict) -> dict:
    """A message as embedded in reply_to_message: Telegram nests only one level."""
    inner = copy.deepcopy(message)
    inner.pop("reply_to_message", None)
    return inner


def _markup(value: Any) -> dict | None:
    """An empty inline keyboard means "no keyboard" to Telegram."""
    if not value or value == {"inline_keyboard": []}:
        return None
    return value


class FakeTelegram:
    """In-process Bot API server on 127.0.0.1 with a random port; see the module docstring."""

    def __init__(
        self,
        *,
        forum_chats: set[int] = frozenset(),
        members: dict | None = None,
        limits: FloodLimits | None = None,
    ):
        self.forum_chats: set[int] = set(forum_chats)
        self.members: dict = dict(members or {})
        self.blocked: set[int] = set()
        self.topics: dict[int, dict[int, str]] = {}
        self.chat_titles: dict[int, str] = {}
        self.files: dict[str, bytes] = {}
        self.calls: list[Call] = []
        self.base_url = self.base_file_url = ""
        self._messages: dict[int, dict[int, dict]] = {}
        self._last_id: dict[int, int] = {}
        self._users: dict[int, dict] = {}
        self._deleted_topics: set[tuple[int, int]] = set()
        self._faults: dict[str, list[ApiError]] = {}
        self._updates: list[dict] = []
        self._next_update_id = 1
        self._serial = 0
        self._pollers: set[asyncio.Event] = set()
        self._call_waiters: set[asyncio.Event] = set()
        self._in_flight: set[asyncio.Task] = set()
        self._server: tornado.httpserver.HTTPServer | None = None
        # Flood control, enforced only with `limits` (see FloodLimits).
        self.limits = limits
        self.flood_refused: list[Call] = []  # 429s for going over a limit
        self.flood_violations: list[Call] = []  # requests while a retry_after was pending
        self._flood_sent: dict[int | str, deque[float]] = {}  # accepted messages, by scope
        self._flood_until: dict[int | str, float] = {}  # scope closed until (monotonic)
        self._slow: dict[str, list[float]] = {}
        self._methods = {
            name[5:].lower(): (name[5:], getattr(self, name))
            for name in dir(self)
            if name.startswith("_api_")
        }

    # ----------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Bind a free port now, so base_url is known before the Application is built."""
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([A-Za-z0-9_]+)/?", _ApiHandler, {"fake": self}),
                (r"/file/bot([^/]+)/files/(.+)", _FileHandler, {"fake": self}),
            ],
            log_function=lambda handler: None,  # 4xx answers are expected; keep logs quiet
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        self.base_file_url = f"http://127.0.0.1:{port}/file/bot"

    async def stop(self) -> None:
        """End pending long polls first so connections can close without waiting for timeouts."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stop()
        self._wake(self._pollers)
        if self._in_flight:  # let woken polls write their [] before connections are closed
            await asyncio.wait(set(self._in_flight), timeout=2)
        await server.close_all_connections()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------- inspection
    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        """Successful calls, optionally of one method (any case) and to one chat."""
        wanted = self._canonical(method) if method else None
        return [
            c
            for c in self.calls
            if c.error is None
            and (wanted is None or c.method == wanted)
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    async def wait_for(
        self, predicate: Callable[[Call], bool], *, count: int = 1, timeout: float = 5.0
    ) -> list[Call]:
        """Wait until `count` recorded calls match; the bot answers asynchronously to updates."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matches = [c for c in self.calls if predicate(c)]
            remaining = deadline - loop.time()
            if len(matches) >= count:
                return matches
            if remaining <= 0:
                raise AssertionError(
                    f"expected {count} matching call(s), got {len(matches)} within {timeout}s; "
                    f"recent calls:\n{self.summary()}"
                )
            event = asyncio.Event()
            self._call_waiters.add(event)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self._call_waiters.discard(event)

    async def wait_sent(
        self, method: str, chat_id: int | None = None, *, count: int = 1, timeout: float = 5.0
    ) -> list[Call]:
        """Wait for `count` successful calls of `method` (to `chat_id` when given)."""
        wanted = self._canonical(method)
        return await self.wait_for(
            lambda c: (
                c.error is None
                and c.method == wanted
                and (chat_id is None or c.params.get("chat_id") == chat_id)
            ),
            count=count,
            timeout=timeout,
        )

    def summary(self, last: int = 15) -> str:
        """Recent calls, one a line, for assertion messages."""
        lines = []
        for c in self.calls[-last:]:
            outcome = f"ERROR {c.error[0]} {c.error[1]}" if c.error else "ok"
            params = json.dumps(c.params, ensure_ascii=False, default=str)[:160]
            lines.append(f"  {c.method} {params} -> {outcome}")
        return "\n".join(lines) or "  (no calls)"

    def texts(self, chat_id: int) -> list[str]:
        """What a user now sees from the bot in a chat: texts/captions, edits/deletes applied."""
        messages = sorted(self._messages.get(chat_id, {}).items())
        return [
            m.get("text", m.get("caption"))
            for _, m in messages
            if m.get("from", {}).get("id") == BOT_ID and ("text" in m or "caption" in m)
        ]

    def message(self, chat_id: int, message_id: int) -> dict | None:
        return self._messages.get(chat_id, {}).get(message_id)

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    # ------------------------------------------------------------------------- world / faults
    def fail_next(
        self,
        method: str,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail (flood control, outages, ...)."""
        queue = self._faults.setdefault(method.lower(), [])
        queue.extend(ApiError(code, description, retry_after) for _ in range(times))

    def slow_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` only after `seconds` (a slow request that
        is still in flight while other things happen)."""
        self._slow.setdefault(method.lower(), []).extend([seconds] * times)

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """An admin deleted the topic: later sends into it answer "message thread not found"."""
        self.topics.get(chat_id, {}).pop(thread_id, None)
        self._deleted_topics.add((chat_id, thread_id))

    # ---------------------------------------------------------------------- feeding updates
    def push(self, update: dict) -> dict:
        """Queue a raw update and wake pending long polls."""
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._updates.append(update)
        self._wake(self._pollers)
        return update

    def private_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Warga",
        last_name: str | None = None,
        username: str | None = None,
        reply_to: int | None = None,
    ) -> dict:
        user = self._user(user_id, first_name, last_name, username)
        return self._incoming(user_id, user, reply_to, None, {"text": text})

    def private_message(self, user_id: int, *, first_name: str = "Warga", **fields: Any) -> dict:
        """A private non-text message, e.g. voice={...}, photo=[...], location={...}."""
        return self._incoming(user_id, self._user(user_id, first_name), None, None, fields)

    def group_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        first_name: str = "Admin",
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> dict:
        user = self._user(user_id, first_name)
        return self._incoming(chat_id, user, reply_to, thread_id, {"text": text})

    def group_message(
        self,
        chat_id: int,
        user_id: int,
        *,
        first_name: str = "Admin",
        reply_to: int | None = None,
        thread_id: int | None = None,
        **fields: Any,
    ) -> dict:
        return self._incoming(chat_id, self._user(user_id, first_name), reply_to, thread_id, fields)

    def edited_private_text(self, user_id: int, message_id: int, text: str) -> dict:
        """The user edited an earlier message: the stored copy changes, as in Telegram."""
        msg = self.message(user_id, message_id)
        if msg is None:
            raise KeyError(f"no message {message_id} in chat {user_id}")
        msg.pop("entities", None)
        msg.update(_with_entities({"text": text}), edit_date=int(time.time()))
        return self.push({"edited_message": copy.deepcopy(msg)})

    def callback(
        self, user_id: int, data: str, *, chat_id: int, message_id: int, first_name: str = "Admin"
    ) -> dict:
        """A button press on a stored message (unknown ones arrive as inaccessible, date 0)."""
        msg = self.message(chat_id, message_id)
        self._serial += 1
        query = {
            "id": str(9_000_000 + self._serial),
            "from": self._user(user_id, first_name),
            "chat_instance": str(zlib.crc32(str(chat_id).encode())),
            "data": data,
            "message": copy.deepcopy(msg)
            if msg
            else {
                "chat": self._chat(chat_id),
                "message_id": message_id,
                "date": 0,
            },
        }
        return self.push({"callback_query": query})

    # ----------------------------------------------------------------------------- internals
    def _canonical(self, method: str) -> str:
        return self._methods.get(method.lower(), (method, None))[0]

    @staticmethod
    def _wake(events: set[asyncio.Event]) -> None:
        for event in list(events):
            event.set()

    def _user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
    ) -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        user.update({k: v for k, v in (("last_name", last_name), ("username", username)) if v})
        self._users[user_id] = user
        return dict(user)

    def _chat(self, chat_id: int) -> dict:
        if chat_id > 0:
            user = self._users.get(chat_id, {"first_name": "Warga"})
            names = {k: user[k] for k in ("first_name", "last_name", "username") if k in user}
            return {"id": chat_id, "type": "private", **names}
        chat = {
            "id": chat_id,
            "type": "supergroup",
            "title": self.chat_titles.get(chat_id, f"Group {chat_id}"),
        }
        if chat_id in self.forum_chats:
            chat["is_forum"] = True
        return chat

    def _next_id(self, chat_id: int) -> int:
        self._last_id[chat_id] = self._last_id.get(chat_id, 0) + 1
        return self._last_id[chat_id]

    def _store(self, msg: dict) -> dict:
        chat_id = msg["chat"]["id"]
        self._last_id[chat_id] = max(self._last_id.get(chat_id, 0), msg["message_id"])
        self._messages.setdefault(chat_id, {})[msg["message_id"]] = msg
        return msg

    def _new_message(
        self,
        chat_id: int,
        sender: dict,
        content: dict,
        *,
        thread_id: int | None = None,
        reply: dict | None = None,
    ) -> dict:
        """Store a message; in a forum topic an unreplied message replies to the topic's
        creation message, which is how Telegram marks topic membership."""
        msg = {
            "message_id": self._next_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": dict(sender),
        }
        msg.update({k: v for k, v in content.items() if v is not None})
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            if chat_id in self.forum_chats:
                msg["is_topic_message"] = True
                reply = reply or self.message(chat_id, thread_id)
        if reply is not None:
            msg["reply_to_message"] = _nested(reply)
        return self._store(msg)

    def _create_topic(
        self, chat_id: int, name: str, icon_color: int, sender: dict, thread_id: int | None = None
    ) -> int:
        """The topic's id is the id of its forum_topic_created service message."""
        thread_id = thread_id or self._next_id(chat_id)
        self.topics.setdefault(chat_id, {})[thread_id] = name
        self._store(
            {
                "message_id": thread_id,
                "date": int(time.time()),
                "chat": self._chat(chat_id),
                "from": dict(sender),
                "message_thread_id": thread_id,
                "is_topic_message": True,
                "forum_topic_created": {"name": name, "icon_color": icon_color},
            }
        )
        return thread_id

    def _incoming(
        self, chat_id: int, user: dict, reply_to: int | None, thread_id: int | None, content: dict
    ) -> dict:
        reply = None
        if reply_to is not None:
            reply = self.message(chat_id, reply_to)
            if reply is None:
                raise KeyError(f"no message {reply_to} in chat {chat_id} to reply to")
        known = thread_id in self.topics.get(chat_id, {}) or (
            (chat_id, thread_id) in self._deleted_topics
        )
        if thread_id is not None and chat_id in self.forum_chats and not known:
            # a topic an admin created: register it with its creation message
            self._create_topic(chat_id, f"Topic {thread_id}", DEFAULT_ICON_COLOR, user, thread_id)
        content = _with_entities(content)
        msg = self._new_message(chat_id, user, content, thread_id=thread_id, reply=reply)
        return self.push({"message": copy.deepcopy(msg)})

    def _target(self, p: dict, key: str = "chat_id") -> int:
        chat_id = p.get(key)
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _prepare_send(self, p: dict) -> tuple[int, int | None, dict | None]:
        """Checks every send shares: blocked user, reply target, topic still alive."""
        chat_id = self._target(p)
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        reply_params = p.get("reply_parameters") or {}
        reply_id = reply_params.get("message_id") or p.get("reply_to_message_id")
        reply = self.message(chat_id, reply_id) if reply_id else None
        if reply_id and reply is None and not reply_params.get("allow_sending_without_reply"):
            raise ApiError(400, "Bad Request: message to be replied not found")
        thread_id = p.get("message_thread_id")
        if thread_id is None and reply is not None and reply.get("is_topic_message"):
            thread_id = reply["message_thread_id"]  # a reply lands in the replied-to topic
        if (
            thread_id is not None
            and chat_id in self.forum_chats
            and thread_id not in self.topics.get(chat_id, {})
        ):
            raise ApiError(400, "Bad Request: message thread not found")
        return chat_id, thread_id, reply

    @staticmethod
    def _check_text(text: Any, parse_mode: str | None, *, caption: bool = False) -> None:
        visible = _visible_text(str(text or ""), parse_mode)
        if caption:
            if _utf16_len(visible) > MAX_CAPTION:
                raise ApiError(400, "Bad Request: message caption is too long")
            return
        if not visible.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(visible) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")

    def _editable(self, p: dict) -> dict:
        msg = self.message(self._target(p), p.get("message_id"))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if msg.get("from", {}).get("id") != BOT_ID:
            raise ApiError(400, "Bad Request: message can't be edited")
        return msg

    def _file_id(self, value: Any, kind: str) -> str:
        if isinstance(value, dict):  # an upload, already registered by _dispatch
            return value["file_id"]
        if not value:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        return str(value)

    def _send_media(self, p: dict, kind: str) -> dict:
        chat_id, thread_id, reply = self._prepare_send(p)
        self._check_text(p.get("caption"), p.get("parse_mode"), caption=True)
        file_id = self._file_id(p.get(kind), kind)
        media = {"file_id": file_id, "file_unique_id": f"U{zlib.crc32(file_id.encode())}"}
        content: dict[str, Any] = {
            "photo": {"photo": [{**media, "width": 320, "height": 320}]},
            "voice": {"voice": {**media, "duration": p.get("duration") or 1}},
            "document": {"document": media},
        }[kind]
        content.update(caption=p.get("caption"), reply_markup=_markup(p.get("reply_markup")))
        return self._new_message(chat_id, BOT_USER, content, thread_id=thread_id, reply=reply)

    # ---------------------------------------------------------------------------- dispatching
    async def _dispatch(
        self,
        token: str,
        method: str,
        params: dict,
        uploads: dict[str, tuple[str, bytes]],
        wake: asyncio.Event,
    ) -> tuple[int, dict]:
        arrived = time.monotonic()
        name, impl = self._methods.get(method.lower(), (method, None))
        for part, (filename, body) in uploads.items():
            self._serial += 1
            file_id = f"upload-{self._serial}"
            self.files[file_id] = body
            params.setdefault(part, {"file_id": file_id, "filename": filename, "size": len(body)})
        result: Any = None
        try:
            if token != TOKEN:
                raise ApiError(401, "Unauthorized")
            if impl is None:
                raise ApiError(404, "Not Found")
            if self.limits is not None and name != "getUpdates":
                self._flood_check(name, params, arrived)
            if self._faults.get(name.lower()):
                fault = self._faults[name.lower()].pop(0)
                if self.limits is not None and fault.code == 429 and fault.retry_after:
                    self._close(_WHOLE_BOT, time.monotonic() + fault.retry_after)
                raise fault
            if self._slow.get(name.lower()):
                await asyncio.sleep(self._slow[name.lower()].pop(0))
            try:
                result = await impl(params, wake) if name == "getUpdates" else impl(params)
            except KeyError as missing:  # a required parameter was not sent
                raise ApiError(400, f"Bad Request: {missing.args[0]} is required") from None
        except _FloodError as flood:
            call = Call(name, params, None, (429, str(flood)), arrived=arrived)
            (self.flood_violations if flood.violation else self.flood_refused).append(call)
            self._record(call)
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": str(flood),
                "parameters": {"retry_after": flood.retry_after},
            }
        except ApiError as err:
            self._record(Call(name, params, None, (err.code, err.description), arrived=arrived))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": err.code,
                "description": err.description,
            }
            if err.retry_after is not None:
                body["parameters"] = {"retry_after": err.retry_after}
            return err.code, body
        result = copy.deepcopy(result)
        self._record(Call(name, params, result, None, arrived=arrived))
        return 200, {"ok": True, "result": result}

    def _flood_check(self, name: str, params: dict, now: float) -> None:
        """Refuse a request into a closed scope (a violation), or a message over a limit."""
        assert self.limits is not None
        chat = params.get("chat_id")
        chat = chat if isinstance(chat, int | str) else None
        scopes: list[int | str] = [_WHOLE_BOT] + ([chat] if chat is not None else [])
        until = max(self._flood_until.get(scope, 0.0) for scope in scopes)
        if until > now:
            raise _FloodError(math.ceil(until - now), violation=True)
        if not name.startswith(_MESSAGE_PREFIXES):
            return
        windows = [(_WHOLE_BOT, self.limits.overall)]
        if chat is not None:
            private = isinstance(chat, int) and chat > 0
            windows.append((chat, self.limits.private_chat if private else self.limits.group))
        for scope, (count, period) in windows:
            sent = self._flood_sent.setdefault(scope, deque())
            while sent and sent[0] <= now - period:
                sent.popleft()
            if len(sent) >= count:
                retry_after = max(1, math.ceil(sent[0] + period - now))
                self._close(scope, now + retry_after)
                raise _FloodError(retry_after, violation=False)
        for scope, _ in windows:
            self._flood_sent[scope].append(now)

    def _close(self, scope: int | str, until: float) -> None:
        self._flood_until[scope] = max(self._flood_until.get(scope, 0.0), until)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._wake(self._call_waiters)

    async def _api_getUpdates(self, p: dict, wake: asyncio.Event) -> list[dict]:
        """Offset confirms (drops) older updates; long-poll wakes on push, stop or disconnect."""
        offset = int(p.get("offset") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        timeout = float(p.get("timeout") or 0)
        if not self._updates and timeout > 0 and self._server is not None:
            self._pollers.add(wake)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)
            finally:
                self._pollers.discard(wake)
        if self._server is None:
            return []
        return self._updates[: max(1, min(int(p.get("limit") or 100), 100))]

    # ------------------------------------------------------------------- Bot API: bot & chats
    def _api_getMe(self, p: dict) -> dict:
        return {
            **BOT_USER,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _api_deleteWebhook(self, p: dict) -> bool:
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_getWebhookInfo(self, p: dict) -> dict:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _api_getMyCommands(self, p: dict) -> list:
        return []

    def _true(self, p: dict) -> bool:
        return True

    _api_logOut = _api_close = _api_setWebhook = _api_setMyCommands = _true
    _api_deleteMyCommands = _api_answerCallbackQuery = _api_leaveChat = _true

    def _api_sendChatAction(self, p: dict) -> bool:
        self._prepare_send(p)
        return True

    def _api_getChat(self, p: dict) -> dict:
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return {
            **self._chat(self._target(p)),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": gifts,
        }

    def _api_getChatMember(self, p: dict) -> dict:
        chat_id, user_id = self._target(p), self._target(p, "user_id")
        user = self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "Warga"})
        if user_id == BOT_ID:
            user = BOT_USER
        member = self.members.get((chat_id, user_id), "member")
        member = {"status": member} if isinstance(member, str) else dict(member)
        status = member["status"]
        defaults: dict[str, Any] = {
            "creator": {"is_anonymous": False},
            "administrator": {"is_anonymous": False, **dict.fromkeys(ADMIN_RIGHTS, True)},
            "restricted": {
                "is_member": True,
                "until_date": 0,
                **dict.fromkeys(RESTRICTED_RIGHTS, False),
            },
            "kicked": {"until_date": 0},
        }.get(status, {})
        return {**defaults, "user": dict(user), **member}

    def _api_getFile(self, p: dict) -> dict:
        file_id = str(p.get("file_id"))
        return {
            "file_id": file_id,
            "file_unique_id": f"U{zlib.crc32(file_id.encode())}",
            "file_size": len(self.files.get(file_id, b"")),
            "file_path": f"files/{file_id}",
        }

    def _api_createForumTopic(self, p: dict) -> dict:
        chat_id = self._target(p)
        if chat_id not in self.forum_chats:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        color = p.get("icon_color") or DEFAULT_ICON_COLOR
        thread_id = self._create_topic(chat_id, p["name"], color, BOT_USER)
        return {"message_thread_id": thread_id, "name": p["name"], "icon_color": color}

    def _api_deleteForumTopic(self, p: dict) -> bool:
        self.delete_topic(self._target(p), p.get("message_thread_id"))
        return True

    # ----------------------------------------------------------------- Bot API: messages
    def _api_sendMessage(self, p: dict) -> dict:
        chat_id, thread_id, reply = self._prepare_send(p)
        self._check_text(p.get("text"), p.get("parse_mode"))
        content = {
            "text": p["text"],
            "reply_markup": _markup(p.get("reply_markup")),
            "link_preview_options": p.get("link_preview_options"),
        }
        return self._new_message(chat_id, BOT_USER, content, thread_id=thread_id, reply=reply)

    def _api_sendPhoto(self, p: dict) -> dict:
        return self._send_media(p, "photo")

    def _api_sendDocument(self, p: dict) -> dict:
        return self._send_media(p, "document")

    def _api_sendVoice(self, p: dict) -> dict:
        return self._send_media(p, "voice")

    def _api_sendLocation(self, p: dict) -> dict:
        chat_id, thread_id, reply = self._prepare_send(p)
        content = {
            "location": {"latitude": p["latitude"], "longitude": p["longitude"]},
            "reply_markup": _markup(p.get("reply_markup")),
        }
        return self._new_message(chat_id, BOT_USER, content, thread_id=thread_id, reply=reply)

    def _source(self, p: dict, what: str) -> tuple[dict, dict]:
        """The message to copy/forward and its content fields (service messages have none)."""
        source = self.message(self._target(p, "from_chat_id"), p.get("message_id"))
        if source is None:
            raise ApiError(400, f"Bad Request: message to {what} not found")
        content = {k: copy.deepcopy(source[k]) for k in CONTENT_FIELDS if k in source}
        if not content:
            raise ApiError(400, f"Bad Request: message can't be {what}ed")
        return source, content

    def _api_copyMessage(self, p: dict) -> dict:
        _, content = self._source(p, "copy")
        chat_id, thread_id, reply = self._prepare_send(p)
        if "caption" in p and "text" not in content:
            self._check_text(p["caption"], p.get("parse_mode"), caption=True)
            content["caption"] = p["caption"]
        content["reply_markup"] = _markup(p.get("reply_markup"))
        msg = self._new_message(chat_id, BOT_USER, content, thread_id=thread_id, reply=reply)
        return {"message_id": msg["message_id"]}

    def _api_forwardMessage(self, p: dict) -> dict:
        source, content = self._source(p, "forward")
        chat_id, thread_id, _ = self._prepare_send(p)
        content["forward_origin"] = {
            "type": "user",
            "date": source.get("date", 0),
            "sender_user": source.get("from", BOT_USER),
        }
        return self._new_message(chat_id, BOT_USER, content, thread_id=thread_id)

    def _api_editMessageText(self, p: dict) -> dict | bool:
        if p.get("inline_message_id"):
            return True
        msg = self._editable(p)
        if "text" not in msg:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        self._check_text(p.get("text"), p.get("parse_mode"))
        markup = _markup(p.get("reply_markup"))  # omitting the markup removes the keyboard
        if msg["text"] == p["text"] and msg.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        msg.update(text=p["text"], edit_date=int(time.time()), reply_markup=markup)
        if markup is None:
            del msg["reply_markup"]
        return msg

    def _api_editMessageReplyMarkup(self, p: dict) -> dict | bool:
        if p.get("inline_message_id"):
            return True
        msg = self._editable(p)
        markup = _markup(p.get("reply_markup"))
        if msg.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        msg.update(edit_date=int(time.time()), reply_markup=markup)
        if markup is None:
            del msg["reply_markup"]
        return msg

    def _api_deleteMessage(self, p: dict) -> bool:
        if self._messages.get(self._target(p), {}).pop(p.get("message_id"), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True


class _ApiHandler(tornado.web.RequestHandler):
    """Decodes a Bot API request (query, form, multipart or JSON) and hands it to the fake."""

    def initialize(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.wake = asyncio.Event()  # ends this request's long poll early
        self.gone = False

    def on_connection_close(self) -> None:
        self.gone = True  # the client gave up (e.g. PTB cancelled a long poll)
        self.wake.set()

    async def get(self, token: str, method: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.fake._in_flight.add(task)
        try:
            await self._answer(token, method)
        finally:
            self.fake._in_flight.discard(task)

    post = get

    async def _answer(self, token: str, method: str) -> None:
        request = self.request
        uploads: dict[str, tuple[str, bytes]] = {}
        if request.headers.get("Content-Type", "").startswith("application/json"):
            params = dict(json.loads(request.body or b"{}"))
        else:
            raw = {**request.query_arguments, **request.body_arguments}
            params = {k: _decode_value(k, v[-1].decode()) for k, v in raw.items()}
            uploads = {k: (v[0].filename, v[0].body) for k, v in request.files.items()}
        status, body = await self.fake._dispatch(
            token, method, _normalise_ids(params), uploads, self.wake
        )
        if self.gone:
            return
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            await self.finish(json.dumps(body))


class _FileHandler(tornado.web.RequestHandler):
    """Serves uploaded bytes (or a placeholder) for getFile's file_path."""

    def initialize(self, fake: FakeTelegram) -> None:
        self.fake = fake

    def get(self, token: str, file_id: str) -> None:
        if token != TOKEN:
            raise tornado.web.HTTPError(401)
        self.finish(self.fake.files.get(file_id, f"fake file {file_id}".encode()))
