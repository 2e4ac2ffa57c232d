"""All SQL of tanya: residents, tickets, the message map, the conversation log and feedback.

One SQLite file (WAL), opened through aiosqlite so the event loop never waits on the disk.
The schema is versioned with `PRAGMA user_version` and upgraded by the numbered migrations
below at open, so a regency can update tanya without losing a ticket. Everything returns the
core's own dataclasses; driver errors leave this module as `StorageError`.

The message map (`ticket_messages`) is what lets an admin answer a ticket by replying to any
message of its thread, also after a restart: every message the bot posts in the admin group
for a ticket, and every admin reply, is recorded against the ticket.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from bot.operation import current, effect_key, from_this_update, replaying, token_for

TicketStatus = Literal["open", "answered", "closed"]
T = TypeVar("T")
# tickets.kind of a formal information request: it has its own deadlines and commands, so the
# ticket queue, follow-ups and the ticket reminders leave it out.
REQUEST_KIND = "permohonan"

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE residents (
        id INTEGER PRIMARY KEY,          -- Telegram user id (= private chat id)
        chat_id INTEGER NOT NULL,
        name TEXT NOT NULL,              -- display name only; never a phone number
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        resident_id INTEGER NOT NULL REFERENCES residents(id),
        at TEXT NOT NULL,
        text TEXT NOT NULL,
        decision TEXT NOT NULL,          -- answer, suggest, escalate, smalltalk, choice, menu...
        entry TEXT,
        score REAL,
        opd TEXT,
        ticket_id INTEGER
    );
    CREATE INDEX conversations_at ON conversations(at);
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        resident_id INTEGER NOT NULL REFERENCES residents(id),
        opd TEXT,
        status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
        question TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'text',
        candidates TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        admin_thread_id INTEGER,
        post_message_id INTEGER,
        claimed_by INTEGER,
        claimed_name TEXT,
        first_response_at TEXT,
        answered_at TEXT,
        closed_at TEXT
    );
    CREATE INDEX tickets_resident ON tickets(resident_id, status);
    CREATE INDEX tickets_status ON tickets(status, created_at);
    CREATE TABLE ticket_messages (
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        role TEXT NOT NULL,              -- post, followup, admin, bot, resident
        PRIMARY KEY (chat_id, message_id)
    );
    CREATE TABLE ticket_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id);
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id),
        resident_id INTEGER NOT NULL,
        entry TEXT NOT NULL,
        helpful INTEGER NOT NULL,
        at TEXT NOT NULL,
        UNIQUE (conversation_id)
    );
    CREATE TABLE pending (
        resident_id INTEGER PRIMARY KEY,
        token INTEGER NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE forum_topics (
        chat_id INTEGER NOT NULL,
        opd TEXT NOT NULL,
        thread_id INTEGER NOT NULL,
        PRIMARY KEY (chat_id, opd)
    );
    """,
    # 2: durable intake and idempotent replay (issue 4)
    """
    CREATE TABLE updates (
        update_id INTEGER PRIMARY KEY,   -- Telegram's; stored before Telegram is told
        body TEXT NOT NULL,              -- the update as JSON, to handle it after a crash
        received_at TEXT NOT NULL,
        done_at TEXT                     -- NULL until its handling finished
    );
    CREATE INDEX updates_pending ON updates(update_id) WHERE done_at IS NULL;
    CREATE TABLE sent (
        key TEXT PRIMARY KEY,            -- operation.effect_key: update id and step
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        at TEXT NOT NULL
    );
    ALTER TABLE conversations ADD COLUMN source TEXT;
    CREATE UNIQUE INDEX conversations_source ON conversations(source);
    ALTER TABLE tickets ADD COLUMN source TEXT;
    CREATE UNIQUE INDEX tickets_source ON tickets(source);
    """,
    # 3: residents blocked by the admins (issue 4, abuse)
    """
    CREATE TABLE blocked (
        resident_id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        by TEXT NOT NULL,                -- the admin's display name
        notified INTEGER NOT NULL DEFAULT 0
    );
    -- The pending choice as the first attempt at an update read it: its replay reads this,
    -- not the row that attempt went on to change (a typed "1" must mean the same list).
    CREATE TABLE pending_seen (
        update_id INTEGER PRIMARY KEY,
        body TEXT                        -- the pending row as JSON; NULL when there was none
    );
    """,
    # 4: formal information requests (PPID, UU 14/2008) and objections (issue 6)
    """
    CREATE TABLE info_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket_id INTEGER NOT NULL UNIQUE REFERENCES tickets(id),
        number TEXT NOT NULL UNIQUE,     -- registration number, e.g. PPID/2026/12/0001
        resident_id INTEGER NOT NULL REFERENCES residents(id),
        name TEXT NOT NULL,              -- as the requester gave it (UU 14/2008 art. 22)
        contact TEXT NOT NULL,
        info TEXT NOT NULL,
        purpose TEXT NOT NULL,
        delivery TEXT NOT NULL,          -- chat, email, pickup
        email TEXT,
        received_at TEXT NOT NULL,
        due_at TEXT NOT NULL,            -- moves once, by an extension
        extended_at TEXT,
        extension_reason TEXT,
        extended_by TEXT,
        status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'refused')),
        decided_at TEXT,
        decided_by TEXT,
        refusal_category TEXT,
        refusal_reason TEXT,
        reminded_soon INTEGER NOT NULL DEFAULT 0,
        lapse_told INTEGER NOT NULL DEFAULT 0,
        source TEXT UNIQUE
    );
    CREATE INDEX info_requests_status ON info_requests(status, due_at);
    CREATE INDEX info_requests_resident ON info_requests(resident_id);
    CREATE TABLE objections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        number TEXT NOT NULL UNIQUE,
        request_id INTEGER NOT NULL REFERENCES info_requests(id),
        resident_id INTEGER NOT NULL REFERENCES residents(id),
        reason TEXT NOT NULL,            -- UU 14/2008 art. 35(1) letter, a-g
        detail TEXT NOT NULL,
        filed_at TEXT NOT NULL,
        due_at TEXT NOT NULL,            -- the superior's 30 working days (art. 36)
        chat_id INTEGER,                 -- where it was posted (the PPID's superior)
        message_id INTEGER,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered')),
        answered_at TEXT,
        source TEXT UNIQUE
    );
    CREATE TABLE number_series (
        series TEXT PRIMARY KEY,         -- e.g. 'request:2026': numbers restart each year
        last INTEGER NOT NULL
    );
    -- A guided dialogue (/permohonan, /keberatan) in progress: what was typed so far.
    CREATE TABLE dialogues (
        resident_id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        step TEXT NOT NULL,
        data TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        token INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        source TEXT                      -- effect key of the update that saved it last
    );
    -- The dialogue as the first attempt at an update read it (as pending_seen, for replays).
    CREATE TABLE dialogue_seen (
        update_id INTEGER PRIMARY KEY,
        body TEXT
    );
    """,
    # 5: announcements to subscribers (issue 6): bot.announce
    """
    CREATE TABLE subscriptions (
        resident_id INTEGER NOT NULL REFERENCES residents(id),
        topic TEXT NOT NULL,             -- an OPD id, kec-<slug>
        since TEXT NOT NULL,
        PRIMARY KEY (resident_id, topic)
    );
    CREATE INDEX subscriptions_topic ON subscriptions(topic);
    CREATE TABLE announcements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,             -- an OPD id, kec-<slug>, or semua
        kind TEXT NOT NULL CHECK (kind IN ('umumkan', 'klarifikasi')),
        chat_id INTEGER NOT NULL,        -- the admin message that is announced
        message_id INTEGER NOT NULL,
        media TEXT,                      -- NULL for text; else copied (MEDIA_KINDS)
        text TEXT NOT NULL DEFAULT '',   -- the text or caption
        admin_name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        thread_id INTEGER,               -- the group topic the command came from
        progress_message_id INTEGER,     -- the group message edited with the progress
        note TEXT NOT NULL DEFAULT '',   -- shown under the progress (the knowledge entry)
        status TEXT NOT NULL DEFAULT 'sending'
            CHECK (status IN ('sending', 'done', 'stopped')),
        total INTEGER NOT NULL DEFAULT 0,
        sent INTEGER NOT NULL DEFAULT 0,
        blocked INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        finished_at TEXT,
        source TEXT UNIQUE               -- effect key of the command: a replay finds it
    );
    CREATE INDEX announcements_status ON announcements(status);
    -- Who an announcement goes to, fixed when it is made; recorded as each send is accepted.
    CREATE TABLE announcement_deliveries (
        announcement_id INTEGER NOT NULL REFERENCES announcements(id),
        resident_id INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'blocked', 'failed')),
        at TEXT,
        PRIMARY KEY (announcement_id, resident_id)
    );
    -- What a typed or pressed number in /langganan did, by the update's effect key: handled
    -- again after a crash, the same number toggles the same way instead of back.
    CREATE TABLE subscription_toggles (
        source TEXT UNIQUE,
        resident_id INTEGER NOT NULL,
        topic TEXT NOT NULL,
        subscribed INTEGER NOT NULL,
        at TEXT NOT NULL
    );
    """,
    # 6: things done once per period, e.g. the digest of one working day
    """
    CREATE TABLE done_once (
        key TEXT PRIMARY KEY,            -- e.g. 'digest:2026-12-03' (local date)
        at TEXT NOT NULL
    );
    """,
)


# Send records let a replay skip what was sent; a replay happens at the next start.
SENT_KEEP = dt.timedelta(days=7)
# How often a returning resident's last_seen is written at most.
RESIDENT_REFRESH = dt.timedelta(minutes=10)


class StorageError(Exception):
    """The database could not do what was asked (disk full, file locked, corrupt)."""


@dataclass(frozen=True)
class Resident:
    id: int
    chat_id: int
    name: str


@dataclass(frozen=True)
class Ticket:
    id: int
    resident_id: int
    opd: str | None
    status: TicketStatus
    question: str
    kind: str
    candidates: tuple[tuple[str, float], ...]
    created_at: dt.datetime
    admin_thread_id: int | None
    post_message_id: int | None
    claimed_by: int | None
    claimed_name: str | None
    first_response_at: dt.datetime | None
    answered_at: dt.datetime | None
    closed_at: dt.datetime | None
    resident_chat_id: int
    resident_name: str
    # The effect key of the update that opened it (bot.operation); None for older tickets.
    source: str | None = None


@dataclass(frozen=True)
class TicketEvent:
    at: dt.datetime
    actor: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Pending:
    """What a number typed (or a button pressed) by a resident means right now."""

    token: int
    kind: str
    payload: Any
    at: dt.datetime


@dataclass(frozen=True)
class InfoRequest:
    """A formal information request (UU 14/2008), which is also a ticket in the admin group."""

    id: int
    ticket_id: int
    number: str
    resident_id: int
    resident_chat_id: int
    name: str
    contact: str
    info: str
    purpose: str
    delivery: str  # chat, email, pickup
    email: str | None
    received_at: dt.datetime
    due_at: dt.datetime
    extended_at: dt.datetime | None
    extension_reason: str | None
    status: Literal["open", "answered", "refused"]
    decided_at: dt.datetime | None
    decided_by: str | None
    refusal_category: str | None
    refusal_reason: str | None
    reminded_soon: bool
    lapse_told: bool
    opd: str | None  # the ticket's OPD, after any move


@dataclass(frozen=True)
class Objection:
    id: int
    number: str
    request_id: int
    resident_id: int
    reason: str
    detail: str
    filed_at: dt.datetime
    due_at: dt.datetime
    chat_id: int | None
    message_id: int | None
    status: Literal["open", "answered"]


@dataclass(frozen=True)
class Dialogue:
    """A guided dialogue in progress; `active` is False while the resident does something else."""

    kind: str
    step: str
    data: dict[str, Any]
    active: bool
    token: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class Announcement:
    """An announcement to a topic's subscribers (bot.announce), with its delivery counts."""

    id: int
    topic: str
    kind: Literal["umumkan", "klarifikasi"]
    chat_id: int
    message_id: int
    media: str | None
    text: str
    admin_name: str
    created_at: dt.datetime
    thread_id: int | None
    progress_message_id: int | None
    note: str
    status: Literal["sending", "done", "stopped"]
    total: int
    sent: int
    blocked: int
    failed: int
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class Conversation:
    id: int
    resident_id: int
    text: str
    decision: str
    entry: str | None
    opd: str | None


@dataclass(frozen=True)
class GapQuestion:
    """A resident's question the knowledge did not answer (bot.gaps clusters them)."""

    text: str  # as the resident wrote it (not masked yet)
    opd: str | None  # a ticket's current OPD; a 👎 answer's entry's OPD
    at: dt.datetime  # when it was asked
    reason: Literal["escalated", "not_helpful"]
    entry: str | None = None  # the entry whose answer got the 👎
    ticket_id: int | None = None  # the ticket it opened, if any


@dataclass(frozen=True)
class Stats:
    questions: int
    answered: int
    suggested: int
    escalated: int
    smalltalk: int
    tickets_open: int
    tickets_answered: int
    tickets_closed: int
    median_first_response_s: float | None
    helpful: int
    not_helpful: int


# --- report figures: the rows `tanya report` reads (bot.report; queries in Storage below)


@dataclass(frozen=True)
class ReportQuestion:
    """One logged resident turn the monthly report counts (see REPORT_DECISIONS)."""

    at: dt.datetime
    decision: str
    entry: str | None  # "opd/entry" for answer and choice
    opd: str | None  # the matcher's OPD; None for a choice (its entry names the OPD)


@dataclass(frozen=True)
class ReportTicket:
    id: int
    created_at: dt.datetime
    opd: str | None  # the OPD holding it now (after any move)
    first_response_at: dt.datetime | None
    extended: bool  # has an "extended" event (the one extension UU 14/2008 allows)


@dataclass(frozen=True)
class ReportFeedback:
    at: dt.datetime
    entry: str
    helpful: bool


# Questions (answer, suggest, escalate, media) and suggestions taken (choice). Smalltalk, menu
# browsing and follow-ups that joined a ticket are not questions of their own.
REPORT_DECISIONS = ("answer", "suggest", "escalate", "media", "choice")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


_TICKET_COLUMNS = (
    "t.id, t.resident_id, t.opd, t.status, t.question, t.kind, t.candidates, t.created_at, "
    "t.admin_thread_id, t.post_message_id, t.claimed_by, t.claimed_name, t.first_response_at, "
    "t.answered_at, t.closed_at, r.chat_id, r.name, t.source"
)
_TICKET_BY_ID = (
    f"SELECT {_TICKET_COLUMNS} FROM tickets t JOIN residents r ON r.id = t.resident_id "
    "WHERE t.id = ?"
)


_REQUEST_COLUMNS = (
    "q.id, q.ticket_id, q.number, q.resident_id, r.chat_id, q.name, q.contact, q.info, "
    "q.purpose, q.delivery, q.email, q.received_at, q.due_at, q.extended_at, "
    "q.extension_reason, q.status, q.decided_at, q.decided_by, q.refusal_category, "
    "q.refusal_reason, q.reminded_soon, q.lapse_told, t.opd"
)


def _request(row: sqlite3.Row | tuple[Any, ...]) -> InfoRequest:
    received = _time(row[11])
    due = _time(row[12])
    assert received is not None and due is not None
    return InfoRequest(
        id=int(row[0]),
        ticket_id=int(row[1]),
        number=row[2],
        resident_id=int(row[3]),
        resident_chat_id=int(row[4]),
        name=row[5],
        contact=row[6],
        info=row[7],
        purpose=row[8],
        delivery=row[9],
        email=row[10],
        received_at=received,
        due_at=due,
        extended_at=_time(row[13]),
        extension_reason=row[14],
        status=row[15],
        decided_at=_time(row[16]),
        decided_by=row[17],
        refusal_category=row[18],
        refusal_reason=row[19],
        reminded_soon=bool(row[20]),
        lapse_told=bool(row[21]),
        opd=row[22],
    )


def _ticket(row: sqlite3.Row | tuple[Any, ...]) -> Ticket:
    created = _time(row[7])
    assert created is not None
    return Ticket(
        id=row[0],
        resident_id=row[1],
        opd=row[2],
        status=row[3],
        question=row[4],
        kind=row[5],
        candidates=tuple((str(c[0]), float(c[1])) for c in json.loads(row[6])),
        created_at=created,
        admin_thread_id=row[8],
        post_message_id=row[9],
        claimed_by=row[10],
        claimed_name=row[11],
        first_response_at=_time(row[12]),
        answered_at=_time(row[13]),
        closed_at=_time(row[14]),
        resident_chat_id=row[15],
        resident_name=row[16],
        source=row[17],
    )


class Storage:
    """The bot's database. Open with `await Storage.open(path)`; close with `await close()`."""

    def __init__(self, db: aiosqlite.Connection, clock: Callable[[], dt.datetime]) -> None:
        self._db = db
        self._clock = clock
        # Per-message reads and writes saved on the hot path (every resident message):
        # residents written recently with the same name and chat, residents known to have no
        # active ticket (only create_ticket gives them one again) and residents known to have no
        # pending choice (only set_pending gives them one).
        self._residents: dict[int, tuple[int, str, dt.datetime]] = {}
        self._no_ticket: set[int] = set()
        self._no_pending: set[int] = set()
        self._no_dialogue: set[int] = set()  # residents known to have no dialogue going
        # Send records go through a connection (and thread) of their own: queued behind the
        # handlers' statements they would wait tens of milliseconds under load, and a crash in
        # that wait is a message sent again on replay (bot.delivery).
        self._journal = db
        self._blocked: dict[int, bool] | None = None

    @classmethod
    async def open(cls, path: Path | str, clock: Callable[[], dt.datetime] = utcnow) -> Storage:
        path = Path(path)
        try:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            db = await _connect(path)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        storage = cls(db, clock)
        try:
            await storage._migrate()
            if str(path) != ":memory:":
                storage._journal = await _connect(path)
        except BaseException:
            await db.close()
            raise
        return storage

    async def close(self) -> None:
        if self._journal is not self._db:
            await self._journal.close()
        await self._db.close()

    def now(self) -> dt.datetime:
        return self._clock()

    async def schema_version(self) -> int:
        row = await self._one("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise StorageError(
                f"database schema version {version} is newer than this tanya "
                f"({len(MIGRATIONS)}); update tanya"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            try:
                # executescript commits first; the script runs in its own transaction so a
                # failed upgrade leaves the previous version intact.
                await self._db.executescript(
                    f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;"
                )
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                raise StorageError(f"schema migration {number} failed: {exc}") from exc

    # --- low-level helpers

    async def _in_thread(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job` with the sqlite3 connection as one job of aiosqlite's thread. aiosqlite
        has no public call for this; `_execute` is what its own methods queue their work with
        (checked against aiosqlite 0.22)."""
        try:
            return await self._db._execute(job, self._db._conn)
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    async def _atomic(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run `body` as one transaction, in one job of the database thread.

        That thread runs jobs one after another, so no other handler's statement can land
        inside the transaction and no lock is needed. (An asyncio lock held across the trips of
        BEGIN, the statements and COMMIT serialised every write of the bot behind event-loop
        turns: under load it, not the CPU, capped throughput.) Being one job, a transaction
        also cannot be cut in half when the awaiting task is cancelled."""

        def job(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = body(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return await self._in_thread(job)

    async def _execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        try:
            cursor = await self._db.execute(sql, tuple(params))
            return cursor.lastrowid or 0
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    async def _changed(self, sql: str, params: Iterable[Any] = ()) -> int:
        """A single write; how many rows it changed."""
        try:
            cursor = await self._db.execute(sql, tuple(params))
            return cursor.rowcount
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    async def _write_all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """A write that returns rows (RETURNING). Each statement is one job of the database
        thread and transactions are too (`_atomic`), so it cannot land inside one."""
        return await self._all(sql, params)

    async def _write_one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self._write_all(sql, params)
        return rows[0] if rows else None

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        # One trip to aiosqlite's thread; execute + fetch + close of a cursor would be three.
        try:
            return list(await self._db.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    # --- durable intake (issue 4): updates stored before Telegram is told they arrived

    async def store_update(self, update_id: int, body: str) -> bool:
        """Keep an update until it is handled; False when it was stored before (Telegram
        delivers an update again when the offset that confirms it never reached it)."""
        return update_id in await self.store_updates([(update_id, body)])

    async def store_updates(self, updates: Iterable[tuple[int, str]]) -> set[int]:
        """Keep a batch of updates (one getUpdates answer, at most 100) with one statement:
        atomic, and one trip to aiosqlite's thread. Returns the ids not stored before."""
        now = _iso(self.now())
        rows = [(u, body, now) for u, body in updates]
        if not rows:
            return set()
        found = await self._write_all(
            "INSERT INTO updates (update_id, body, received_at) VALUES "
            + ", ".join(["(?, ?, ?)"] * len(rows))
            + " ON CONFLICT(update_id) DO NOTHING RETURNING update_id",
            [value for row in rows for value in row],
        )
        return {int(r[0]) for r in found}

    async def unfinished_updates(self) -> list[tuple[int, str]]:
        """Updates stored but not handled to the end, oldest first: to handle after a crash."""
        rows = await self._all(
            "SELECT update_id, body FROM updates WHERE done_at IS NULL ORDER BY update_id"
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def finish_updates(self, update_ids: Iterable[int]) -> None:
        now = _iso(self.now())
        try:
            await self._db.executemany(
                "UPDATE updates SET done_at = ? WHERE update_id = ?",
                [(now, u) for u in update_ids],
            )
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    async def prune_updates(self, keep: dt.timedelta) -> None:
        """Forget handled updates (they hold residents' words) and send records that no
        replay can need any more."""
        cutoff = _iso(self.now() - keep)
        await self._execute(
            "DELETE FROM updates WHERE done_at IS NOT NULL AND done_at < ?", (cutoff,)
        )
        for table in ("pending_seen", "dialogue_seen"):
            await self._execute(
                f"DELETE FROM {table} WHERE update_id NOT IN "
                "(SELECT update_id FROM updates WHERE done_at IS NULL)"
            )
        await self._execute(
            "DELETE FROM sent WHERE at < ?", (_iso(self.now() - max(keep, SENT_KEEP)),)
        )

    async def sent_message(self, key: str) -> int | None:
        """The message an earlier attempt at this step already sent, if any."""
        row = await self._one("SELECT message_id FROM sent WHERE key = ?", (key,))
        return int(row[0]) if row else None

    async def record_sent(self, key: str, chat_id: int, message_id: int) -> None:
        try:
            await self._journal.execute(
                "INSERT OR REPLACE INTO sent (key, chat_id, message_id, at) VALUES (?, ?, ?, ?)",
                (key, chat_id, message_id, _iso(self.now())),
            )
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    # --- personal data (UU 27/2022): a resident's copy, erasure, retention

    async def resident_data(self, resident_id: int) -> dict[str, Any] | None:
        """Everything kept about one resident, for their request to see it."""
        resident = await self._one(
            "SELECT id, name, first_seen, last_seen FROM residents WHERE id = ?", (resident_id,)
        )
        if resident is None:
            return None
        conversations = await self._all(
            "SELECT at, text, decision, entry, ticket_id FROM conversations "
            "WHERE resident_id = ? ORDER BY id",
            (resident_id,),
        )
        tickets = await self._all(
            "SELECT id, opd, status, question, created_at, answered_at, closed_at FROM tickets "
            "WHERE resident_id = ? ORDER BY id",
            (resident_id,),
        )
        feedback = await self._all(
            "SELECT at, entry, helpful FROM feedback WHERE resident_id = ? ORDER BY id",
            (resident_id,),
        )
        requests = await self._all(
            "SELECT number, name, contact, info, purpose, delivery, email, received_at, due_at, "
            "status FROM info_requests WHERE resident_id = ? ORDER BY id",
            (resident_id,),
        )
        objections = await self._all(
            "SELECT number, reason, detail, filed_at, status FROM objections "
            "WHERE resident_id = ? ORDER BY id",
            (resident_id,),
        )
        subscriptions = await self._all(
            "SELECT topic, since FROM subscriptions WHERE resident_id = ? ORDER BY topic",
            (resident_id,),
        )

        def rows(names: tuple[str, ...], found: list[Any]) -> list[dict[str, Any]]:
            return [dict(zip(names, r, strict=True)) for r in found]

        return {
            "resident": rows(("id", "name", "first_seen", "last_seen"), [resident])[0],
            "conversations": rows(("at", "text", "decision", "entry", "ticket"), conversations),
            "tickets": rows(
                ("id", "opd", "status", "question", "created", "answered", "closed"), tickets
            ),
            "feedback": rows(("at", "entry", "helpful"), feedback),
            "information_requests": rows(
                (
                    "number",
                    "name",
                    "contact",
                    "information",
                    "purpose",
                    "delivery",
                    "email",
                    "received",
                    "due",
                    "status",
                ),
                requests,
            ),
            "objections": rows(("number", "reason", "detail", "filed", "status"), objections),
            "subscriptions": rows(("topic", "since"), subscriptions),
        }

    async def forget_resident(self, resident_id: int) -> dict[str, int]:
        """Erase a resident: their rows, their tickets with their history and message map, and
        stored updates they sent. Returns how many rows of each kind went."""
        tickets = "SELECT id FROM tickets WHERE resident_id = ?"
        steps = (
            ("feedback", "DELETE FROM feedback WHERE resident_id = ?"),
            ("subscriptions", "DELETE FROM subscriptions WHERE resident_id = ?"),
            ("subscription_toggles", "DELETE FROM subscription_toggles WHERE resident_id = ?"),
            (
                "announcement_deliveries",
                "DELETE FROM announcement_deliveries WHERE resident_id = ?",
            ),
            ("pending", "DELETE FROM pending WHERE resident_id = ?"),
            ("dialogues", "DELETE FROM dialogues WHERE resident_id = ?"),
            ("objections", "DELETE FROM objections WHERE resident_id = ?"),
            ("info_requests", "DELETE FROM info_requests WHERE resident_id = ?"),
            ("conversations", "DELETE FROM conversations WHERE resident_id = ?"),
            ("ticket_events", f"DELETE FROM ticket_events WHERE ticket_id IN ({tickets})"),
            ("ticket_messages", f"DELETE FROM ticket_messages WHERE ticket_id IN ({tickets})"),
            ("tickets", "DELETE FROM tickets WHERE resident_id = ?"),
            ("sent", "DELETE FROM sent WHERE chat_id = ?"),
            (
                "updates",
                "DELETE FROM updates WHERE ? IN (json_extract(body, '$.message.from.id'), "
                "json_extract(body, '$.edited_message.from.id'), "
                "json_extract(body, '$.callback_query.from.id'))",
            ),
            ("residents", "DELETE FROM residents WHERE id = ?"),
        )

        def erase(db: sqlite3.Connection) -> dict[str, int]:
            return {name: db.execute(sql, (resident_id,)).rowcount for name, sql in steps}

        counts = await self._atomic(erase)
        self._residents.pop(resident_id, None)
        self._no_ticket.discard(resident_id)
        self._no_pending.discard(resident_id)
        return counts

    async def purge_text(self, older_than: dt.timedelta) -> int:
        """Blank what residents wrote in closed tickets and in the conversation log once it is
        older than the retention period; rows (and so every count) stay."""
        cutoff = _iso(self.now() - older_than)

        def purge(db: sqlite3.Connection) -> int:
            closed = db.execute(
                "UPDATE tickets SET question = '' WHERE status = 'closed' AND closed_at < ? "
                "AND question != ''",
                (cutoff,),
            ).rowcount
            db.execute(
                "UPDATE conversations SET text = '' WHERE at < ? AND text != '' AND "
                "(ticket_id IS NULL OR ticket_id IN (SELECT id FROM tickets WHERE question = ''))",
                (cutoff,),
            )
            # Follow-ups hold the resident's words, answers the admins' words to them.
            db.execute(
                "UPDATE ticket_events SET detail = '' WHERE kind IN ('followup', 'answered') "
                "AND detail != '' AND ticket_id IN (SELECT id FROM tickets WHERE question = '')"
            )
            return closed

        return await self._atomic(purge)

    # --- blocking (abuse)

    async def block(self, resident_id: int, by: str) -> bool:
        """False when the resident was blocked already."""
        row = await self._write_one(
            "INSERT INTO blocked (resident_id, at, by) VALUES (?, ?, ?) "
            "ON CONFLICT(resident_id) DO NOTHING RETURNING resident_id",
            (resident_id, _iso(self.now()), by),
        )
        self._blocked = None
        return row is not None

    async def unblock(self, resident_id: int) -> bool:
        row = await self._write_one(
            "DELETE FROM blocked WHERE resident_id = ? RETURNING resident_id", (resident_id,)
        )
        self._blocked = None
        return row is not None

    async def blocked(self, resident_id: int) -> bool | None:
        """None when not blocked; else whether the resident was told already. The set of
        blocked residents is small and read on every message, so it is kept in memory."""
        if self._blocked is None:
            rows = await self._all("SELECT resident_id, notified FROM blocked")
            self._blocked = {int(r[0]): bool(r[1]) for r in rows}
        return self._blocked.get(resident_id)

    async def mark_block_notified(self, resident_id: int) -> None:
        await self._execute("UPDATE blocked SET notified = 1 WHERE resident_id = ?", (resident_id,))
        if self._blocked is not None and resident_id in self._blocked:
            self._blocked[resident_id] = True

    async def open_ticket_count(self, resident_id: int) -> int:
        row = await self._one(
            "SELECT COUNT(*) FROM tickets WHERE resident_id = ? AND status = 'open' "
            f"AND kind != '{REQUEST_KIND}'",
            (resident_id,),
        )
        return int(row[0]) if row else 0

    # --- residents

    async def touch_resident(self, user_id: int, chat_id: int, name: str) -> Resident:
        moment = self.now()
        known = self._residents.get(user_id)
        if known and known[:2] == (chat_id, name) and moment - known[2] < RESIDENT_REFRESH:
            return Resident(user_id, chat_id, name)
        if len(self._residents) > 100_000:
            self._residents.clear()
        self._residents[user_id] = (chat_id, name, moment)
        now = _iso(moment)
        # first_seen to the microsecond: the value this insert wrote comes back only when the
        # row is new (the same second may hold this resident's last message before a restart).
        first = moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
        row = await self._write_one(
            "INSERT INTO residents (id, chat_id, name, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "chat_id = excluded.chat_id, name = excluded.name, last_seen = excluded.last_seen "
            "RETURNING first_seen",
            (user_id, chat_id, name, first, now),
        )
        if row is not None and row[0] == first:
            # First seen just now: no ticket and no pending choice to look up.
            _remember(self._no_ticket, user_id)
            _remember(self._no_pending, user_id)
            _remember(self._no_dialogue, user_id)
        return Resident(user_id, chat_id, name)

    # --- conversation log and feedback

    async def log_conversation(
        self,
        resident_id: int,
        text: str,
        decision: str,
        entry: str | None = None,
        score: float | None = None,
        opd: str | None = None,
        ticket_id: int | None = None,
    ) -> int:
        # Handled again after a crash, the same step of the same update finds its row.
        row = await self._write_one(
            "INSERT INTO conversations (resident_id, at, text, decision, entry, score, opd, "
            "ticket_id, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(source) DO UPDATE SET source = excluded.source RETURNING id",
            (
                resident_id,
                _iso(self.now()),
                text,
                decision,
                entry,
                score,
                opd,
                ticket_id,
                effect_key("conversation"),
            ),
        )
        return int(row[0])

    async def conversation(self, conversation_id: int) -> Conversation | None:
        row = await self._one(
            "SELECT id, resident_id, text, decision, entry, opd FROM conversations WHERE id = ?",
            (conversation_id,),
        )
        return Conversation(*row) if row else None

    async def record_feedback(
        self, conversation_id: int, resident_id: int, entry: str, helpful: bool
    ) -> None:
        await self._execute(
            "INSERT INTO feedback (conversation_id, resident_id, entry, helpful, at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(conversation_id) DO UPDATE SET "
            "helpful = excluded.helpful, at = excluded.at",
            (conversation_id, resident_id, entry, int(helpful), _iso(self.now())),
        )

    # --- pending choices

    async def set_pending(self, resident_id: int, kind: str, payload: Any) -> int:
        """Remember what the resident's next number means; returns a token for buttons.

        The token is random, not a counter: buttons of an older list (whose row may have been
        cleared since) must not match a newer list by chance.
        """
        token = token_for(effect_key("pending"), secrets.randbelow(2**31))
        self._no_pending.discard(resident_id)
        await self._execute(
            "INSERT OR REPLACE INTO pending (resident_id, token, kind, payload, at) "
            "VALUES (?, ?, ?, ?, ?)",
            (resident_id, token, kind, json.dumps(payload), _iso(self.now())),
        )
        return token

    async def pending(self, resident_id: int) -> Pending | None:
        operation = current()
        if operation is not None and operation.replay:
            seen = await self._one(
                "SELECT body FROM pending_seen WHERE update_id = ?", (operation.update_id,)
            )
            if seen is not None:
                return _pending_from_json(seen[0])
        found = await self._live_pending(resident_id)
        if operation is not None:
            await self._execute(
                "INSERT OR IGNORE INTO pending_seen (update_id, body) VALUES (?, ?)",
                (operation.update_id, _pending_to_json(found)),
            )
        return found

    async def _live_pending(self, resident_id: int) -> Pending | None:
        if resident_id in self._no_pending:
            return None
        row = await self._one(
            "SELECT token, kind, payload, at FROM pending WHERE resident_id = ?", (resident_id,)
        )
        if not row:
            _remember(self._no_pending, resident_id)
            return None
        return Pending(row[0], row[1], json.loads(row[2]), _time(row[3]) or self.now())

    async def clear_pending(self, resident_id: int) -> None:
        if resident_id in self._no_pending:
            return
        await self._execute("DELETE FROM pending WHERE resident_id = ?", (resident_id,))
        _remember(self._no_pending, resident_id)

    # --- tickets

    async def create_ticket(
        self,
        resident_id: int,
        question: str,
        opd: str | None,
        candidates: Iterable[tuple[str, float]] = (),
        kind: str = "text",
    ) -> Ticket:
        now = _iso(self.now())
        self._no_ticket.discard(resident_id)
        source = effect_key("ticket")
        if source is not None and replaying():
            row = await self._one("SELECT id FROM tickets WHERE source = ?", (source,))
            if row is not None:  # opened by the attempt that crashed
                existing = await self.ticket(int(row[0]))
                assert existing is not None
                return existing
        pairs = json.dumps(list(candidates))

        def create(db: sqlite3.Connection) -> Any:
            ticket_id = db.execute(
                "INSERT INTO tickets (resident_id, opd, status, question, kind, candidates, "
                "created_at, source) VALUES (?, ?, 'open', ?, ?, ?, ?, ?)",
                (resident_id, opd, question, kind, pairs, now, source),
            ).lastrowid
            db.execute(
                "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail) "
                "VALUES (?, ?, 'warga', 'created', ?)",
                (ticket_id, now, opd or ""),
            )
            return db.execute(_TICKET_BY_ID, (ticket_id,)).fetchone()

        return _ticket(await self._atomic(create))

    async def ticket(self, ticket_id: int) -> Ticket | None:
        row = await self._one(_TICKET_BY_ID, (ticket_id,))
        return _ticket(row) if row else None

    async def active_ticket(self, resident_id: int, followup_since: dt.datetime) -> Ticket | None:
        """The ticket a resident's next message belongs to: open, or answered recently."""
        if resident_id in self._no_ticket:
            return None
        row = await self._one(
            f"SELECT {_TICKET_COLUMNS} FROM tickets t JOIN residents r ON r.id = t.resident_id "
            # A formal request joins once an admin wrote to the requester about it (answered
            # at ticket level), so their reply reaches the thread; until then it waits apart.
            f"WHERE t.resident_id = ? AND ((t.status = 'open' AND t.kind != '{REQUEST_KIND}') OR "
            "(t.status = 'answered' AND t.answered_at >= ?)) ORDER BY t.id DESC LIMIT 1",
            (resident_id, _iso(followup_since)),
        )
        if row is None:
            _remember(self._no_ticket, resident_id)
            return None
        return _ticket(row)

    async def resident_tickets(self, resident_id: int) -> list[Ticket]:
        rows = await self._all(
            f"SELECT {_TICKET_COLUMNS} FROM tickets t JOIN residents r ON r.id = t.resident_id "
            f"WHERE t.resident_id = ? AND t.status != 'closed' AND t.kind != '{REQUEST_KIND}' "
            "ORDER BY t.id",
            (resident_id,),
        )
        return [_ticket(r) for r in rows]

    async def open_tickets(self) -> list[Ticket]:
        rows = await self._all(
            f"SELECT {_TICKET_COLUMNS} FROM tickets t JOIN residents r ON r.id = t.resident_id "
            f"WHERE t.status = 'open' AND t.kind != '{REQUEST_KIND}' ORDER BY t.created_at, t.id"
        )
        return [_ticket(r) for r in rows]

    async def record_post(
        self, ticket_id: int, chat_id: int, thread_id: int | None, message_id: int
    ) -> None:
        """The ticket's post in the admin group: where it lives and that replies to it count."""

        def record(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE tickets SET admin_thread_id = ?, post_message_id = ? WHERE id = ?",
                (thread_id, message_id, ticket_id),
            )
            db.execute(
                "INSERT OR REPLACE INTO ticket_messages (chat_id, message_id, ticket_id, role) "
                "VALUES (?, ?, ?, 'post')",
                (chat_id, message_id, ticket_id),
            )

        await self._atomic(record)

    async def claim(self, ticket_id: int, admin_id: int, admin_name: str) -> None:

        def claim(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE tickets SET claimed_by = ?, claimed_name = ? WHERE id = ?",
                (admin_id, admin_name, ticket_id),
            )
            self._event(db, ticket_id, admin_name, "claimed")

        await self._atomic(claim)

    async def move(self, ticket_id: int, opd: str, admin_name: str) -> None:

        def move(db: sqlite3.Connection) -> None:
            db.execute("UPDATE tickets SET opd = ? WHERE id = ?", (opd, ticket_id))
            self._event(db, ticket_id, admin_name, "moved", opd)

        await self._atomic(move)

    async def mark_answered(self, ticket_id: int, admin_name: str, detail: str) -> None:
        now = _iso(self.now())

        def answered(db: sqlite3.Connection) -> Any:
            db.execute(
                "UPDATE tickets SET status = CASE WHEN status = 'closed' THEN 'closed' "
                "ELSE 'answered' END, answered_at = ?, "
                "first_response_at = COALESCE(first_response_at, ?) WHERE id = ?",
                (now, now, ticket_id),
            )
            self._event(db, ticket_id, admin_name, "answered", detail)
            return db.execute(
                "SELECT resident_id FROM tickets WHERE id = ?", (ticket_id,)
            ).fetchone()

        row = await self._atomic(answered)
        if row is not None:
            # A request's ticket was not "active" until now (see active_ticket).
            self._no_ticket.discard(int(row[0]))

    async def reopen(self, ticket_id: int, detail: str) -> None:

        def reopen(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE tickets SET status = 'open' WHERE id = ? AND status = 'answered'",
                (ticket_id,),
            )
            self._event(db, ticket_id, "warga", "followup", detail)

        await self._atomic(reopen)

    async def close_ticket(self, ticket_id: int, admin_name: str) -> bool:
        """Close a ticket; False when it was closed already."""
        now = _iso(self.now())

        def close(db: sqlite3.Connection) -> bool:
            changed = db.execute(
                "UPDATE tickets SET status = 'closed', closed_at = ? "
                "WHERE id = ? AND status != 'closed'",
                (now, ticket_id),
            ).rowcount
            if changed:
                self._event(db, ticket_id, admin_name, "closed")
            return bool(changed)

        return await self._atomic(close)

    async def add_event(self, ticket_id: int, actor: str, kind: str, detail: str = "") -> None:
        now = _iso(self.now())
        await self._execute(
            "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)",
            (ticket_id, now, actor, kind, detail),
        )

    def _event(
        self, db: sqlite3.Connection, ticket_id: int, actor: str, kind: str, detail: str = ""
    ) -> None:
        """A ticket event, inside the caller's transaction (see `_atomic`)."""
        db.execute(
            "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)",
            (ticket_id, _iso(self.now()), actor, kind, detail),
        )

    async def remove_events(self, ticket_id: int, kind: str) -> None:
        """Take back a mark (a reminder recorded before its message went out, which failed)."""
        await self._execute(
            "DELETE FROM ticket_events WHERE ticket_id = ? AND kind = ?", (ticket_id, kind)
        )

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        rows = await self._all(
            "SELECT at, actor, kind, detail FROM ticket_events WHERE ticket_id = ? ORDER BY id",
            (ticket_id,),
        )
        return [TicketEvent(_time(r[0]) or self.now(), r[1], r[2], r[3]) for r in rows]

    # --- the message map

    async def link_message(self, chat_id: int, message_id: int, ticket_id: int, role: str) -> None:
        await self._execute(
            "INSERT OR REPLACE INTO ticket_messages (chat_id, message_id, ticket_id, role) "
            "VALUES (?, ?, ?, ?)",
            (chat_id, message_id, ticket_id, role),
        )

    async def ticket_of_message(self, chat_id: int, message_id: int) -> int | None:
        row = await self._one(
            "SELECT ticket_id FROM ticket_messages WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        )
        return int(row[0]) if row else None

    # --- forum topics

    async def topic(self, chat_id: int, opd: str) -> int | None:
        row = await self._one(
            "SELECT thread_id FROM forum_topics WHERE chat_id = ? AND opd = ?", (chat_id, opd)
        )
        return int(row[0]) if row else None

    async def set_topic(self, chat_id: int, opd: str, thread_id: int | None) -> None:
        if thread_id is None:
            await self._execute(
                "DELETE FROM forum_topics WHERE chat_id = ? AND opd = ?", (chat_id, opd)
            )
            return
        await self._execute(
            "INSERT OR REPLACE INTO forum_topics (chat_id, opd, thread_id) VALUES (?, ?, ?)",
            (chat_id, opd, thread_id),
        )

    # --- statistics

    async def stats(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Stats:
        since_iso = _iso(since) if since else ""
        until_iso = _iso(until) if until else "~"  # sorts after every ISO time
        row = await self._one(
            # Questions are what the matcher decided on; greetings and thanks are not (as in
            # the monthly report), so shares do not move with how chatty residents are.
            "SELECT SUM(decision != 'smalltalk'), "
            "SUM(decision = 'answer'), SUM(decision = 'suggest'), "
            "SUM(decision IN ('escalate', 'media')), SUM(decision = 'smalltalk') "
            "FROM conversations WHERE at >= ? AND at < ? AND decision IN "
            "('answer', 'suggest', 'escalate', 'media', 'smalltalk')",
            (since_iso, until_iso),
        )
        tickets = dict(
            await self._all(
                "SELECT status, COUNT(*) FROM tickets WHERE created_at >= ? AND created_at < ? "
                f"AND kind != '{REQUEST_KIND}' GROUP BY status",
                (since_iso, until_iso),
            )
        )
        waits = await self._all(
            "SELECT (julianday(first_response_at) - julianday(created_at)) * 86400 FROM tickets "
            "WHERE first_response_at IS NOT NULL AND created_at >= ? AND created_at < ? "
            f"AND kind != '{REQUEST_KIND}' ORDER BY 1",
            (since_iso, until_iso),
        )
        median = None
        if waits:
            values = [float(w[0]) for w in waits]
            mid = len(values) // 2
            median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        fb = dict(
            await self._all(
                "SELECT helpful, COUNT(*) FROM feedback WHERE at >= ? AND at < ? GROUP BY helpful",
                (since_iso, until_iso),
            )
        )
        return Stats(
            questions=int(row[0] or 0),
            answered=int(row[1] or 0),
            suggested=int(row[2] or 0),
            escalated=sum(int(v) for v in tickets.values()),
            smalltalk=int(row[4] or 0),
            tickets_open=int(tickets.get("open", 0)),
            tickets_answered=int(tickets.get("answered", 0)),
            tickets_closed=int(tickets.get("closed", 0)),
            median_first_response_s=median,
            helpful=int(fb.get(1, 0)),
            not_helpful=int(fb.get(0, 0)),
        )

    # --- gap questions (bot.gaps, `tanya kb gaps`)

    # How long after a 👎 the resident can still pass the question to a person (the offer is a
    # pending choice, bot.service.PENDING_TTL): a ticket with its words in this window is it.
    GAP_OFFER_WINDOW = dt.timedelta(hours=24)

    async def gap_questions(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[GapQuestion]:
        """What residents asked that the knowledge did not answer, `since <= at < until`,
        oldest first: every ticket a resident opened with words ("escalated") and every answer
        marked 👎 ("not_helpful"), each question once.

        A 👎 that the resident then passes to a person opens a ticket with the same words
        (bot.service `_escalate_conversation`) and no link between the two rows: that ticket
        is the 👎 question again, so it counts once, as not_helpful, with the ticket's OPD (an
        admin may have moved it to where it belongs). Follow-ups that joined an open ticket
        are not questions of their own and are not read; media without a caption and words
        blanked by the retention purge (`purge_text`) leave nothing to group.
        """
        # Read a little beyond the range, so a 👎 and its ticket pair up across the border.
        low = _iso(since - self.GAP_OFFER_WINDOW) if since else ""
        high = _iso(until + self.GAP_OFFER_WINDOW) if until else "~"
        tickets = await self._all(
            "SELECT id, resident_id, question, kind, opd, created_at FROM tickets "
            "WHERE created_at >= ? AND created_at < ? AND question != '' ORDER BY id",
            (low, high),
        )
        unhelpful = await self._all(
            "SELECT c.id, c.resident_id, c.text, f.entry, c.at, f.at FROM feedback f "
            "JOIN conversations c ON c.id = f.conversation_id "
            "WHERE f.helpful = 0 AND c.at >= ? AND c.at < ? ORDER BY c.id",
            (low, high),
        )
        # Tickets a 👎 may have opened: resident and words -> [(created, id, opd)], in order.
        by_words: dict[tuple[int, str], list[tuple[dt.datetime, int, str | None]]] = {}
        for tid, resident, question, kind, opd, created in tickets:
            if kind == "text":
                at = _time(created)
                assert at is not None
                by_words.setdefault((int(resident), question), []).append((at, int(tid), opd))
        paired: set[int] = set()
        found: list[tuple[dt.datetime, int, GapQuestion]] = []
        for _cid, resident, text, entry, asked, rated in unhelpful:
            at, rated_at = _time(asked), _time(rated)
            assert at is not None and rated_at is not None
            entry_opd = str(entry).split("/", 1)[0] or None
            ticket = next(
                (
                    (tid, opd)
                    for created, tid, opd in by_words.get((int(resident), text), ())
                    if tid not in paired and rated_at <= created <= rated_at + self.GAP_OFFER_WINDOW
                ),
                None,
            )
            if ticket is not None:
                paired.add(ticket[0])
            if text.strip():
                question = GapQuestion(
                    text=text,
                    opd=(ticket[1] if ticket and ticket[1] else entry_opd),
                    at=at,
                    reason="not_helpful",
                    entry=str(entry),
                    ticket_id=ticket[0] if ticket else None,
                )
                found.append((at, 1, question))
        for tid, _resident, question, kind, opd, created in tickets:
            # A media ticket reads "[foto] caption" (bot.service): the caption is the question.
            words = question if kind == "text" else question.partition("] ")[2]
            if int(tid) in paired or not words.strip():
                continue
            at = _time(created)
            assert at is not None
            found.append((at, 0, GapQuestion(words, opd, at, "escalated", ticket_id=int(tid))))
        found.sort(key=lambda item: (item[0], item[1], item[2].ticket_id or 0))
        return [
            q
            for at, _, q in found
            if (since is None or at >= since) and (until is None or at < until)
        ]

    # --- report figures (bot.report, `tanya report`)

    async def report_questions(
        self, since: dt.datetime, until: dt.datetime
    ) -> list[ReportQuestion]:
        """Resident turns with `since <= at < until` the report counts, oldest first."""
        marks = ", ".join("?" * len(REPORT_DECISIONS))
        rows = await self._all(
            "SELECT at, decision, entry, opd FROM conversations "
            f"WHERE at >= ? AND at < ? AND decision IN ({marks}) ORDER BY at, id",
            (_iso(since), _iso(until), *REPORT_DECISIONS),
        )
        return [ReportQuestion(_time(r[0]) or since, r[1], r[2], r[3]) for r in rows]

    async def report_tickets(self, since: dt.datetime, until: dt.datetime) -> list[ReportTicket]:
        """Tickets created `since <= created_at < until`, with their first response (whenever
        it came) and whether they were extended."""
        rows = await self._all(
            "SELECT t.id, t.created_at, t.opd, t.first_response_at, EXISTS (SELECT 1 FROM "
            "ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'extended') FROM tickets t "
            f"WHERE t.created_at >= ? AND t.created_at < ? AND t.kind != '{REQUEST_KIND}' "
            "ORDER BY t.id",
            (_iso(since), _iso(until)),
        )
        return [
            ReportTicket(int(r[0]), _time(r[1]) or since, r[2], _time(r[3]), bool(r[4]))
            for r in rows
        ]

    async def report_feedback(self, since: dt.datetime, until: dt.datetime) -> list[ReportFeedback]:
        """👍/👎 given (or last changed) `since <= at < until`."""
        rows = await self._all(
            "SELECT at, entry, helpful FROM feedback WHERE at >= ? AND at < ? ORDER BY at, id",
            (_iso(since), _iso(until)),
        )
        return [ReportFeedback(_time(r[0]) or since, r[1], bool(r[2])) for r in rows]

    # --- digest and reminders (bot.digest)

    async def first_responses(
        self, since: dt.datetime, until: dt.datetime
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        """(opened, first response) of tickets first responded to `since <= t < until`."""
        rows = await self._all(
            "SELECT created_at, first_response_at FROM tickets "
            "WHERE first_response_at >= ? AND first_response_at < ? "
            f"AND kind != '{REQUEST_KIND}' ORDER BY id",
            (_iso(since), _iso(until)),
        )
        return [(_time(a), _time(b)) for a, b in rows]  # type: ignore[misc]

    # --- information requests (issue 6): bot.ppid

    @staticmethod
    def _next_number(db: sqlite3.Connection, series: str) -> int:
        """The next running number of a series, inside the caller's transaction."""
        row = db.execute(
            "INSERT INTO number_series (series, last) VALUES (?, 1) "
            "ON CONFLICT (series) DO UPDATE SET last = last + 1 RETURNING last",
            (series,),
        ).fetchone()
        return int(row[0]) if row else 1

    async def create_request(
        self,
        resident_id: int,
        fields: dict[str, str | None],
        opd: str | None,
        number: Callable[[int], str],
        series: str,
        due: Callable[[dt.datetime], dt.datetime],
    ) -> InfoRequest:
        """The ticket and the request in one transaction, numbered in its series; a replay of
        the update that made it finds it instead of taking another number."""
        source = effect_key("request")
        if source is not None and replaying():
            row = await self._one("SELECT id FROM info_requests WHERE source = ?", (source,))
            if row is not None:
                found = await self.request(int(row[0]))
                assert found is not None
                return found
        moment = self.now()
        now = _iso(moment)
        self._no_ticket.discard(resident_id)
        due_at = _iso(due(moment))

        def create(db: sqlite3.Connection) -> int | None:
            ticket_id = db.execute(
                "INSERT INTO tickets (resident_id, opd, status, question, kind, candidates, "
                "created_at, source) VALUES (?, ?, 'open', ?, ?, '[]', ?, ?)",
                (resident_id, opd, fields["info"] or "", REQUEST_KIND, now, source),
            ).lastrowid
            db.execute(
                "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail) "
                "VALUES (?, ?, 'warga', 'created', ?)",
                (ticket_id, now, opd or ""),
            )
            registration = number(self._next_number(db, series))
            return db.execute(
                "INSERT INTO info_requests (ticket_id, number, resident_id, name, contact, info, "
                "purpose, delivery, email, received_at, due_at, status, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)",
                (
                    ticket_id,
                    registration,
                    resident_id,
                    fields["name"],
                    fields["contact"],
                    fields["info"],
                    fields["purpose"],
                    fields["delivery"],
                    fields.get("email"),
                    now,
                    due_at,
                    source,
                ),
            ).lastrowid

        request_id = await self._atomic(create)
        found = await self.request(int(request_id or 0))
        assert found is not None
        return found

    async def request(self, request_id: int) -> InfoRequest | None:
        return await self._request_where("q.id = ?", (request_id,))

    async def request_of_ticket(self, ticket_id: int) -> InfoRequest | None:
        return await self._request_where("q.ticket_id = ?", (ticket_id,))

    async def request_by_number(self, number: str) -> InfoRequest | None:
        return await self._request_where("q.number = ? COLLATE NOCASE", (number,))

    async def _request_where(self, where: str, params: tuple[Any, ...]) -> InfoRequest | None:
        rows = await self._requests(where, params)
        return rows[0] if rows else None

    async def _requests(self, where: str, params: Iterable[Any] = ()) -> list[InfoRequest]:
        rows = await self._all(
            f"SELECT {_REQUEST_COLUMNS} FROM info_requests q JOIN tickets t ON t.id = q.ticket_id "
            f"JOIN residents r ON r.id = q.resident_id WHERE {where} ORDER BY q.id",
            params,
        )
        return [_request(r) for r in rows]

    async def open_requests(self) -> list[InfoRequest]:
        return await self._requests("q.status = 'open'")

    async def resident_requests(self, resident_id: int) -> list[InfoRequest]:
        return await self._requests("q.resident_id = ?", (resident_id,))

    async def report_requests(self, since: dt.datetime, until: dt.datetime) -> list[InfoRequest]:
        """Requests received `since <= received < until`."""
        return await self._requests(
            "q.received_at >= ? AND q.received_at < ?", (_iso(since), _iso(until))
        )

    async def extend_request(
        self, request_id: int, due: dt.datetime, reason: str, admin_name: str
    ) -> bool:
        """False when it was extended already or is no longer open (only one extension)."""
        now = _iso(self.now())

        def extend(db: sqlite3.Connection) -> bool:
            changed = db.execute(
                "UPDATE info_requests SET due_at = ?, extended_at = ?, extension_reason = ?, "
                "extended_by = ?, reminded_soon = 0 WHERE id = ? AND status = 'open' "
                "AND extended_at IS NULL",
                (_iso(due), now, reason, admin_name, request_id),
            ).rowcount
            if changed != 1:
                return False
            db.execute(
                "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail) SELECT ticket_id, "
                "?, ?, 'extended', ? FROM info_requests WHERE id = ?",
                (now, admin_name, reason, request_id),
            )
            return True

        return await self._atomic(extend)

    async def decide_request(
        self,
        request_id: int,
        status: Literal["answered", "refused"],
        admin_name: str,
        detail: str = "",
        category: str | None = None,
    ) -> bool:
        """Answer or refuse an open request; its ticket is closed with it. False if not open."""
        now = _iso(self.now())

        def decide(db: sqlite3.Connection) -> bool:
            changed = db.execute(
                "UPDATE info_requests SET status = ?, decided_at = ?, decided_by = ?, "
                "refusal_category = ?, refusal_reason = ? WHERE id = ? AND status = 'open'",
                (
                    status,
                    now,
                    admin_name,
                    category,
                    detail if status == "refused" else None,
                    request_id,
                ),
            ).rowcount
            if changed != 1:
                return False
            ticket = "(SELECT ticket_id FROM info_requests WHERE id = ?)"
            db.execute(
                "UPDATE tickets SET status = 'closed', closed_at = ?, "
                "first_response_at = COALESCE(first_response_at, ?), "
                f"answered_at = COALESCE(answered_at, ?) WHERE id = {ticket}",
                (now, now, now, request_id),
            )
            db.execute(
                "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail) "
                f"VALUES ({ticket}, ?, ?, ?, ?)",
                (request_id, now, admin_name, status, detail),
            )
            return True

        return await self._atomic(decide)

    async def mark_request(
        self, request_id: int, flag: Literal["reminded_soon", "lapse_told"]
    ) -> bool:
        """Set a once-only flag; False when it was set already (so nothing is said twice)."""
        changed = await self._changed(
            f"UPDATE info_requests SET {flag} = 1 WHERE id = ? AND {flag} = 0", (request_id,)
        )
        return changed == 1

    async def unmark_request(
        self, request_id: int, flag: Literal["reminded_soon", "lapse_told"]
    ) -> None:
        """Undo mark_request when the notice could not be sent, so the next check sends it."""
        await self._execute(f"UPDATE info_requests SET {flag} = 0 WHERE id = ?", (request_id,))

    async def create_objection(
        self,
        request_id: int,
        resident_id: int,
        reason: str,
        detail: str,
        number: Callable[[int], str],
        series: str,
        due: Callable[[dt.datetime], dt.datetime],
    ) -> Objection:
        source = effect_key("objection")
        if source is not None and replaying():
            row = await self._one("SELECT id FROM objections WHERE source = ?", (source,))
            if row is not None:
                found = await self.objection(int(row[0]))
                assert found is not None
                return found
        moment = self.now()
        due_at = _iso(due(moment))

        def create(db: sqlite3.Connection) -> int | None:
            registration = number(self._next_number(db, series))
            objection_id = db.execute(
                "INSERT INTO objections (number, request_id, resident_id, reason, detail, "
                "filed_at, due_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    registration,
                    request_id,
                    resident_id,
                    reason,
                    detail,
                    _iso(moment),
                    due_at,
                    source,
                ),
            ).lastrowid
            db.execute(
                "INSERT INTO ticket_events (ticket_id, at, actor, kind, detail) SELECT ticket_id, "
                "?, 'warga', 'objected', ? FROM info_requests WHERE id = ?",
                (_iso(moment), registration, request_id),
            )
            return objection_id

        objection_id = await self._atomic(create)
        found = await self.objection(int(objection_id or 0))
        assert found is not None
        return found

    async def objection(self, objection_id: int) -> Objection | None:
        rows = await self._objections("id = ?", (objection_id,))
        return rows[0] if rows else None

    async def objection_of_message(self, chat_id: int, message_id: int) -> Objection | None:
        rows = await self._objections("chat_id = ? AND message_id = ?", (chat_id, message_id))
        return rows[0] if rows else None

    async def request_objections(self, request_id: int) -> list[Objection]:
        return await self._objections("request_id = ?", (request_id,))

    async def report_objections(self, since: dt.datetime, until: dt.datetime) -> list[Objection]:
        return await self._objections("filed_at >= ? AND filed_at < ?", (_iso(since), _iso(until)))

    async def _objections(self, where: str, params: Iterable[Any]) -> list[Objection]:
        rows = await self._all(
            "SELECT id, number, request_id, resident_id, reason, detail, filed_at, due_at, "
            f"chat_id, message_id, status FROM objections WHERE {where} ORDER BY id",
            params,
        )
        return [
            Objection(
                int(r[0]),
                r[1],
                int(r[2]),
                int(r[3]),
                r[4],
                r[5],
                _time(r[6]) or self.now(),
                _time(r[7]) or self.now(),
                r[8],
                r[9],
                r[10],
            )
            for r in rows
        ]

    async def record_objection_post(self, objection_id: int, chat_id: int, message_id: int) -> None:
        await self._execute(
            "UPDATE objections SET chat_id = ?, message_id = ? WHERE id = ?",
            (chat_id, message_id, objection_id),
        )

    async def answer_objection(self, objection_id: int) -> bool:
        changed = await self._changed(
            "UPDATE objections SET status = 'answered', answered_at = ? "
            "WHERE id = ? AND status = 'open'",
            (_iso(self.now()), objection_id),
        )
        return changed == 1

    # guided dialogues (bot.dialogue)

    async def dialogue(self, resident_id: int) -> Dialogue | None:
        """The resident's dialogue in progress. A replay of an update reads it as the first
        attempt did, not as that attempt left it: the text typed answers the same step."""
        operation = current()
        if operation is not None and operation.replay:
            seen = await self._one(
                "SELECT body FROM dialogue_seen WHERE update_id = ?", (operation.update_id,)
            )
            if seen is not None:
                return _dialogue_from_json(seen[0])
        if resident_id in self._no_dialogue:
            return None
        row = await self._one(
            "SELECT kind, step, data, active, token, updated_at, source FROM dialogues "
            "WHERE resident_id = ?",
            (resident_id,),
        )
        if row is None:
            _remember(self._no_dialogue, resident_id)
            return None
        if replaying() and from_this_update(row[6]):
            return None  # started by this very update's first attempt: there was none before
        found = Dialogue(
            row[0],
            row[1],
            json.loads(row[2]),
            bool(row[3]),
            int(row[4]),
            _time(row[5]) or self.now(),
        )
        if operation is not None:
            await self._execute(
                "INSERT OR IGNORE INTO dialogue_seen (update_id, body) VALUES (?, ?)",
                (operation.update_id, _dialogue_to_json(found)),
            )
        return found

    async def save_dialogue(
        self,
        resident_id: int,
        kind: str,
        step: str,
        data: dict[str, Any],
        *,
        active: bool = True,
        token: int | None = None,
    ) -> int:
        """Store the dialogue's state; returns the token its buttons carry (a new one each step,
        derived again on a replay, so a button of an earlier step cannot act on a later one)."""
        key = effect_key("dialogue")
        if token is None:
            token = token_for(key, secrets.randbelow(2**31))
        self._no_dialogue.discard(resident_id)
        await self._execute(
            "INSERT OR REPLACE INTO dialogues (resident_id, kind, step, data, active, token, "
            "updated_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (resident_id, kind, step, json.dumps(data), int(active), token, _iso(self.now()), key),
        )
        return token

    async def end_dialogue(self, resident_id: int) -> None:
        await self._execute("DELETE FROM dialogues WHERE resident_id = ?", (resident_id,))
        _remember(self._no_dialogue, resident_id)

    async def done_once(self, key: str) -> bool:
        return await self._one("SELECT 1 FROM done_once WHERE key = ?", (key,)) is not None

    async def mark_done_once(self, key: str) -> None:
        await self._execute(
            "INSERT OR IGNORE INTO done_once (key, at) VALUES (?, ?)", (key, _iso(self.now()))
        )

    async def reminded(self, ticket_ids: Iterable[int]) -> set[int]:
        """The tickets among these that already had their overdue reminder."""
        ids = list(ticket_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = await self._all(
            f"SELECT DISTINCT ticket_id FROM ticket_events WHERE kind = 'reminded' "
            f"AND ticket_id IN ({marks})",
            ids,
        )
        return {int(r[0]) for r in rows}

    # --- announcements (issue 6): bot.announce

    async def subscriptions(self, resident_id: int) -> set[str]:
        rows = await self._all(
            "SELECT topic FROM subscriptions WHERE resident_id = ?", (resident_id,)
        )
        return {str(r[0]) for r in rows}

    async def toggle_subscription(self, resident_id: int, topic: str) -> bool:
        """Subscribe to a topic, or unsubscribe when subscribed; True when now subscribed. A
        replay of the update that toggled repeats the first attempt's outcome."""
        source = effect_key("subscription")
        now = _iso(self.now())

        def toggle(db: sqlite3.Connection) -> bool:
            done = None
            if source is not None:
                done = db.execute(
                    "SELECT subscribed FROM subscription_toggles WHERE source = ?", (source,)
                ).fetchone()
            if done is not None:
                subscribed = bool(done[0])
            else:
                subscribed = (
                    db.execute(
                        "SELECT 1 FROM subscriptions WHERE resident_id = ? AND topic = ?",
                        (resident_id, topic),
                    ).fetchone()
                    is None
                )
                db.execute(
                    "INSERT INTO subscription_toggles (source, resident_id, topic, subscribed, "
                    "at) VALUES (?, ?, ?, ?, ?)",
                    (source, resident_id, topic, int(subscribed), now),
                )
            if subscribed:
                db.execute(
                    "INSERT OR IGNORE INTO subscriptions (resident_id, topic, since) "
                    "VALUES (?, ?, ?)",
                    (resident_id, topic, now),
                )
            else:
                db.execute(
                    "DELETE FROM subscriptions WHERE resident_id = ? AND topic = ?",
                    (resident_id, topic),
                )
            return subscribed

        return await self._atomic(toggle)

    async def subscribe_many(self, resident_ids: Iterable[int], topic: str) -> None:
        """Subscribe known residents to a topic at once (an import; the tests' 1,000)."""
        now = _iso(self.now())
        rows = [(r, topic, now) for r in resident_ids]
        await self._atomic(
            lambda db: db.executemany(
                "INSERT OR IGNORE INTO subscriptions (resident_id, topic, since) VALUES (?, ?, ?)",
                rows,
            )
        )

    async def unsubscribe_all(self, resident_id: int) -> int:
        """/berhenti: how many topics the resident followed. Announcements still being sent
        skip them too (they asked to stop), and count one recipient fewer."""

        def stop(db: sqlite3.Connection) -> int:
            stopped = db.execute(
                "DELETE FROM subscriptions WHERE resident_id = ?", (resident_id,)
            ).rowcount
            db.execute(
                "UPDATE announcements SET total = total - 1 WHERE id IN (SELECT announcement_id "
                "FROM announcement_deliveries WHERE resident_id = ? AND status = 'pending')",
                (resident_id,),
            )
            db.execute(
                "DELETE FROM announcement_deliveries WHERE resident_id = ? AND status = 'pending'",
                (resident_id,),
            )
            return stopped

        return await self._atomic(stop)

    async def subscriber_counts(self) -> dict[str, int]:
        rows = await self._all("SELECT topic, COUNT(*) FROM subscriptions GROUP BY topic")
        return {str(r[0]): int(r[1]) for r in rows}

    async def create_announcement(
        self,
        *,
        topic: str,
        kind: str,
        chat_id: int,
        message_id: int,
        media: str | None,
        text: str,
        admin_name: str,
        thread_id: int | None,
        everyone: bool = False,
    ) -> tuple[Announcement, bool]:
        """The announcement and its recipients, fixed now: the topic's subscribers (every
        subscriber once with `everyone`), not residents the admins blocked. Returns it and
        whether it is new; a replay of the command finds the one its first attempt made."""
        source = effect_key("announcement")
        if source is not None:
            row = await self._one("SELECT id FROM announcements WHERE source = ?", (source,))
            if row is not None:
                found = await self.announcement(int(row[0]))
                assert found is not None
                return found, False
        where = "" if everyone else "topic = ? AND "
        now = _iso(self.now())

        def create(db: sqlite3.Connection) -> int:
            announcement_id = int(
                db.execute(
                    "INSERT INTO announcements (topic, kind, chat_id, message_id, media, text, "
                    "admin_name, created_at, thread_id, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        topic,
                        kind,
                        chat_id,
                        message_id,
                        media,
                        text,
                        admin_name,
                        now,
                        thread_id,
                        source,
                    ),
                ).lastrowid
                or 0
            )
            total = db.execute(
                "INSERT INTO announcement_deliveries (announcement_id, resident_id) "
                f"SELECT DISTINCT ?, resident_id FROM subscriptions WHERE {where}"
                "resident_id NOT IN (SELECT resident_id FROM blocked)",
                (announcement_id, topic) if where else (announcement_id,),
            ).rowcount
            db.execute(
                "UPDATE announcements SET total = ?, status = ? WHERE id = ?",
                (total, "sending" if total else "done", announcement_id),
            )
            return announcement_id

        announcement_id = await self._atomic(create)
        found = await self.announcement(announcement_id)
        assert found is not None
        return found, True

    async def announcement(self, announcement_id: int) -> Announcement | None:
        rows = await self._announcements("WHERE id = ?", (announcement_id,))
        return rows[0] if rows else None

    async def unfinished_announcements(self) -> list[Announcement]:
        """Those still being sent, oldest first: to go on with after a restart."""
        return await self._announcements("WHERE status = 'sending' ORDER BY id")

    async def _announcements(self, where: str, params: Iterable[Any] = ()) -> list[Announcement]:
        rows = await self._all(
            "SELECT id, topic, kind, chat_id, message_id, media, text, admin_name, created_at, "
            "thread_id, progress_message_id, note, status, total, sent, blocked, failed, "
            f"finished_at FROM announcements {where}",
            params,
        )
        now = self.now()
        return [Announcement(*r[:8], _time(r[8]) or now, *r[9:17], _time(r[17])) for r in rows]

    async def set_announcement_post(
        self, announcement_id: int, message_id: int | None, note: str
    ) -> None:
        """The group message that shows its progress, and the line shown under it."""
        await self._execute(
            "UPDATE announcements SET progress_message_id = COALESCE(?, progress_message_id), "
            "note = ? WHERE id = ?",
            (message_id, note, announcement_id),
        )

    async def pending_deliveries(
        self, announcement_id: int, after: int, limit: int
    ) -> list[tuple[int, int]]:
        """(resident id, chat id) not sent yet, by resident id after `after` (keyset pages)."""
        rows = await self._all(
            "SELECT d.resident_id, r.chat_id FROM announcement_deliveries d "
            "JOIN residents r ON r.id = d.resident_id WHERE d.announcement_id = ? "
            "AND d.status = 'pending' AND d.resident_id > ? ORDER BY d.resident_id LIMIT ?",
            (announcement_id, after, limit),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def delivery_pending(self, announcement_id: int, resident_id: int) -> bool:
        """Still to be sent (not dropped by a /berhenti since the batch was read)."""
        row = await self._one(
            "SELECT 1 FROM announcement_deliveries WHERE announcement_id = ? "
            "AND resident_id = ? AND status = 'pending'",
            (announcement_id, resident_id),
        )
        return row is not None

    async def record_delivery(self, announcement_id: int, resident_id: int, status: str) -> None:
        """One recipient's outcome; one who blocked the bot follows no topic any more."""
        now = _iso(self.now())

        def record(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE announcement_deliveries SET status = ?, at = ? "
                "WHERE announcement_id = ? AND resident_id = ?",
                (status, now, announcement_id, resident_id),
            )
            if status == "blocked":
                db.execute("DELETE FROM subscriptions WHERE resident_id = ?", (resident_id,))

        await self._atomic(record)

    async def delivery_counts(self, announcement_id: int) -> dict[str, int]:
        rows = await self._all(
            "SELECT status, COUNT(*) FROM announcement_deliveries WHERE announcement_id = ? "
            "GROUP BY status",
            (announcement_id,),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def finish_announcement(self, announcement_id: int, status: str) -> Announcement:
        """Closed with its final counts (read from the deliveries, so they match them)."""
        counts = await self.delivery_counts(announcement_id)
        await self._execute(
            "UPDATE announcements SET status = ?, sent = ?, blocked = ?, failed = ?, "
            "finished_at = ? WHERE id = ?",
            (
                status,
                counts.get("sent", 0),
                counts.get("blocked", 0),
                counts.get("failed", 0) + (counts.get("pending", 0) if status != "done" else 0),
                _iso(self.now()),
                announcement_id,
            ),
        )
        found = await self.announcement(announcement_id)
        assert found is not None
        return found


def _remember(known: set[int], resident_id: int) -> None:
    """Add to a negative cache, which starts over instead of growing without bound."""
    if len(known) > 100_000:
        known.clear()
    known.add(resident_id)


async def _connect(path: Path | str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("PRAGMA foreign_keys=ON")
    await db.execute("PRAGMA busy_timeout=5000")
    return db


def _dialogue_to_json(found: Dialogue) -> str:
    return json.dumps(
        {
            "kind": found.kind,
            "step": found.step,
            "data": found.data,
            "active": found.active,
            "token": found.token,
            "at": _iso(found.updated_at),
        }
    )


def _dialogue_from_json(body: str | None) -> Dialogue | None:
    if body is None:
        return None
    raw = json.loads(body)
    return Dialogue(
        raw["kind"],
        raw["step"],
        raw["data"],
        raw["active"],
        raw["token"],
        _time(raw["at"]) or utcnow(),
    )


def _pending_to_json(pending: Pending | None) -> str | None:
    if pending is None:
        return None
    return json.dumps(
        {
            "token": pending.token,
            "kind": pending.kind,
            "payload": pending.payload,
            "at": _iso(pending.at),
        }
    )


def _pending_from_json(body: str | None) -> Pending | None:
    if body is None:
        return None
    data = json.loads(body)
    return Pending(data["token"], data["kind"], data["payload"], _time(data["at"]) or utcnow())
