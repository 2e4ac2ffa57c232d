"""The conversation: what tanya does with each resident message, button and admin reply.

This is the whole bot without Telegram. Handlers (and `tanya chat`) turn what arrives into
`Incoming` and call one method here; the service decides (matcher, tickets, menus), records it in
storage, and sends through the `Messenger` it was given. Every choice it offers can be typed as a
number, and every admin button has a command that does the same.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import hashlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bot.announce import PENDING_KIND as SUBSCRIBE_KIND  # announcements
from bot.announce import Announcements  # announcements
from bot.clarify import CLARIFY_OPD
from bot.config import Config
from bot.digest import digest_text, overdue, reminder_text, target_seconds
from bot.drafts import Draft, DraftError, write_draft
from bot.heap import settle_heap
from bot.i18n import t
from bot.kb_cache import load_matcher
from bot.knowledge import Entry, KnowledgeBase, KnowledgeError
from bot.match_worker import MatchWorker, MatchWorkerGone
from bot.matcher import Candidate, Matcher, MatchResult
from bot.messaging import Button, Buttons, DeliveryError, Incoming, Messenger, Person
from bot.operation import from_this_update, replaying
from bot.ppid import PpidDesk, asks_for_document, is_request
from bot.replies import answer_text, render
from bot.storage import Pending, Resident, Stats, Storage, Ticket
from bot.text import clean, legibility, shorten, shorten_units, split_message, utf16_len
from bot.workdays import WorkCalendar

log = logging.getLogger(__name__)

# Numbers this short typed while no choice is pending are answered with a hint, not matched.
CHOICE_DIGITS = 2
# How much of a question the ticket post shows; a longer one follows whole in the thread.
POST_QUESTION_UNITS = 2500
BUTTONS_PER_ROW = 5
# Reminders posted at one check at most (the first check after an outage finds many).
REMINDERS_PER_CHECK = 5
# A choice list older than this no longer gives a typed number its meaning.
PENDING_TTL = dt.timedelta(hours=24)


@dataclass
class Toast:
    """The short notice shown on a pressed button (Telegram's answerCallbackQuery)."""

    text: str | None = None
    alert: bool = False


class Service:
    def __init__(
        self,
        config: Config,
        matcher: Matcher,
        storage: Storage,
        messenger: Messenger,
        settle: Callable[[], Awaitable[None]] | None = None,
        calendar: WorkCalendar | None = None,
    ) -> None:
        # `settle` waits until the messages that arrived before the one being handled were
        # handled: a reply to a post whose record is still being written must find it.
        self.settle = settle
        self.config = config
        self.matcher = matcher
        # Set by the bot: matching in a process of its own (bot.match_worker).
        self.match_worker: MatchWorker | None = None
        self.worker_restart_interval = 60.0
        self._worker_restarted_at = -math.inf
        self._worker_restart: asyncio.Task[None] | None = None
        self.storage = storage
        self.messenger = messenger
        self.admin_chat = config.admin.chat_id
        # Working days and hours, for the digest and reminders (bot.digest).
        self.calendar = calendar or WorkCalendar.from_config(config.calendar)
        self._forum: bool | None = None
        # Per resident: arrival times of the last minute's messages, and when they were last
        # asked to slow down (limits.messages_per_minute).
        self._recent: dict[int, collections.deque[float]] = {}
        self._slowed: dict[int, float] = {}
        self._reload_lock = asyncio.Lock()
        self._topic_locks: dict[str, asyncio.Lock] = {}
        self._draft_lock = asyncio.Lock()
        self._digest_lock = asyncio.Lock()
        # Formal information requests and objections (UU 14/2008).
        self.ppid = PpidDesk(self)
        self.announcements = Announcements(self)  # announcements
        # Knowledge files the bot itself wrote and reloaded (/klarifikasi), with a hash of
        # what it wrote: the file watcher's echo of that write is not news for the group.
        self._own_writes: dict[str, str | None] = {}

    @property
    def kb(self) -> KnowledgeBase:
        return self.matcher.kb

    async def _match(self, text: str) -> MatchResult:
        """Match in the worker process when there is one, else (or when it is gone) here."""
        worker = self.match_worker
        if worker is not None:
            if worker.alive:
                with contextlib.suppress(MatchWorkerGone):
                    return await worker.match(text)
            if not worker.alive:  # one failed match leaves a healthy worker in place
                self._restart_match_worker()
        return self.matcher.match(text)

    def _restart_match_worker(self) -> None:
        """A worker that died (killed for memory, say) is replaced, at most once a minute;
        meanwhile matching runs here."""
        now = time.monotonic()
        if self._worker_restart is not None and not self._worker_restart.done():
            return
        if now - self._worker_restarted_at < self.worker_restart_interval:
            return
        self._worker_restarted_at = now

        async def restart() -> None:
            old = self.match_worker
            if await self.start_matching() and old is not None:
                await old.close()

        self._worker_restart = asyncio.create_task(restart())

    async def start_matching(self) -> bool:
        """Start matching in a process of its own; on failure the bot matches here."""
        try:
            self.match_worker = await MatchWorker.start(self.matcher)
        except (OSError, MatchWorkerGone) as exc:
            log.error("event=match_worker_not_started error=%s", exc)
            return False
        return True

    async def stop_matching(self) -> None:
        """End the worker process (and one being started to replace it)."""
        if self._worker_restart is not None:
            with contextlib.suppress(Exception):
                await self._worker_restart
        if self.match_worker is not None:
            await self.match_worker.close()

    def _t(self, key: str, **values: object) -> str:
        return t(key, self.config.language, **values)

    # ------------------------------------------------------------------ residents

    async def resident_command(self, msg: Incoming, command: str) -> None:
        """/start, /bantuan, /menu and /status in a private chat."""
        resident = await self._resident(msg)
        if not await self._admitted(resident):
            return
        if await self.ppid.command(resident, command):
            return
        if await self.announcements.command(resident, command):  # announcements
            return  # announcements
        if command == "start":
            await self._say(resident, self._t("start", regency=self.config.regency.name))
            await self._opd_menu(resident)
        elif command == "bantuan":
            await self._say(
                resident,
                self._t(
                    "help",
                    reply_within=self.config.tickets.reply_within,
                    days=self.config.ppid.deadline_working_days,
                ),
            )
        elif command == "menu":
            await self._opd_menu(resident)
        elif command == "status":
            await self._status(resident)
        else:
            await self._say(resident, self._t("unknown_command"))

    async def resident_message(self, msg: Incoming) -> None:
        """A text or media message in a private chat."""
        resident = await self._resident(msg)
        if not await self._admitted(resident):
            return
        if msg.text is not None:
            msg = replace(msg, text=clean(msg.text))
        if await self.ppid.message(resident, msg):
            return  # an answer to a step of /permohonan or /keberatan
        readable = legibility(msg.text or "")
        if msg.media in (None, "sticker", "other") and readable == "nothing":
            await self._say(resident, self._t("empty_message"))
            return
        if msg.media is None and readable == "other_script":
            await self._say(resident, self._t("other_script"))
            return
        text = (msg.text or "").strip()
        number = _number(text) if msg.media is None else None
        pending = await self._pending(resident) if number is not None else None
        if number is not None and pending is not None:
            if await self._choose(resident, pending, number):
                return
            if len(text) <= CHOICE_DIGITS:
                await self._say(resident, self._t("choice_invalid", n=number))
                return
        ticket = await self._active_ticket(resident)
        if ticket is not None and from_this_update(ticket.source):
            ticket = None  # opened by this very message before a crash: finish opening it
        result = await self._match(text) if text and msg.media is None else None
        if ticket is not None and not (
            # After an admin answered, a question the knowledge answers is a new question,
            # not a follow-up: answer it instead of parking it in the old ticket.
            ticket.status == "answered"
            and result is not None
            and result.decision in ("answer", "suggest")
        ):
            await self._follow_up(resident, ticket, msg, result)
            return
        if msg.media is not None:
            await self._escalate_media(resident, msg)
            return
        if number is not None and len(text) <= CHOICE_DIGITS:
            await self._say(resident, self._t("no_choice_pending"))
            return
        await self.storage.clear_pending(resident.id)
        assert result is not None
        await self._act(resident, text, result)

    async def resident_edited(self, msg: Incoming) -> None:
        """An edited message: not read again (the answer or ticket already went out on the
        first version), but the resident is told, so a corrected question is not left hanging."""
        resident = await self._resident(msg)
        if not await self._admitted(resident):
            return
        try:
            await self.messenger.send(
                resident.chat_id, self._t("edited_message"), reply_to=msg.message_id
            )
        except DeliveryError as exc:
            log.warning("event=resident_send_failed resident=%s reason=%s", resident.id, exc.reason)

    async def _pending(self, resident: Resident) -> Pending | None:
        """The resident's pending choice, unless it is too old to be what a number means."""
        pending = await self.storage.pending(resident.id)
        if pending is None or self.storage.now() - pending.at > PENDING_TTL:
            return None
        return pending

    async def resident_button(self, sender: Person, chat_id: int, data: str) -> Toast:
        """A button pressed in a private chat. Data comes from the client: trust nothing."""
        resident = await self.storage.touch_resident(sender.user_id, chat_id, sender.name)
        if not await self._admitted(resident):
            return Toast()
        if data.startswith("d:"):
            return Toast(await self.ppid.button(resident, data))
        parts = data.split(":")
        pending = await self._pending(resident)
        if len(parts) == 3 and parts[0] == "p" and parts[1].isdecimal() and parts[2].isdecimal():
            if pending is None or pending.token != int(parts[1]):
                return Toast(self._t("button_stale"))
            if await self._choose(resident, pending, int(parts[2])):
                return Toast()
            return Toast(self._t("button_stale"))
        return Toast(self._t("button_stale"))

    async def _admitted(self, resident: Resident) -> bool:
        """False for a resident the admins blocked (told once) or one sending faster than
        limits.messages_per_minute (asked once a minute to slow down)."""
        blocked = await self.storage.blocked(resident.id)
        if blocked is not None:
            if not blocked:
                await self._say(resident, self._t("resident.blocked"))
                await self.storage.mark_block_notified(resident.id)
            return False
        if replaying():
            return True  # counted when it first arrived
        now = time.monotonic()
        recent = self._recent.setdefault(resident.id, collections.deque())
        while recent and now - recent[0] > 60:
            recent.popleft()
        if len(recent) >= self.config.limits.messages_per_minute:
            if now - self._slowed.get(resident.id, -60.0) >= 60:
                self._slowed[resident.id] = now
                log.info("event=resident_rate_limited resident=%s", resident.id)
                await self._say(resident, self._t("resident.slow_down"))
            return False
        recent.append(now)
        if len(self._recent) > 50_000:  # forget the quiet ones
            self._recent = {k: v for k, v in self._recent.items() if v and now - v[-1] < 60}
            self._slowed.clear()
        return True

    async def _too_many_tickets(self, resident: Resident) -> bool:
        limit = self.config.limits.open_tickets
        if await self.storage.open_ticket_count(resident.id) < limit:
            return False
        await self._say(resident, self._t("resident.ticket_limit", limit=limit))
        return True

    async def _resident(self, msg: Incoming) -> Resident:
        return await self.storage.touch_resident(msg.sender.user_id, msg.chat_id, msg.sender.name)

    async def _say(self, resident: Resident, text: str, buttons: Buttons = ()) -> int | None:
        """Send to a resident, cut into messages of at most 4096; buttons go on the last one."""
        parts = split_message(text)
        message_id = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                message_id = await self.messenger.send(
                    resident.chat_id, part, buttons=buttons if last else ()
                )
            except DeliveryError as exc:
                log.warning(
                    "event=resident_send_failed resident=%s reason=%s", resident.id, exc.reason
                )
                return None
        return message_id

    async def _act(self, resident: Resident, text: str, result: MatchResult) -> None:
        decision = result.decision
        log.info(
            "event=question decision=%s entry=%s score=%.1f opd=%s",
            decision,
            result.entry,
            result.score,
            result.opd,
        )
        if decision == "smalltalk":
            await self.storage.log_conversation(resident.id, text, decision, score=result.score)
            reply = render(result, self.kb, self.config.regency.name, self.config.language)
            await self._say(resident, reply.text)
            return
        if decision == "answer" and result.entry:
            conversation = await self.storage.log_conversation(
                resident.id, text, decision, result.entry, result.score, result.opd
            )
            await self._answer(resident, result.entry, conversation)
            return
        if decision == "suggest":
            entries = [e for c in result.candidates if (e := self.kb.entry(c.entry))]
            if entries:
                conversation = await self.storage.log_conversation(
                    resident.id, text, decision, None, result.score, result.opd
                )
                await self._suggest(resident, entries, conversation)
                return
        conversation = await self.storage.log_conversation(
            resident.id, text, "escalate", None, result.score, result.opd
        )
        if asks_for_document(text):
            await self._offer_request(resident, conversation)
            return
        await self._escalate(resident, text, result.opd, result.candidates, conversation)

    async def _offer_request(self, resident: Resident, conversation: int) -> None:
        """A question asking for a document or data: the formal request (a registration number
        and a legal deadline) or a person's answer, the resident chooses."""
        token = await self.storage.set_pending(
            resident.id, "request_offer", {"conversation": conversation}
        )
        await self._say(
            resident,
            self._t("ppid.offer", days=self.config.ppid.deadline_working_days),
            [
                [
                    Button(self._t("ppid.offer_request"), f"p:{token}:1"),
                    Button(self._t("button.ask_person"), f"p:{token}:2"),
                ]
            ],
        )

    async def _answer(self, resident: Resident, uid: str, conversation: int) -> None:
        entry = self.kb.entry(uid)
        if entry is None:
            await self._say(resident, self._t("reply.entry_gone"))
            return
        token = await self.storage.set_pending(
            resident.id, "feedback", {"conversation": conversation, "entry": uid}
        )
        text = answer_text(uid, self.kb, self.config.language)
        # One message, the 👍/👎 question under the answer: half the messages on a slow link.
        await self._say(
            resident,
            f"{text}\n\n{self._t('feedback.ask')}",
            [
                [
                    Button(self._t("feedback.yes"), f"p:{token}:1"),
                    Button(self._t("feedback.no"), f"p:{token}:2"),
                ]
            ],
        )

    async def _suggest(
        self, resident: Resident, entries: Sequence[Entry], conversation: int
    ) -> None:
        uids = [e.uid for e in entries]
        token = await self.storage.set_pending(
            resident.id, "suggest", {"conversation": conversation, "entries": uids}
        )
        lines = [self._t("reply.suggest_intro")]
        lines += [f"{n}. {e.questions[0]}" for n, e in enumerate(entries, start=1)]
        lines.append(self._t("suggest.hint", numbers=_numbers_phrase(len(entries), self._t)))
        buttons = [
            [Button(str(n), f"p:{token}:{n}") for n in range(1, len(entries) + 1)],
            [Button(self._t("button.ask_person"), f"p:{token}:0")],
        ]
        await self._say(resident, "\n".join(lines), buttons)

    async def _choose(self, resident: Resident, pending: Pending, number: int) -> bool:
        """Act on a typed or pressed number; False when it means nothing in this state."""
        payload = pending.payload
        kind = pending.kind
        if kind == "suggest":
            uids = payload["entries"]
            if 1 <= number <= len(uids):
                await self.storage.clear_pending(resident.id)
                # Logged with the question it answers, so a later 👎 can pass that on.
                asked = await self.storage.conversation(int(payload["conversation"]))
                conversation = await self.storage.log_conversation(
                    resident.id, asked.text if asked else f"#{number}", "choice", uids[number - 1]
                )
                await self._answer(resident, uids[number - 1], conversation)
                return True
            if number == 0:
                return await self._escalate_conversation(resident, payload["conversation"])
            return False
        if kind == "feedback":
            if number not in (1, 2):
                return False
            conversation = int(payload["conversation"])
            helpful = number == 1
            await self.storage.record_feedback(conversation, resident.id, payload["entry"], helpful)
            if helpful:
                await self.storage.clear_pending(resident.id)
                await self._say(resident, self._t("feedback.thanks"))
            else:
                token = await self.storage.set_pending(
                    resident.id, "offer", {"conversation": conversation}
                )
                await self._say(
                    resident,
                    self._t("feedback.sorry"),
                    [[Button(self._t("button.ask_person"), f"p:{token}:0")]],
                )
            return True
        if kind == "offer":
            if number != 0:
                return False
            return await self._escalate_conversation(resident, payload["conversation"])
        if kind == "request_offer":
            if number == 1:
                await self.storage.clear_pending(resident.id)
                asked = await self.storage.conversation(int(payload["conversation"]))
                await self.ppid.start_request(resident, asked.text if asked else None)
                return True
            if number in (0, 2):
                return await self._escalate_conversation(resident, payload["conversation"])
            return False
        if kind == SUBSCRIBE_KIND:  # announcements
            return await self.announcements.choose(resident, pending, number)  # announcements
        if kind == "menu_opds":
            opds = payload["opds"]
            if 1 <= number <= len(opds):
                await self._entry_menu(resident, opds[number - 1])
                return True
            return False
        if kind == "menu_entries":
            uids = payload["entries"]
            if number == 0:
                await self._opd_menu(resident)
                return True
            if 1 <= number <= len(uids):
                # Logged as the entry's own question: what a 👎 then passes to a person.
                picked = self.kb.entry(uids[number - 1])
                conversation = await self.storage.log_conversation(
                    resident.id,
                    picked.questions[0] if picked else f"#{number}",
                    "menu",
                    uids[number - 1],
                )
                await self._answer(resident, uids[number - 1], conversation)
                return True
            return False
        return False

    async def _opd_menu(self, resident: Resident) -> None:
        with_entries = {e.opd_id for e in self.kb.entries}
        opds = sorted(
            (o for o in self.kb.opds.values() if o.id in with_entries),
            key=lambda o: o.name.casefold(),
        )
        token = await self.storage.set_pending(
            resident.id, "menu_opds", {"opds": [o.id for o in opds]}
        )
        lines = [self._t("menu.opds")]
        lines += [f"{n}. {o.name}" for n, o in enumerate(opds, start=1)]
        lines.append(self._t("menu.opds_hint"))
        await self._say(resident, "\n".join(lines), _number_buttons(token, len(opds)))

    async def _entry_menu(self, resident: Resident, opd_id: str) -> None:
        entries = [e for e in self.kb.entries if e.opd_id == opd_id]
        opd = self.kb.opds.get(opd_id)
        if opd is None or not entries:
            await self._opd_menu(resident)
            return
        token = await self.storage.set_pending(
            resident.id, "menu_entries", {"opd": opd_id, "entries": [e.uid for e in entries]}
        )
        lines = [self._t("menu.entries", opd=opd.name)]
        lines += [f"{n}. {e.questions[0]}" for n, e in enumerate(entries, start=1)]
        lines.append(self._t("menu.entries_hint"))
        buttons = [
            *_number_buttons(token, len(entries)),
            [Button(self._t("button.back"), f"p:{token}:0")],
        ]
        await self._say(resident, "\n".join(lines), buttons)

    async def _status(self, resident: Resident) -> None:
        tickets = await self.storage.resident_tickets(resident.id)
        requests = await self.ppid.status_lines(resident)
        if not tickets and not requests:
            await self._say(resident, self._t("status.none"))
            return
        lines = []
        if tickets:
            lines.append(self._t("status.head"))
        for ticket in tickets:
            state = self._t(f"status.{ticket.status}")
            lines.append(f"#{ticket.id} · {state} · {shorten(ticket.question, 60)}")
        if requests:
            lines += (
                ["", self._t("ppid.mine_head"), *requests]
                if tickets
                else [
                    self._t("ppid.mine_head"),
                    *requests,
                ]
            )
        await self._say(resident, "\n".join(lines))

    # ------------------------------------------------------------------ tickets

    async def _active_ticket(self, resident: Resident) -> Ticket | None:
        since = self.storage.now() - dt.timedelta(hours=self.config.tickets.followup_hours)
        return await self.storage.active_ticket(resident.id, since)

    async def _escalate_conversation(self, resident: Resident, conversation_id: int) -> bool:
        conversation = await self.storage.conversation(int(conversation_id))
        await self.storage.clear_pending(resident.id)
        if conversation is None or conversation.resident_id != resident.id:
            return False
        ticket = await self._active_ticket(resident)
        if ticket is not None and from_this_update(ticket.source):
            ticket = None  # opened by this very choice before a crash: finish opening it
        if ticket is not None:
            # The question joins the resident's running ticket, so a person does see it.
            message = Incoming(
                resident.chat_id, 0, Person(resident.id, resident.name), text=conversation.text
            )
            await self._follow_up(resident, ticket, message)
            return True
        result = await self._match(conversation.text)
        await self._escalate(
            resident, conversation.text, result.opd, result.candidates, conversation.id
        )
        return True

    async def _escalate(
        self,
        resident: Resident,
        question: str,
        opd: str | None,
        candidates: Sequence[Candidate],
        conversation: int | None,
    ) -> Ticket | None:
        if await self._too_many_tickets(resident):
            return None
        opd = _owner(opd)
        ticket = await self.storage.create_ticket(
            resident.id, question, opd, [(c.entry, round(c.score, 1)) for c in candidates]
        )
        log.info("event=ticket_created ticket=%s opd=%s", ticket.id, opd)
        post = await self._post_ticket(ticket)
        if post is not None and utf16_len(question) > POST_QUESTION_UNITS:
            await self._post_whole_question(ticket, post)
        await self._tell_ticket(resident, ticket)
        return ticket

    async def _escalate_media(self, resident: Resident, msg: Incoming) -> None:
        kind = msg.media or "other"
        label = self._t(f"media.{kind}") if kind in _MEDIA_LABELS else self._t("media.other")
        question = f"[{label}] {msg.text}".strip() if msg.text else f"[{label}]"
        opd = None
        candidates: Sequence[Candidate] = ()
        if msg.text and msg.text.strip():
            result = await self._match(msg.text)
            opd, candidates = _owner(result.opd), result.candidates
        await self.storage.log_conversation(resident.id, question, "media", opd=opd)
        if await self._too_many_tickets(resident):
            return
        ticket = await self.storage.create_ticket(
            resident.id, question, opd, [(c.entry, round(c.score, 1)) for c in candidates], kind
        )
        log.info("event=ticket_created ticket=%s opd=%s kind=%s", ticket.id, opd, kind)
        post = await self._post_ticket(ticket)
        await self._copy_to_thread(ticket, msg, post)
        await self._tell_ticket(resident, ticket)

    async def _tell_ticket(self, resident: Resident, ticket: Ticket) -> None:
        opd = self.kb.opds.get(ticket.opd) if ticket.opd else None
        key = "ticket.created_opd" if opd else "ticket.created"
        await self._say(
            resident,
            self._t(
                key,
                ticket=ticket.id,
                opd=opd.name if opd else "",
                reply_within=self.config.tickets.reply_within,
            ),
        )

    async def _follow_up(
        self,
        resident: Resident,
        ticket: Ticket,
        msg: Incoming,
        result: MatchResult | None = None,
    ) -> None:
        """A message from a resident whose ticket is still going: it joins that ticket.
        `result`: the matcher's decision on it when the caller has it already."""
        text = (msg.text or "").strip()
        await self.storage.clear_pending(resident.id)
        await self.storage.log_conversation(
            resident.id, text or f"[{msg.media}]", "followup", ticket_id=ticket.id
        )
        if result is None and text and msg.media is None:
            result = await self._match(text)
        smalltalk = result is not None and result.decision == "smalltalk"
        detail = shorten(text or f"[{msg.media}]", 200)
        if smalltalk or is_request(ticket):
            # "makasih" after an answer is not a new question: the ticket stays answered. A
            # request's replies stay "answered" too: its own status says where it stands.
            await self.storage.add_event(ticket.id, "warga", "followup", detail)
        else:
            await self.storage.reopen(ticket.id, detail)
        posted = False
        if self.admin_chat is not None:
            head = self._t("admin.followup", ticket=ticket.id, name=resident.name)
            reply_to = ticket.post_message_id
            try:
                if msg.media is None:
                    for part in split_message(f"{head}\n{text}"):
                        mid = await self._send_in_thread(ticket, part, reply_to=reply_to)
                        await self.storage.link_message(self.admin_chat, mid, ticket.id, "followup")
                else:
                    mid = await self._send_in_thread(ticket, head, reply_to=reply_to)
                    await self.storage.link_message(self.admin_chat, mid, ticket.id, "followup")
                    await self._copy_to_thread(ticket, msg, mid)
                posted = True
            except DeliveryError as exc:
                log.error("event=followup_post_failed ticket=%s reason=%s", ticket.id, exc.reason)
        if not posted:
            log.warning("event=followup_not_posted ticket=%s", ticket.id)
        if result is not None and smalltalk:
            reply = render(result, self.kb, self.config.regency.name, self.config.language)
            await self._say(resident, reply.text)
        elif is_request(ticket) and (request := await self.storage.request_of_ticket(ticket.id)):
            await self._say(resident, self._t("ppid.followup", number=request.number))
        else:
            await self._say(resident, self._t("ticket.followup", ticket=ticket.id))

    # ------------------------------------------------------------------ the admin group

    async def _is_forum(self) -> bool:
        if self._forum is None and self.admin_chat is not None:
            try:
                self._forum = await self.messenger.is_forum(self.admin_chat)
            except DeliveryError as exc:
                log.error("event=admin_chat_unreachable reason=%s", exc.reason)
                return False
        return bool(self._forum)

    async def _thread_for(
        self, opd: str | None, *, fresh: bool = False, stale: int | None = None
    ) -> int | None:
        """The forum topic of an OPD, created on first use; None: the general topic."""
        if self.admin_chat is None or opd is None or not await self._is_forum():
            return None
        # One lock per OPD: two escalations at once must not create two topics.
        async with self._topic_locks.setdefault(opd, asyncio.Lock()):
            known = await self.storage.topic(self.admin_chat, opd)
            if known is not None and not (fresh and known == stale):
                return known
            info = self.kb.opds.get(opd)
            name = shorten(
                info.aliases[0] if info and info.aliases else (info.name if info else opd), 120
            )
            try:
                thread = await self.messenger.create_topic(self.admin_chat, name)
            except DeliveryError as exc:
                # No "Manage topics" right, say: the General topic still reaches the admins.
                log.error("event=topic_not_created opd=%s reason=%s", opd, exc.reason)
                return None
            await self.storage.set_topic(self.admin_chat, opd, thread)
            log.info("event=topic_created opd=%s thread=%s", opd, thread)
            return thread

    async def _send_admin(
        self,
        text: str,
        opd: str | None,
        *,
        buttons: Buttons = (),
        reply_to: int | None = None,
        thread: int | None = None,
    ) -> tuple[int, int | None]:
        """Post in the admin group, in the OPD's topic; a deleted topic is made again."""
        assert self.admin_chat is not None
        if thread is None:
            thread = await self._thread_for(opd)
        try:
            mid = await self.messenger.send(
                self.admin_chat, text, buttons=buttons, thread_id=thread, reply_to=reply_to
            )
            return mid, thread
        except DeliveryError as exc:
            if thread is None or exc.reason in ("blocked", "not_found", "too_long"):
                raise
            missing = exc.reason == "thread_missing"
        # An admin deleted the topic: make it again; a closed one (or any other refusal of the
        # topic): post in the General topic. Either way without the reply, which may be lost.
        new_thread = await self._thread_for(opd, fresh=True, stale=thread) if missing else None
        mid = await self.messenger.send(
            self.admin_chat, text, buttons=buttons, thread_id=new_thread
        )
        return mid, new_thread

    async def _send_in_thread(self, ticket: Ticket, text: str, *, reply_to: int | None) -> int:
        mid, thread = await self._send_admin(
            text, ticket.opd, reply_to=reply_to, thread=ticket.admin_thread_id
        )
        if thread != ticket.admin_thread_id:
            # The ticket's topic was deleted and made again (or refused): post the ticket anew
            # there, with its buttons, so the admins of the new topic see what it is about.
            fresh = await self.storage.ticket(ticket.id)
            if fresh is not None and fresh.admin_thread_id != thread:
                await self._post_ticket(fresh)
        return mid

    async def _post_ticket(self, ticket: Ticket) -> int | None:
        if self.admin_chat is None:
            log.warning("event=ticket_not_posted ticket=%s reason=no_admin_chat", ticket.id)
            return None
        text, buttons = await self._post_content(ticket)
        try:
            mid, thread = await self._send_admin(text, ticket.opd, buttons=buttons)
        except DeliveryError as exc:
            log.error("event=ticket_post_failed ticket=%s reason=%s", ticket.id, exc.reason)
            return None
        await self.storage.record_post(ticket.id, self.admin_chat, thread, mid)
        return mid

    async def _post_whole_question(self, ticket: Ticket, post: int) -> None:
        """A long story is cut in the ticket post; its whole text follows in the thread, so
        the admins read everything the resident wrote (replies to it reach the resident too)."""
        assert self.admin_chat is not None
        ticket = await self.storage.ticket(ticket.id) or ticket  # now with its thread
        whole = self._t("admin.whole_question", ticket=ticket.id) + "\n\n" + ticket.question
        for part in split_message(whole):
            try:
                mid = await self._send_in_thread(ticket, part, reply_to=post)
            except DeliveryError as exc:
                log.error("event=question_post_failed ticket=%s reason=%s", ticket.id, exc.reason)
                return
            await self.storage.link_message(self.admin_chat, mid, ticket.id, "followup")

    async def _copy_to_thread(self, ticket: Ticket, msg: Incoming, reply_to: int | None) -> None:
        if self.admin_chat is None:
            return
        fresh = await self.storage.ticket(ticket.id) or ticket
        try:
            mid = await self.messenger.copy(
                self.admin_chat,
                msg.chat_id,
                msg.message_id,
                thread_id=fresh.admin_thread_id,
                reply_to=reply_to,
            )
        except DeliveryError as exc:
            log.error("event=media_copy_failed ticket=%s reason=%s", ticket.id, exc.reason)
            return
        await self.storage.link_message(self.admin_chat, mid, ticket.id, "followup")

    def _answer_head(self, ticket: Ticket) -> str:
        opd = self.kb.opds.get(ticket.opd) if ticket.opd else None
        if opd is None:
            return self._t("resident.answer_head_plain", ticket=ticket.id)
        return self._t("resident.answer_head", ticket=ticket.id, opd=opd.name)

    def _opd_label(self, opd_id: str | None) -> str:
        if opd_id is None:
            return self._t("admin.no_opd")
        opd = self.kb.opds.get(opd_id)
        return opd.name if opd else opd_id

    async def _post_content(self, ticket: Ticket) -> tuple[str, Buttons]:
        """A ticket's post in the admin group; a formal request has its own."""
        if is_request(ticket):
            request = await self.storage.request_of_ticket(ticket.id)
            if request is not None:
                return (
                    self.ppid.post_text(ticket, request),
                    self.ppid.post_buttons(ticket, request),
                )
        return self._ticket_post(ticket), self._ticket_buttons(ticket)

    def _ticket_post(self, ticket: Ticket) -> str:
        lines = [
            self._t("admin.post_head", ticket=ticket.id, opd=self._opd_label(ticket.opd)),
            self._t("admin.post_from", name=ticket.resident_name),
            "",
            shorten_units(ticket.question, POST_QUESTION_UNITS),
        ]
        if ticket.candidates:
            lines += ["", self._t("admin.post_candidates")]
            for n, (uid, score) in enumerate(ticket.candidates, start=1):
                entry = self.kb.entry(uid)
                title = shorten(entry.questions[0], 70) if entry else uid
                lines.append(f"{n}. {title} ({uid}, {score:.0f})")
        lines.append("")
        status = self._t(f"admin.status_{ticket.status}")
        if ticket.claimed_name and ticket.status != "closed":
            status += " · " + self._t("admin.claimed_by", name=ticket.claimed_name)
        lines.append(status)
        if ticket.status != "closed":
            lines.append(self._t("admin.post_hint", ticket=ticket.id))
        return "\n".join(lines)

    def _ticket_buttons(self, ticket: Ticket) -> Buttons:
        if ticket.status == "closed":
            return ()
        tid = ticket.id
        rows: list[list[Button]] = [
            [
                Button(self._t("button.claim"), f"a:claim:{tid}"),
                Button(self._t("button.move"), f"a:move:{tid}"),
            ],
        ]
        if ticket.candidates:
            rows.append(
                [
                    Button(self._t("button.send_candidate", n=n), f"a:ans:{tid}:{n}")
                    for n in range(1, len(ticket.candidates) + 1)
                ]
            )
        if ticket.status == "answered":
            rows.append([Button(self._t("button.faq"), f"a:faq:{tid}")])
        rows.append([Button(self._t("button.close"), f"a:close:{tid}")])
        return rows

    async def _refresh_post(self, ticket_id: int) -> None:
        ticket = await self.storage.ticket(ticket_id)
        if ticket is None or ticket.post_message_id is None or self.admin_chat is None:
            return
        text, buttons = await self._post_content(ticket)
        try:
            await self.messenger.edit(
                self.admin_chat, ticket.post_message_id, text, buttons=buttons
            )
        except DeliveryError as exc:
            log.info("event=post_not_refreshed ticket=%s reason=%s", ticket_id, exc.reason)

    def _is_admin_chat(self, chat_id: int) -> bool:
        return self.admin_chat is not None and chat_id == self.admin_chat

    async def admin_message(self, msg: Incoming) -> None:
        """A message in the admin group: a reply in a ticket's thread goes to its resident."""
        if not self._is_admin_chat(msg.chat_id) or msg.reply_to is None:
            return
        if await self.ppid.superior_reply(msg):
            return  # the PPID's superior answering an objection (when it is this chat)
        if msg.thread_id is not None and msg.reply_to == msg.thread_id:
            # In a forum topic every plain message "replies" to the topic's creation message.
            return
        ticket_id = await self.storage.ticket_of_message(msg.chat_id, msg.reply_to)
        if ticket_id is None and self.settle is not None and msg.reply_to_bot_text:
            # A reply to one of the bot's messages it has no record of (yet): wait for the
            # handling of earlier updates, which may be writing that record right now.
            await self.settle()
            ticket_id = await self.storage.ticket_of_message(msg.chat_id, msg.reply_to)
        if ticket_id is None:
            ticket_id = await self._orphan_post(msg)
        if ticket_id is None:
            return
        ticket = await self.storage.ticket(ticket_id)
        if ticket is None:
            return
        await self.storage.link_message(msg.chat_id, msg.message_id, ticket.id, "admin")
        if ticket.status == "closed":
            # Colleagues talking in a closed ticket's thread must not reach the resident.
            await self._confirm(
                ticket, self._t("admin.closed_not_sent", ticket=ticket.id), msg.message_id
            )
            return
        header = self._answer_head(ticket)
        if is_request(ticket):
            request = await self.storage.request_of_ticket(ticket.id)
            if request is not None:
                header = self._t("ppid.message_head", number=request.number)
        try:
            if msg.media is None and msg.text:
                for part in split_message(f"{header}\n\n{msg.text}"):
                    await self.messenger.send(ticket.resident_chat_id, part)
            else:
                await self.messenger.send(ticket.resident_chat_id, header)
                await self.messenger.copy(ticket.resident_chat_id, msg.chat_id, msg.message_id)
        except DeliveryError as exc:
            await self._delivery_failed(ticket, exc, reply_to=msg.message_id)
            return
        # The whole text: /faq N turns it into a draft entry (history shows it shortened).
        await self.storage.mark_answered(ticket.id, msg.sender.name, msg.text or f"[{msg.media}]")
        log.info("event=ticket_answered ticket=%s", ticket.id)
        await self._confirm(
            ticket,
            self._t("admin.delivered", ticket=ticket.id, name=ticket.resident_name),
            msg.message_id,
        )
        await self._refresh_post(ticket.id)

    async def _orphan_post(self, msg: Incoming) -> int | None:
        """A ticket post the bot sent but has no record of: the bot was killed between
        Telegram accepting it and the record, and the ticket was posted again. Its first line
        names the ticket, so an admin's reply to it still reaches the resident."""
        text = msg.reply_to_bot_text
        if not text or msg.reply_to is None:
            return None
        head = self._t("admin.post_head", ticket="\0", opd="").split("\0")[0]
        first = text.split("\n", 1)[0]
        number = first[len(head) :].split(" ", 1)[0] if first.startswith(head) else ""
        if not number.isdecimal() or await self.storage.ticket(int(number)) is None:
            return None
        await self.storage.link_message(msg.chat_id, msg.reply_to, int(number), "post")
        log.info("event=orphan_post_linked ticket=%s", number)
        return int(number)

    async def _confirm(self, ticket: Ticket, text: str, reply_to: int | None) -> None:
        try:
            mid = await self._send_in_thread(ticket, text, reply_to=reply_to)
        except DeliveryError as exc:
            log.error("event=confirm_failed ticket=%s reason=%s", ticket.id, exc.reason)
            return
        if self.admin_chat is not None:
            await self.storage.link_message(self.admin_chat, mid, ticket.id, "bot")

    async def _delivery_failed(
        self, ticket: Ticket, exc: DeliveryError, reply_to: int | None
    ) -> None:
        log.warning("event=answer_not_delivered ticket=%s reason=%s", ticket.id, exc.reason)
        await self.storage.add_event(ticket.id, "bot", "undelivered", exc.reason)
        key = "admin.undelivered_blocked" if exc.reason == "blocked" else "admin.undelivered"
        await self._confirm(ticket, self._t(key, ticket=ticket.id), reply_to)

    async def admin_command(self, msg: Incoming, command: str, args: Sequence[str]) -> None:
        """/antrian, /tiket N, /tutup N, /statistik and the typed forms of the buttons."""
        if not self._is_admin_chat(msg.chat_id):
            return
        if await self.announcements.admin_command(msg, command, list(args)):  # announcements
            return  # announcements
        handled = await self.ppid.admin_command(msg, command, list(args))
        if handled is not None:
            await self._admin_reply(msg, handled[0])
            return
        reply = await self._admin_command_text(msg.sender, command, list(args))
        if reply is None:
            return
        assert self.admin_chat is not None
        # A reply to the /tiket N output answers that ticket, like a reply to its post.
        shown = await self._ticket_arg(list(args)) if command == "tiket" else None
        for part in split_message(reply):
            try:
                mid = await self.messenger.send(
                    self.admin_chat, part, thread_id=msg.thread_id, reply_to=msg.message_id
                )
            except DeliveryError as exc:
                log.error("event=admin_reply_failed reason=%s", exc.reason)
                return
            if shown is not None:
                await self.storage.link_message(self.admin_chat, mid, shown.id, "bot")

    async def superior_message(self, msg: Incoming) -> None:
        """A message in the PPID superior's chat: only replies to objection posts act."""
        await self.ppid.superior_reply(msg)

    async def _admin_reply(self, msg: Incoming, text: str) -> None:
        assert self.admin_chat is not None
        try:
            for part in split_message(text):
                await self.messenger.send(
                    self.admin_chat, part, thread_id=msg.thread_id, reply_to=msg.message_id
                )
        except DeliveryError as exc:
            log.error("event=admin_reply_failed reason=%s", exc.reason)

    async def _admin_command_text(
        self, sender: Person, command: str, args: list[str]
    ) -> str | None:
        if command == "antrian":
            return await self._queue_text()
        if command == "statistik":
            return await self._stats_text()
        if command == "bantuan_admin":
            return self._t("admin.help")
        if command in ("blokir", "buka_blokir"):
            return await self._block_command(sender, command, args)
        if command == "muat_ulang":
            return await self.reload_knowledge()
        usage = self._t(f"admin.usage_{command}") if command in _ADMIN_USAGE else None
        if usage is None:
            return None
        if not args or not args[0].lstrip("#").isdecimal():
            return usage
        ticket = await self._ticket_arg(args)
        if ticket is None:
            return self._t("admin.no_ticket", ticket=shorten(args[0].lstrip("#"), 12))
        if command == "tiket":
            return await self._history_text(ticket)
        if command == "tutup":
            return await self._close(ticket, sender)
        if command == "ambil":
            return await self._claim(ticket, sender)
        if command == "pindah":
            if len(args) < 2:
                return usage + "\n" + self._opd_list_text()
            return await self._move(ticket, args[1].lower(), sender)
        if command == "kirim":
            if len(args) < 2 or not args[1].isdecimal():
                return usage
            return await self._send_candidate(ticket, int(args[1]), sender)
        if command == "faq":
            return await self._make_faq(ticket, sender)
        return None

    async def reload_knowledge(self) -> str:
        """Load the knowledge folder again. A folder with errors is refused with its errors
        (file, line, what to do) and the knowledge already loaded keeps answering: an editor's
        typo must not take the bot down. Loading runs in a thread, so messages keep flowing."""
        folder = self.config.knowledge.dir
        async with self._reload_lock:
            try:
                matcher = await asyncio.to_thread(
                    load_matcher, folder, self.config.matcher, self.config.knowledge.cache_dir
                )
            except KnowledgeError as exc:
                errors = [p.render(folder) for p in exc.problems if p.severity == "error"]
                log.warning("event=knowledge_reload_refused errors=%s", len(errors))
                shown = "\n".join(f"• {shorten(e, 300)}" for e in errors[:10])
                more = self._t("admin.reload_more", n=len(errors) - 10) if len(errors) > 10 else ""
                return self._t("admin.reload_failed", count=len(errors), errors=shown) + more
            self.matcher = matcher
            settle_heap()  # the old matcher can go; the new one stays out of the collector's way
            if self.match_worker is not None and self.match_worker.alive:
                with contextlib.suppress(MatchWorkerGone):
                    await self.match_worker.use(matcher)
        log.info("event=knowledge_reloaded entries=%s", len(matcher.entries))
        return self._t("admin.reloaded", opds=len(matcher.kb.opds), entries=len(matcher.entries))

    async def wrote_knowledge(self, path: Path) -> None:
        """The bot wrote this knowledge file (and reloads it itself)."""
        self._own_writes[path.name] = await asyncio.to_thread(_file_hash, path)

    async def knowledge_changed(self, files: Sequence[str]) -> None:
        """A knowledge file changed on disk: reload, and tell the admin group how it went, so
        an editor who saved a mistake learns it from the group, with the file and line."""
        folder = self.config.knowledge.dir
        hashes = await asyncio.to_thread(lambda: {f: _file_hash(folder / f) for f in files})
        if files and all(
            f in self._own_writes and self._own_writes[f] == h for f, h in hashes.items()
        ):
            log.info("event=knowledge_change_own files=%s", len(files))
            return  # the bot's own write, already loaded
        result = await self.reload_knowledge()
        if self.admin_chat is None:
            return
        names = ", ".join(files[:5]) + (" …" if len(files) > 5 else "")
        text = self._t("admin.kb_changed", files=names) + "\n" + result
        try:
            for part in split_message(text):
                await self._send_admin(part, None)
        except DeliveryError as exc:
            log.warning("event=reload_notice_failed reason=%s", exc.reason)

    async def send_digest(self, *, catch_up: bool = False) -> bool:
        """The daily digest, once per working day (a holiday's digest would wait unread).

        The daily job sends it at admin.digest_at; the repeating check (`catch_up`) sends it
        later the same day when that did not happen: the bot was down at that time, or the
        send failed. Recorded after it went out: a crash in between sends it twice, never
        zero times."""
        now = self.storage.now()
        today = self.calendar.local_date(now)
        at = self.config.admin.digest_at
        if self.admin_chat is None or at is None or not self.calendar.is_working_day(today):
            return False
        if catch_up and now.astimezone(self.calendar.tz).time() < at:
            return False
        key = f"digest:{today.isoformat()}"
        async with self._digest_lock:
            if await self.storage.done_once(key):
                return False
            text = await digest_text(self.storage, self.calendar, self.config, self._opd_label, now)
            try:
                for part in split_message(text):
                    await self._send_admin(part, None)
            except DeliveryError as exc:
                log.warning("event=digest_not_sent reason=%s", exc.reason)
                return False
            await self.storage.mark_done_once(key)
        log.info("event=digest_sent catch_up=%s", catch_up)
        return True

    async def send_reminders(self) -> int:
        """One reminder in the thread of each ticket that passed the internal target without
        any response; recorded as a ticket event so a restart does not repeat it."""
        if self.admin_chat is None or not self.config.admin.reminders:
            return 0
        now = self.storage.now()
        late = overdue(
            await self.storage.open_tickets(),
            self.calendar,
            target_seconds(self.config, self.calendar),
            now,
        )
        done = await self.storage.reminded(o.ticket.id for o in late)
        sent = 0
        for item in late:
            if item.ticket.id in done:
                continue
            if sent >= REMINDERS_PER_CHECK:
                break  # the rest at the next check: the group takes 20 messages a minute
            # Marked first, so a crash after the send does not repeat it; taken back when the
            # send fails (or the bot stops mid-retry), so the next check sends it after all.
            await self.storage.add_event(item.ticket.id, "bot", "reminded")
            try:
                await self._send_in_thread(
                    item.ticket,
                    reminder_text(item, self.config),
                    reply_to=item.ticket.post_message_id,
                )
            except DeliveryError as exc:
                await self.storage.remove_events(item.ticket.id, "reminded")
                log.warning(
                    "event=reminder_not_sent ticket=%s reason=%s", item.ticket.id, exc.reason
                )
                break  # the group is unreachable: the others would fail as well
            except BaseException:
                await self.storage.remove_events(item.ticket.id, "reminded")
                raise
            sent += 1
        if sent:
            log.info("event=reminders_sent count=%s", sent)
        return sent

    async def _block_command(self, sender: Person, command: str, args: list[str]) -> str:
        """/blokir N and /buka_blokir N: the resident of ticket N (admins know tickets, not
        Telegram ids)."""
        if not args or not args[0].lstrip("#").isdecimal():
            return self._t(f"admin.usage_{command}")
        ticket = await self._ticket_arg(args)
        if ticket is None:
            return self._t("admin.no_ticket", ticket=shorten(args[0].lstrip("#"), 12))
        name = ticket.resident_name
        if command == "blokir":
            done = await self.storage.block(ticket.resident_id, sender.name)
            log.info("event=resident_blocked ticket=%s", ticket.id)
            key = "admin.blocked" if done else "admin.already_blocked"
        else:
            done = await self.storage.unblock(ticket.resident_id)
            log.info("event=resident_unblocked ticket=%s", ticket.id)
            key = "admin.unblocked" if done else "admin.not_blocked"
        return self._t(key, name=name, ticket=ticket.id)

    async def _ticket_arg(self, args: list[str]) -> Ticket | None:
        if not args:
            return None
        raw = args[0].lstrip("#")
        if not raw.isdecimal() or len(raw) > 12:
            return None
        return await self.storage.ticket(int(raw))

    async def admin_button(self, sender: Person, chat_id: int, data: str) -> Toast:
        """A button under a ticket post. Data comes from the client: parse it strictly."""
        if not self._is_admin_chat(chat_id):
            return Toast(self._t("button_stale"))
        parts = data.split(":")
        if len(parts) < 3 or parts[0] != "a" or not parts[2].isdecimal() or len(parts[2]) > 12:
            return Toast(self._t("button_stale"))
        action, ticket = parts[1], await self.storage.ticket(int(parts[2]))
        if ticket is None:
            return Toast(self._t("button_stale"))
        extra = parts[3] if len(parts) > 3 else ""
        if action == "claim":
            return Toast(await self._claim(ticket, sender))
        if action == "close":
            return Toast(await self._close(ticket, sender))
        if action == "ans" and extra.isdecimal():
            return Toast(await self._send_candidate(ticket, int(extra), sender))
        if action == "move":
            await self._show_move_picker(ticket)
            return Toast()
        if action == "mv" and extra:
            return Toast(await self._move(ticket, extra, sender))
        if action == "back":
            await self._refresh_post(ticket.id)
            return Toast()
        if action == "faq":
            # The editor's instructions are too long for a toast: they go into the thread.
            await self._confirm(ticket, await self._make_faq(ticket, sender), None)
            return Toast()
        return Toast(self._t("button_stale"))

    async def _claim(self, ticket: Ticket, sender: Person) -> str:
        if ticket.status == "closed":
            return self._t("admin.already_closed", ticket=ticket.id)
        await self.storage.claim(ticket.id, sender.user_id, sender.name)
        await self._refresh_post(ticket.id)
        return self._t("admin.claimed", ticket=ticket.id, name=sender.name)

    async def _close(self, ticket: Ticket, sender: Person) -> str:
        if is_request(ticket) and ticket.status != "closed":
            return self._t("ppid.no_close", ticket=ticket.id)
        if not await self.storage.close_ticket(ticket.id, sender.name):
            return self._t("admin.already_closed", ticket=ticket.id)
        log.info("event=ticket_closed ticket=%s", ticket.id)
        await self._refresh_post(ticket.id)
        try:
            await self.messenger.send(
                ticket.resident_chat_id, self._t("resident.closed", ticket=ticket.id)
            )
        except DeliveryError as exc:
            log.info("event=close_notice_failed ticket=%s reason=%s", ticket.id, exc.reason)
        return self._t("admin.closed", ticket=ticket.id)

    async def _send_candidate(self, ticket: Ticket, number: int, sender: Person) -> str:
        if ticket.status == "closed":
            return self._t("admin.already_closed", ticket=ticket.id)
        if not 1 <= number <= len(ticket.candidates):
            return self._t("admin.no_candidate", ticket=ticket.id, n=number)
        uid = ticket.candidates[number - 1][0]
        if self.kb.entry(uid) is None:
            return self._t("reply.entry_gone")
        header = self._answer_head(ticket)
        body = answer_text(uid, self.kb, self.config.language)
        try:
            for part in split_message(f"{header}\n\n{body}"):
                await self.messenger.send(ticket.resident_chat_id, part)
        except DeliveryError as exc:
            await self._delivery_failed(ticket, exc, reply_to=ticket.post_message_id)
            return self._t("admin.undelivered", ticket=ticket.id)
        await self.storage.mark_answered(ticket.id, sender.name, uid)
        log.info("event=ticket_answered ticket=%s entry=%s", ticket.id, uid)
        text = self._t("admin.candidate_sent", ticket=ticket.id, entry=uid, name=sender.name)
        await self._confirm(ticket, text, ticket.post_message_id)
        await self._refresh_post(ticket.id)
        return self._t("admin.delivered", ticket=ticket.id, name=ticket.resident_name)

    async def _make_faq(self, ticket: Ticket, sender: Person) -> str:
        """/faq N: the question and the admins' answer become a draft entry for the ticket's
        OPD (knowledge/_drafts), for its editor to finish; the live knowledge is untouched."""
        if ticket.opd is None or ticket.opd not in self.kb.opds:
            return self._t("admin.faq_no_opd", ticket=ticket.id)
        if not ticket.question.strip():
            return self._t("admin.faq_no_question", ticket=ticket.id)
        async with self._draft_lock:
            events = await self.storage.events(ticket.id)
            done = next((e for e in events if e.kind == "faq_draft"), None)
            if done is not None:
                return self._t("admin.faq_exists", ticket=ticket.id, file=done.detail)
            answers = [e for e in events if e.kind == "answered" and e.detail]
            related = next((e.detail for e in answers if self.kb.entry(e.detail)), None)
            texts = [
                e.detail
                for e in answers
                if self.kb.entry(e.detail) is None and not _MEDIA_DETAIL.fullmatch(e.detail)
            ]
            if not texts and related is not None:
                entry = self.kb.entry(related)
                texts = [entry.answer] if entry is not None else []
            if not texts:
                return self._t("admin.faq_no_answer", ticket=ticket.id)
            last = answers[-1]
            draft = Draft(
                opd_id=ticket.opd,
                opd_name=self.kb.opds[ticket.opd].name,
                question=ticket.question,
                answer="\n\n".join(texts),
                ticket_id=ticket.id,
                answered_by=last.actor,
                day=self.calendar.local_date(last.at),  # the regency's date, not UTC's
                related_entry=related,
            )
            try:
                path = await asyncio.to_thread(
                    write_draft, self.config.knowledge.dir, draft, self.config.language
                )
            except DraftError as exc:
                return str(exc)
            except OSError as exc:
                log.error("event=draft_not_written ticket=%s error=%s", ticket.id, exc)
                return self._t("admin.faq_failed", ticket=ticket.id)
            name = f"{path.parent.name}/{path.name}"
            await self.storage.add_event(ticket.id, sender.name, "faq_draft", name)
        log.info("event=faq_draft ticket=%s opd=%s", ticket.id, ticket.opd)
        return self._t("admin.faq_written", ticket=ticket.id, file=name, opd=ticket.opd)

    async def _show_move_picker(self, ticket: Ticket) -> None:
        if ticket.post_message_id is None or self.admin_chat is None:
            return
        rows: list[list[Button]] = []
        for opd in (o for o in self.kb.opds.values() if _owner(o.id)):
            data = f"a:mv:{ticket.id}:{opd.id}"
            if opd.id != ticket.opd and len(data.encode()) <= 64:
                label = opd.aliases[0] if opd.aliases else opd.name
                rows.append([Button(shorten(label, 40), data)])
        rows.append([Button(self._t("button.cancel"), f"a:back:{ticket.id}")])
        text, _ = await self._post_content(ticket)
        try:
            await self.messenger.edit(self.admin_chat, ticket.post_message_id, text, buttons=rows)
        except DeliveryError as exc:
            log.info("event=picker_failed ticket=%s reason=%s", ticket.id, exc.reason)

    async def _move(self, ticket: Ticket, opd_id: str, sender: Person) -> str:
        if opd_id not in self.kb.opds:
            return (
                self._t("admin.unknown_opd", opd=shorten(opd_id, 40))
                + "\n"
                + (self._opd_list_text())
            )
        if ticket.status == "closed":
            return self._t("admin.already_closed", ticket=ticket.id)
        await self.storage.move(ticket.id, opd_id, sender.name)
        log.info("event=ticket_moved ticket=%s opd=%s", ticket.id, opd_id)
        moved = await self.storage.ticket(ticket.id)
        assert moved is not None
        try:
            new_thread = await self._thread_for(opd_id)
        except DeliveryError:
            new_thread = ticket.admin_thread_id
        if await self._is_forum() and new_thread != ticket.admin_thread_id:
            # The ticket now lives in the new OPD's topic: post it there, and leave a pointer
            # (without buttons) in the old one.
            if ticket.post_message_id is not None and self.admin_chat is not None:
                with contextlib.suppress(DeliveryError):
                    await self.messenger.edit(
                        self.admin_chat,
                        ticket.post_message_id,
                        self._t("admin.moved_away", ticket=ticket.id, opd=self._opd_label(opd_id)),
                    )
            await self._post_ticket(moved)
        else:
            await self._refresh_post(ticket.id)
        return self._t("admin.moved", ticket=ticket.id, opd=self._opd_label(opd_id))

    def _opd_list_text(self) -> str:
        return (
            self._t("admin.opd_list")
            + " "
            + ", ".join(sorted(o for o in self.kb.opds if _owner(o)))
        )

    async def _queue_text(self) -> str:
        tickets = await self.storage.open_tickets()
        requests = len(await self.storage.open_requests())
        more = "\n\n" + self._t("ppid.queue_note", count=requests) if requests else ""
        if not tickets:
            return self._t("admin.queue_empty") + more
        now = self.storage.now()
        lines = [self._t("admin.queue_head", count=len(tickets))]
        for ticket in tickets[:50]:
            age = _age(now - ticket.created_at, self._t)
            who = f" · {ticket.claimed_name}" if ticket.claimed_name else ""
            lines.append(
                f"#{ticket.id} · {self._opd_label(ticket.opd)} · {age}{who}\n"
                f"   {shorten(ticket.question, 70)}"
            )
        if len(tickets) > 50:
            lines.append(self._t("admin.queue_more", count=len(tickets) - 50))
        return "\n".join(lines) + more

    async def _history_text(self, ticket: Ticket) -> str:
        lines = [(await self._post_content(ticket))[0], "", self._t("admin.history_head")]
        for event in await self.storage.events(ticket.id):
            when = event.at.astimezone().strftime("%d-%m %H:%M")
            detail = f": {shorten(event.detail, 80)}" if event.detail else ""
            label = self._t(f"event.{event.kind}") if event.kind in _EVENTS else event.kind
            lines.append(f"{when} · {event.actor} · {label}{detail}")
        return "\n".join(lines)

    async def _stats_text(self) -> str:
        total = await self.storage.stats()
        week = await self.storage.stats(self.storage.now() - dt.timedelta(days=7))
        return "\n\n".join(
            [
                self._t("admin.stats_head"),
                self._stats_block(self._t("admin.stats_week"), week),
                self._stats_block(self._t("admin.stats_all"), total),
            ]
        )

    def _stats_block(self, label: str, s: Stats) -> str:
        share = f"{100 * s.answered / s.questions:.0f}%" if s.questions else "-"
        median = (
            _age(dt.timedelta(seconds=s.median_first_response_s), self._t)
            if (s.median_first_response_s is not None)
            else "-"
        )
        return self._t(
            "admin.stats_block",
            label=label,
            questions=s.questions,
            answered=s.answered,
            share=share,
            suggested=s.suggested,
            escalated=s.escalated,
            open=s.tickets_open,
            done=s.tickets_answered + s.tickets_closed,
            median=median,
            helpful=s.helpful,
            not_helpful=s.not_helpful,
        )


_MEDIA_LABELS = frozenset(
    {"photo", "voice", "audio", "video", "video_note", "document", "location", "venue", "contact"}
)
_ADMIN_USAGE = frozenset({"tiket", "tutup", "ambil", "pindah", "kirim", "faq"})
_EVENTS = frozenset(
    {
        "created",
        "claimed",
        "moved",
        "answered",
        "closed",
        "followup",
        "undelivered",
        "faq_draft",
        "reminded",
        "extended",
        "refused",
        "objected",
    }
)
# How an admin's answer without text (a photo, a voice note) is recorded.
_MEDIA_DETAIL = re.compile(r"\[[a-z_]+\]")


def _owner(opd: str | None) -> str | None:
    """The OPD a ticket can belong to: the bot's own clarifications file is no agency, so a
    question routed there goes to the general topic (the admins move it)."""
    return None if opd == CLARIFY_OPD else opd


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _number(text: str) -> int | None:
    """A typed choice: '2', ' 2.', '#2', 'no 2' are all 2."""
    cleaned = text.strip().lower()
    for prefix in ("nomor", "nmr", "no"):
        cleaned = cleaned.removeprefix(prefix)
    cleaned = cleaned.strip(" #.)")
    if cleaned.isascii() and cleaned.isdecimal() and len(cleaned) <= 3:
        return int(cleaned)
    return None


def _numbers_phrase(count: int, tr: Callable[..., str]) -> str:
    if count == 1:
        return "1"
    return tr("word.or", first=", ".join(str(n) for n in range(1, count)), last=count)


def _number_buttons(token: int, count: int) -> list[list[Button]]:
    buttons = [Button(str(n), f"p:{token}:{n}") for n in range(1, count + 1)]
    return [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]


def _age(delta: dt.timedelta, tr: Callable[..., str]) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return tr("age.minutes", n=minutes)
    hours = minutes // 60
    if hours < 48:
        return tr("age.hours", n=hours)
    return tr("age.days", n=hours // 24)
