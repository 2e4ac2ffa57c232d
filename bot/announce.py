"""Announcements: residents follow topics, admins post to them, the bot delivers within limits.

A resident follows topics with /langganan (every OPD of the knowledge base, and each kecamatan
of `regency.kecamatan`) and stops everything with /berhenti, which every announcement names in
its last line. An admin replies to a message in the admin group with /umumkan TOPIK (or
/klarifikasi TOPIK [isu], which also adds a dated entry to the knowledge, bot.clarify): the
recipients are fixed at that moment, one row each, and a background task sends to them.

The pace is `announcements.per_second`, below the bot's overall limit, so residents asking
questions during a broadcast still get their answers; the flood limiter (handlers/flood.py)
stays the backstop for the per-chat and overall limits and for 429s. Each delivery is recorded
right after Telegram accepted it; after a restart the pending ones go out, and a crash between
Telegram's acceptance and the record sends that one message again (issue 4's trade-off). A
resident who blocked the bot is unsubscribed from every topic and counted.

Core only: the Service's messenger and storage, no Telegram.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.clarify import (
    CLARIFY_OPD,
    FILE_NAME,
    Clarification,
    ClarifyError,
    first_sentence,
    write_clarification,
)
from bot.delivery import Interrupted
from bot.messaging import Button, Buttons, DeliveryError, Incoming
from bot.storage import Announcement, Pending, Resident, StorageError
from bot.text import shorten, split_message, utf16_len

if TYPE_CHECKING:
    from bot.service import Service

log = logging.getLogger(__name__)

TOPIC_ALL = "semua"  # admins only: every subscriber of any topic, once
KECAMATAN_PREFIX = "kec-"
PENDING_KIND = "subscribe"
# A list longer than this is shown in two pages (OPDs, kecamatan), each reachable by a number.
ONE_PAGE = 12
BUTTONS_PER_ROW = 5
# The group's progress message is edited at most this often (the group takes 20 messages a
# minute, edits included, and tickets must still get through).
PROGRESS_EVERY = 5.0
BATCH = 200  # recipients read from the database at a time
MAX_IN_FLIGHT = 32  # sends waiting for Telegram's answer at once
TRANSIENT_TRIES = 5  # a messenger that does not retry by itself (the terminal)
STOP_GRACE = 5.0  # seconds the sends in flight get to finish when the bot stops
UNREACHABLE_PAUSE = 60.0  # seconds before a broadcast tries again after Telegram was unreachable
CAPTION_LIMIT = 1024  # Telegram's caption limit, UTF-16 units
# Media whose copy takes a caption; the others get the heading as a message of its own.
CAPTIONED = frozenset({"photo", "video", "audio", "document", "voice"})


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    kind: Literal["opd", "kecamatan"]


def slug(name: str) -> str:
    """'Tanjung Melati' -> 'tanjung-melati' (accents dropped, anything else a hyphen)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def kecamatan_id(name: str) -> str:
    return KECAMATAN_PREFIX + slug(name)


class Pacer:
    """Start times at most `rate` a second, in the order asked for.

    A slot is taken without awaiting anything, so concurrent senders get successive slots; a
    `hold` (Telegram said "retry after N") moves every later slot behind it.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def take(self) -> float:
        """Reserve the next slot; seconds to wait for it."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now

    async def wait(self) -> None:
        delay = self.take()
        if delay > 0:
            await self._sleep(delay)

    def hold(self, seconds: float) -> None:
        self._next = max(self._next, self._clock() + seconds)


@dataclass
class _Run:
    """One announcement being sent: its live counts, for the progress message."""

    announcement: Announcement
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    source_gone: bool = False
    unreachable: bool = False  # Telegram stayed unreachable: the rest waits for the next pass


class Announcements:
    """Subscriptions, the /langganan list, /berhenti, and the broadcast engine."""

    def __init__(self, service: Service) -> None:
        self.s = service
        self.pacer = Pacer(service.config.announcements.per_second)
        self._task: asyncio.Task[None] | None = None
        self._wanted = False
        self._stop = asyncio.Event()
        self._kb_lock = asyncio.Lock()

    def _t(self, key: str, **values: object) -> str:
        return self.s._t(key, **values)

    # ------------------------------------------------------------------ topics

    def topics(self) -> list[Topic]:
        """OPDs first (by name), then the kecamatan in the config's order."""
        opds = sorted(
            (o for o in self.s.kb.opds.values() if o.id != CLARIFY_OPD),
            key=lambda o: o.name.casefold(),
        )
        found = [Topic(o.id, o.name, "opd") for o in opds]
        taken = {t.id for t in found}
        for name in self.s.config.regency.kecamatan:
            topic = Topic(kecamatan_id(name), self._t("announce.kecamatan", name=name), "kecamatan")
            if topic.id not in taken and topic.id != KECAMATAN_PREFIX:
                found.append(topic)
                taken.add(topic.id)
        return found

    def topic_name(self, topic_id: str) -> str:
        if topic_id == TOPIC_ALL:
            return self.s.config.regency.name
        named = {t.id: t.name for t in self.topics()}
        return named.get(topic_id, topic_id)

    def find_topic(self, typed: str) -> str | None:
        """An admin's topic: an id (any case), `semua`, or a kecamatan's name without kec-."""
        wanted = typed.strip().lower()
        if wanted == TOPIC_ALL:
            return TOPIC_ALL
        ids = [t.id for t in self.topics()]
        if wanted in ids:
            return wanted
        if KECAMATAN_PREFIX + slug(wanted) in ids:
            return KECAMATAN_PREFIX + slug(wanted)
        return None

    # ------------------------------------------------------------------ residents

    async def command(self, resident: Resident, command: str) -> bool:
        """/langganan and /berhenti; False for any other command."""
        if command == "langganan":
            await self._show_list(resident, "opd" if self._paged() else "all")
            return True
        if command == "berhenti":
            stopped = await self.s.storage.unsubscribe_all(resident.id)
            pending = await self.s._pending(resident)
            if pending is not None and pending.kind == PENDING_KIND:
                await self.s.storage.clear_pending(resident.id)
            log.info("event=unsubscribed_all topics=%s", stopped)
            key = "announce.stopped_all" if stopped else "announce.stopped_none"
            await self.s._say(resident, self._t(key, count=stopped))
            return True
        return False

    def _paged(self) -> bool:
        topics = self.topics()
        kinds = {t.kind for t in topics}
        return len(topics) > ONE_PAGE and len(kinds) == 2

    def _page(self, page: str) -> tuple[list[Topic], str | None]:
        """The topics of a page and the page its extra number leads to."""
        topics = self.topics()
        if page == "all":
            return topics, None
        kind = "opd" if page == "opd" else "kecamatan"
        return [t for t in topics if t.kind == kind], ("kec" if page == "opd" else "opd")

    async def _show_list(self, resident: Resident, page: str, head: str = "") -> None:
        topics, nav = self._page(page)
        if not topics:
            await self.s._say(resident, self._t("announce.no_topics"))
            return
        payload = {"page": page, "topics": [t.id for t in topics], "nav": nav}
        token = await self.s.storage.set_pending(resident.id, PENDING_KIND, payload)
        await self._send_list(resident, token, payload, head)

    async def _send_list(
        self, resident: Resident, token: int, payload: dict[str, Any], head: str
    ) -> None:
        ids = [str(i) for i in payload["topics"]]
        nav = payload.get("nav")
        mine = await self.s.storage.subscriptions(resident.id)
        names = {t.id: t.name for t in self.topics()}
        lines = [head, ""] if head else []
        lines.append(self._t("announce.list_head"))
        kinds = {t.id: t.kind for t in self.topics()}
        section = None
        for n, topic_id in enumerate(ids, start=1):
            kind = kinds.get(topic_id, "opd")
            if payload.get("page") == "all" and kind != section:
                section = kind
                lines.append(self._t(f"announce.section_{kind}"))
            mark = "✅ " if topic_id in mine else ""
            lines.append(f"{n}. {mark}{shorten(names.get(topic_id, topic_id), 60)}")
        count = len(ids)
        if nav is not None:
            lines.append(f"{count + 1}. {self._t(f'announce.page_{nav}')}")
        lines.append(self._t("announce.list_hint"))
        numbers = [
            Button(f"✅ {n}" if ids[n - 1] in mine else str(n), f"p:{token}:{n}")
            for n in range(1, count + 1)
        ]
        if nav is not None:
            numbers.append(Button(self._t(f"announce.button_{nav}"), f"p:{token}:{count + 1}"))
        rows: list[list[Button]] = [
            numbers[i : i + BUTTONS_PER_ROW] for i in range(0, len(numbers), BUTTONS_PER_ROW)
        ]
        rows.append([Button(self._t("announce.button_done"), f"p:{token}:0")])
        buttons: Buttons = rows
        await self.s._say(resident, "\n".join(lines), buttons)

    async def choose(self, resident: Resident, pending: Pending, number: int) -> bool:
        """A number typed or pressed while the topic list is shown: toggle, page, or done."""
        payload = pending.payload
        ids = [str(i) for i in payload.get("topics", [])]
        nav = payload.get("nav")
        if number == 0:
            await self.s.storage.clear_pending(resident.id)
            mine = await self.s.storage.subscriptions(resident.id)
            if not mine:
                await self.s._say(resident, self._t("announce.done_none"))
                return True
            names = ", ".join(self.topic_name(t) for t in sorted(mine, key=self._order))
            await self.s._say(resident, self._t("announce.done", topics=names))
            return True
        if 1 <= number <= len(ids):
            topic_id = ids[number - 1]
            subscribed = await self.s.storage.toggle_subscription(resident.id, topic_id)
            log.info("event=subscription topic=%s on=%s", topic_id, subscribed)
            key = "announce.subscribed" if subscribed else "announce.unsubscribed"
            head = self._t(key, topic=self.topic_name(topic_id))
            # The same token: buttons of the earlier list keep working, numbers keep meaning.
            await self._send_list(resident, pending.token, payload, head)
            return True
        if nav is not None and number == len(ids) + 1:
            await self._show_list(resident, str(nav))
            return True
        last = len(ids) + (1 if nav is not None else 0)
        await self.s._say(resident, self._t("announce.bad_number", n=number, last=last))
        return True

    def _order(self, topic_id: str) -> int:
        ids = [t.id for t in self.topics()]
        return ids.index(topic_id) if topic_id in ids else len(ids)

    # ------------------------------------------------------------------ the admin group

    async def admin_command(self, msg: Incoming, command: str, args: list[str]) -> bool:
        """/umumkan TOPIK and /klarifikasi TOPIK [isu], replying to the message to send."""
        if command not in ("umumkan", "klarifikasi"):
            return False
        reply = await self._announce(msg, command, args)
        if reply is not None:
            await self._reply(msg, reply)
        return True

    async def _usage(self, command: str, problem: str = "") -> str:
        counts = await self.s.storage.subscriber_counts()
        listed = ", ".join(f"{t.id} ({counts.get(t.id, 0)})" for t in self.topics())
        usage = self._t(f"announce.usage_{command}", topics=listed, all=TOPIC_ALL)
        return f"{problem}\n{usage}" if problem else usage

    async def _announce(self, msg: Incoming, command: str, args: list[str]) -> str | None:
        """Make the announcement and post its progress message; the sending runs apart."""
        if not args:
            return await self._usage(command)
        topic = self.find_topic(args[0])
        if topic is None:
            problem = self._t("announce.unknown_topic", topic=shorten(args[0], 40))
            return await self._usage(command, problem)
        replied = msg.reply_to is not None and msg.reply_to != msg.thread_id
        empty = msg.reply_to_media in (None, "other") and not (msg.reply_to_text or "").strip()
        if not replied or empty:
            return await self._usage(command, self._t("announce.no_reply"))
        assert msg.reply_to is not None
        media = msg.reply_to_media
        announcement, new = await self.s.storage.create_announcement(
            topic=topic,
            kind=command,
            chat_id=msg.chat_id,
            message_id=msg.reply_to,
            media=media,
            text=(msg.reply_to_text or "").strip(),
            admin_name=msg.sender.name,
            thread_id=msg.thread_id,
            everyone=topic == TOPIC_ALL,
        )
        log.info(
            "event=announcement_created id=%s topic=%s kind=%s total=%s new=%s",
            announcement.id,
            topic,
            command,
            announcement.total,
            new,
        )
        note = ""
        if command == "klarifikasi":
            issue = " ".join(args[1:]).strip()
            note = await self._clarify(announcement, issue)
        text = self._started_text(announcement)
        mid = await self._reply(msg, f"{text}\n{note}" if note else text)
        await self.s.storage.set_announcement_post(announcement.id, mid, note)
        if announcement.status == "sending":
            self.kick()
        return None

    async def _reply(self, msg: Incoming, text: str) -> int | None:
        assert self.s.admin_chat is not None
        mid = None
        for part in split_message(text):
            try:
                mid = await self.s.messenger.send(
                    self.s.admin_chat, part, thread_id=msg.thread_id, reply_to=msg.message_id
                )
            except DeliveryError as exc:
                log.error("event=admin_reply_failed reason=%s", exc.reason)
                return mid
        return mid

    def _started_text(self, a: Announcement) -> str:
        topic = self.topic_name(a.topic)
        if a.total == 0:
            return self._t("announce.no_subscribers", id=a.id, topic=topic)
        seconds = a.total / self.s.config.announcements.per_second
        duration = (
            self._t("announce.duration_short")
            if seconds < 60
            else self._t("announce.duration_minutes", n=round(seconds / 60))
        )
        return self._t("announce.started", id=a.id, topic=topic, total=a.total, duration=duration)

    def _progress_text(self, run: _Run) -> str:
        a, c = run.announcement, run.counts
        return self._t(
            "announce.progress",
            id=a.id,
            topic=self.topic_name(a.topic),
            sent=c["sent"],
            total=a.total,
            blocked=c["blocked"],
            failed=c["failed"],
        )

    def _final_text(self, a: Announcement) -> str:
        key = "announce.finished" if a.status == "done" else "announce.source_gone"
        return self._t(
            key,
            id=a.id,
            topic=self.topic_name(a.topic),
            sent=a.sent,
            total=a.total,
            blocked=a.blocked,
            failed=a.failed,
        )

    async def _clarify(self, announcement: Announcement, issue: str) -> str:
        """Add the clarification to the knowledge base; the line for the group."""
        if not announcement.text:
            return self._t("announce.kb_nothing")
        topic = announcement.topic
        opd = self.s.kb.opds.get(topic) if topic != TOPIC_ALL else None
        day = self.s.calendar.local_date(announcement.created_at)
        clarification = Clarification(
            announcement_id=announcement.id,
            question=issue or first_sentence(announcement.text),
            answer=announcement.text,
            from_name=opd.name if opd is not None else None,
            admin=announcement.admin_name,
            day=day,
            regency=self.s.config.regency.name,
        )
        folder = self.s.config.knowledge.dir
        async with self._kb_lock:
            try:
                entry_id = await asyncio.to_thread(
                    write_clarification, folder, clarification, self.s.config.language
                )
            except ClarifyError as exc:
                log.warning("event=clarification_refused id=%s", announcement.id)
                return self._t("announce.kb_refused", error=str(exc))
            except OSError as exc:
                log.error("event=clarification_not_written id=%s error=%s", announcement.id, exc)
                return self._t("announce.kb_write_failed")
        await self.s.wrote_knowledge(folder / FILE_NAME)
        result = await self.s.reload_knowledge()
        if self.s.kb.entry(f"{CLARIFY_OPD}/{entry_id}") is None:
            return self._t("announce.kb_not_loaded", entry=entry_id) + "\n" + result
        log.info("event=clarification_added id=%s entry=%s", announcement.id, entry_id)
        return self._t("announce.kb_added", entry=entry_id)

    # ------------------------------------------------------------------ the broadcast

    def kick(self) -> None:
        """Make sure the sender runs. Its task is not the handler's: a context of its own, so
        it is no part of the update being handled (and the handler returns at once)."""
        self._wanted = True
        if self._stop.is_set():
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                self._run(), name="announcements", context=contextvars.Context()
            )

    async def resume(self) -> int:
        """At start: go on with announcements a stop interrupted (their pending recipients)."""
        unfinished = await self.s.storage.unfinished_announcements()
        if unfinished:
            log.info("event=announcements_resumed count=%s", len(unfinished))
            self.kick()
        return len(unfinished)

    async def idle(self) -> None:
        """Wait until every announcement is sent (the terminal chat, tests)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """The bot is stopping: no new sends; those in flight get `grace` seconds to finish
        and be recorded, then are cancelled. What is left is sent after the next start."""
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("event=announcements_stopped")

    async def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wanted = False
                queue = await self.s.storage.unfinished_announcements()
                if not queue:
                    if self._wanted:
                        continue  # one was made while this looked
                    return
                await self._broadcast(queue[0])
        except StorageError as exc:
            # The announcement stays unfinished: the next one, or the next start, goes on.
            log.error("event=announcements_failed error=%s", exc)
        except Exception:
            log.exception("event=announcements_failed")

    async def _broadcast(self, announcement: Announcement) -> None:
        run = _Run(announcement)
        run.counts.update(await self.s.storage.delivery_counts(announcement.id))
        log.info("event=broadcast_started id=%s pending=%s", announcement.id, run.counts["pending"])
        progress = asyncio.create_task(self._progress_loop(run))
        in_flight: set[asyncio.Task[None]] = set()
        room = asyncio.Semaphore(min(MAX_IN_FLIGHT, self.s.config.announcements.per_second))

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            room.release()

        try:
            after = 0
            while not self._stop.is_set() and not run.source_gone and not run.unreachable:
                batch = await self.s.storage.pending_deliveries(announcement.id, after, BATCH)
                if not batch:
                    break
                for resident_id, chat_id in batch:
                    if self._stop.is_set() or run.source_gone or run.unreachable:
                        break
                    after = resident_id
                    await room.acquire()
                    task = asyncio.create_task(self._deliver(run, resident_id, chat_id))
                    in_flight.add(task)
                    task.add_done_callback(finished)
            if in_flight:
                await asyncio.wait(set(in_flight))
        except asyncio.CancelledError:
            for task in in_flight:
                task.cancel()
            raise
        finally:
            progress.cancel()
        if self._stop.is_set():
            return  # the rest after the next start
        if run.unreachable:
            # An outage, not a failure of these residents: they stay pending, and the
            # broadcast goes on after a pause (or after the next start).
            log.warning("event=broadcast_paused id=%s reason=unreachable", announcement.id)
            await self._stopping_within(UNREACHABLE_PAUSE)
            return
        status = "stopped" if run.source_gone else "done"
        final = await self.s.storage.finish_announcement(announcement.id, status)
        log.info(
            "event=broadcast_finished id=%s status=%s sent=%s blocked=%s failed=%s",
            final.id,
            status,
            final.sent,
            final.blocked,
            final.failed,
        )
        await self._show_final(final)

    async def _deliver(self, run: _Run, resident_id: int, chat_id: int) -> None:
        announcement = run.announcement
        if not await self.s.storage.delivery_pending(announcement.id, resident_id):
            run.counts["pending"] -= 1  # they sent /berhenti after the batch was read
            return
        tries = 0
        while True:
            try:
                await self._send(announcement, chat_id)
                status = "sent"
            except Interrupted:
                return  # the bot is stopping: still pending, sent after the next start
            except DeliveryError as exc:
                if exc.reason == "transient" and tries < TRANSIENT_TRIES:
                    tries += 1
                    wait = exc.retry_after if exc.retry_after is not None else 2.0**tries
                    self.pacer.hold(wait)  # Telegram asked the whole bot to wait
                    if await self._stopping_within(wait):
                        return
                    continue
                if exc.reason == "unreachable":
                    run.unreachable = True
                    return  # still pending
                if announcement.media is not None and "copy not found" in exc.detail.lower():
                    run.source_gone = True  # an admin deleted the message being announced
                    return
                status = "blocked" if exc.reason == "blocked" else "failed"
                if status == "failed":
                    log.warning(
                        "event=announcement_not_delivered id=%s reason=%s",
                        announcement.id,
                        exc.reason,
                    )
            break
        try:
            await self.s.storage.record_delivery(announcement.id, resident_id, status)
        except StorageError as exc:
            # Sent but not recorded: sent again after a restart, which is the lesser harm.
            log.error("event=delivery_not_recorded id=%s error=%s", announcement.id, exc)
            return
        run.counts[status] += 1
        run.counts["pending"] -= 1

    async def _stopping_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    def _heading(self, announcement: Announcement) -> str:
        key = f"announce.heading_{announcement.kind}"
        return self._t(key, topic=self.topic_name(announcement.topic))

    async def _send(self, announcement: Announcement, chat_id: int) -> None:
        """One resident's copy: heading, the message, the /berhenti footer; one message when
        it fits (a media's caption takes 1024 units), two or more when it does not. A text
        with formatting or links behind words (media "text") is copied after the heading, so
        what the admins wrote arrives as they wrote it."""
        messenger = self.s.messenger
        heading = self._heading(announcement)
        footer = self._t("announce.footer")
        body = announcement.text
        if announcement.media is None:
            for part in split_message(f"{heading}\n\n{body}\n\n{footer}"):
                await self.pacer.wait()
                await messenger.send(chat_id, part)
            return
        caption = f"{heading}\n\n{body}\n\n{footer}" if body else f"{heading}\n\n{footer}"
        if announcement.media in CAPTIONED and utf16_len(caption) <= CAPTION_LIMIT:
            await self.pacer.wait()
            await messenger.copy(
                chat_id, announcement.chat_id, announcement.message_id, caption=caption
            )
            return
        await self.pacer.wait()
        await messenger.send(chat_id, f"{heading}\n{footer}")
        await self.pacer.wait()
        await messenger.copy(chat_id, announcement.chat_id, announcement.message_id)

    async def _progress_loop(self, run: _Run) -> None:
        shown = ""
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            text = self._progress_text(run)
            if text != shown and await self._edit_progress(run.announcement.id, text):
                shown = text

    async def _edit_progress(self, announcement_id: int, text: str) -> bool:
        found = await self.s.storage.announcement(announcement_id)
        if found is None or found.progress_message_id is None or self.s.admin_chat is None:
            return False
        full = f"{text}\n{found.note}" if found.note else text
        try:
            await self.s.messenger.edit(self.s.admin_chat, found.progress_message_id, full)
        except DeliveryError as exc:
            log.info("event=progress_not_shown id=%s reason=%s", announcement_id, exc.reason)
            return False
        return True

    async def _show_final(self, announcement: Announcement) -> None:
        """The count in the progress message; a new message when that one is gone."""
        text = self._final_text(announcement)
        if await self._edit_progress(announcement.id, text) or self.s.admin_chat is None:
            return
        full = f"{text}\n{announcement.note}" if announcement.note else text
        try:
            await self.s.messenger.send(self.s.admin_chat, full, thread_id=announcement.thread_id)
        except DeliveryError as exc:
            log.warning("event=final_count_not_shown id=%s reason=%s", announcement.id, exc.reason)
