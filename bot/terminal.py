"""`tanya chat`: the whole flow in a terminal, without Telegram or a token.

The same `Service` the bot runs talks to a messenger that prints. You are the resident; lines
starting with a slash act as the admin group too (/antrian, /jawab N teks, /tutup N ...), so a
new user can try question, ticket and answer end to end before creating a bot.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from bot import commands
from bot.config import AdminConfig, Config
from bot.i18n import t
from bot.matcher import Matcher
from bot.messaging import Buttons, DeliveryError, Incoming, Person
from bot.service import Service
from bot.storage import Storage

RESIDENT_CHAT = 1
ADMIN_CHAT = -1
RESIDENT = Person(RESIDENT_CHAT, "Warga Terminal")
ADMIN = Person(2, "Admin Terminal")
# The bot's commands; /jawab, /umumkan and /klarifikasi are played differently here (no
# replies in a terminal), and "permohonan" is the resident's (the admins' list: daftar_permohonan).
RESIDENT_COMMANDS = frozenset(commands.RESIDENT_COMMANDS)
ADMIN_COMMANDS = frozenset(commands.ADMIN_COMMANDS) - RESIDENT_COMMANDS


@dataclass
class _Stored:
    chat_id: int
    text: str


class TerminalMessenger:
    """Prints what the bot sends; remembers messages so copies and edits can be shown."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.messages: dict[tuple[int, int], _Stored] = {}
        self._ids = itertools.count(1000)

    def remember(self, chat_id: int, text: str) -> int:
        message_id = next(self._ids)
        self.messages[(chat_id, message_id)] = _Stored(chat_id, text)
        return message_id

    def _show(self, chat_id: int, text: str, buttons: Buttons, note: str = "") -> None:
        who = t("chat.bot") if chat_id != ADMIN_CHAT else t("chat.admin_group")
        lines = [f"{who}{note}> {text}"]
        if buttons:
            lines.append("   " + " ".join(f"[{b.text}]" for row in buttons for b in row))
        self.write("\n".join(lines) + "\n")

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        buttons: Buttons = (),
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        message_id = self.remember(chat_id, text)
        self._show(chat_id, text, buttons)
        return message_id

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
        source = self.messages.get((from_chat_id, message_id))
        if source is None:
            raise DeliveryError("not_found", "message to copy not found")
        return await self.send(chat_id, source.text if caption is None else caption)

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, buttons: Buttons = ()
    ) -> None:
        if (chat_id, message_id) not in self.messages:
            raise DeliveryError("not_found", "message to edit not found")
        self.messages[(chat_id, message_id)] = _Stored(chat_id, text)
        if chat_id == ADMIN_CHAT:
            self._show(chat_id, text, buttons, note=t("chat.edited"))

    async def create_topic(self, chat_id: int, name: str) -> int:
        raise DeliveryError("other", "the terminal has no topics")

    async def is_forum(self, chat_id: int) -> bool:
        return False


class TerminalChat:
    def __init__(self, config: Config, matcher: Matcher, write: Callable[[str], None]) -> None:
        # The terminal plays the admin group too, whatever group the config names.
        self.config = config.model_copy(update={"admin": AdminConfig(chat_id=ADMIN_CHAT)})
        self.matcher = matcher
        self.write = write
        self.messenger = TerminalMessenger(write)
        self.storage: Storage | None = None
        self.service: Service | None = None

    async def open(self) -> None:
        self.storage = await Storage.open(self.config.storage.path)
        self.service = Service(self.config, self.matcher, self.storage, self.messenger)
        await self.service.announcements.resume()
        await self.service.announcements.idle()

    async def close(self) -> None:
        if self.service is not None:
            await self.service.announcements.stop()
        if self.storage is not None:
            await self.storage.close()

    async def handle(self, line: str) -> bool:
        """Act on one typed line; False when the user wants to leave."""
        assert self.service is not None
        text = line.strip()
        if text in {"/keluar", "/exit", "/quit"}:
            return False
        if text.startswith("/"):
            words = text.split()
            command = words[0][1:].lower()
            if command in RESIDENT_COMMANDS:
                await self.service.resident_command(self._resident(text), command)
                return True
            if command == "admin":
                self.write(t("chat.admin_help") + "\n")
                return True
            if command == "jawab":
                await self._answer(words[1:], text)
                return True
            if command in ("umumkan", "klarifikasi"):
                await self._announce(command, text)
                return True
            if command in ADMIN_COMMANDS:
                msg = self._admin(text)
                await self.service.admin_command(msg, command, words[1:])
                return True
            await self.service.resident_command(self._resident(text), "unknown")
            return True
        await self.service.resident_message(self._resident(text))
        return True

    def _resident(self, text: str) -> Incoming:
        message_id = self.messenger.remember(RESIDENT_CHAT, text)
        return Incoming(RESIDENT_CHAT, message_id, RESIDENT, text=text)

    def _admin(self, text: str, reply_to: int | None = None) -> Incoming:
        message_id = self.messenger.remember(ADMIN_CHAT, text)
        return Incoming(ADMIN_CHAT, message_id, ADMIN, text=text, reply_to=reply_to)

    async def _answer(self, args: list[str], line: str) -> None:
        """/jawab N teks: what an admin does by replying to the ticket's post."""
        assert self.service is not None and self.storage is not None
        ticket = None
        if args and args[0].lstrip("#").isdecimal():
            ticket = await self.storage.ticket(int(args[0].lstrip("#")))
        answer = " ".join(args[1:]).strip()
        if ticket is not None and await self.storage.request_of_ticket(ticket.id) is not None:
            # A formal request is answered with /jawab in the group too (bot.ppid).
            await self.service.admin_command(self._admin(line), "jawab", args)
            return
        if ticket is None or not answer or ticket.post_message_id is None:
            self.write(t("chat.usage_jawab") + "\n")
            return
        await self.service.admin_message(self._admin(answer, reply_to=ticket.post_message_id))

    async def _announce(self, command: str, line: str) -> None:
        """/umumkan TOPIK teks, /klarifikasi TOPIK [isu |] teks: in Telegram the admin replies
        to the message to send; here the text after the topic is that message."""
        assert self.service is not None
        words = line.split(maxsplit=2)
        topic = words[1:2]
        body = words[2].strip() if len(words) > 2 else ""
        issue = ""
        if command == "klarifikasi" and " | " in body:
            issue, body = (part.strip() for part in body.split(" | ", 1))
        reply_to = None
        if body:
            reply_to = self.messenger.remember(ADMIN_CHAT, body)
        message_id = self.messenger.remember(ADMIN_CHAT, line)
        msg = Incoming(
            ADMIN_CHAT,
            message_id,
            ADMIN,
            text=line,
            reply_to=reply_to,
            reply_to_text=body or None,
        )
        await self.service.admin_command(msg, command, topic + issue.split())
        await self.service.announcements.idle()  # the broadcast, before the next line


def run_chat(
    config: Config, matcher: Matcher, read: Callable[[], str | None], write: Callable[[str], None]
) -> None:
    """Read lines until EOF or /keluar; one event loop for the whole conversation."""
    chat = TerminalChat(config, matcher, write)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(chat.open())
        write(t("chat.welcome", regency=config.regency.name) + "\n")
        while True:
            line = read()
            if line is None or not loop.run_until_complete(chat.handle(line)):
                break
    finally:
        loop.run_until_complete(chat.close())
        loop.close()
