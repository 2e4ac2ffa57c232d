"""The SQLite store: migrations, reopening, and errors that name the problem."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.storage import MIGRATIONS, Storage, StorageError


async def test_a_new_file_gets_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    storage = await Storage.open(tmp_path / "sub" / "tanya.sqlite3")
    try:
        assert await storage.schema_version() == len(MIGRATIONS)
    finally:
        await storage.close()
    with sqlite3.connect(tmp_path / "sub" / "tanya.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_tickets_and_the_message_map_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "tanya.sqlite3"
    storage = await Storage.open(path)
    await storage.touch_resident(7, 7, "Siti")
    ticket = await storage.create_ticket(7, "bikin paspor?", None, [("a/b", 30.0)])
    await storage.record_post(ticket.id, -100, None, 55)
    await storage.close()
    storage = await Storage.open(path)
    try:
        assert await storage.ticket_of_message(-100, 55) == ticket.id
        again = await storage.ticket(ticket.id)
        assert again is not None and again.candidates == (("a/b", 30.0),)
        assert again.post_message_id == 55 and again.resident_name == "Siti"
        assert [e.kind for e in await storage.events(ticket.id)] == ["created"]
    finally:
        await storage.close()


async def test_an_older_schema_is_migrated_and_a_newer_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "tanya.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StorageError, match="newer than this tanya"):
        await Storage.open(path)


async def test_a_path_that_cannot_hold_a_database_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot open database"):
        await Storage.open(blocker / "tanya.sqlite3")


async def test_closing_twice_and_answered_state(tmp_path: Path) -> None:
    storage = await Storage.open(tmp_path / "t.sqlite3")
    try:
        await storage.touch_resident(1, 1, "A")
        ticket = await storage.create_ticket(1, "q", "dinkes")
        await storage.mark_answered(ticket.id, "Admin", "jawaban")
        assert (await storage.ticket(ticket.id)).status == "answered"
        assert await storage.close_ticket(ticket.id, "Admin") is True
        assert await storage.close_ticket(ticket.id, "Admin") is False
        await storage.mark_answered(ticket.id, "Admin", "lagi")
        assert (await storage.ticket(ticket.id)).status == "closed"
        stats = await storage.stats()
        assert stats.tickets_closed == 1 and stats.median_first_response_s is not None
    finally:
        await storage.close()


async def test_the_no_ticket_cache_forgets_a_resident_who_opens_a_ticket(tmp_path: Path) -> None:
    import datetime as dt

    storage = await Storage.open(tmp_path / "t.sqlite3")
    try:
        await storage.touch_resident(1, 1, "A")
        since = storage.now() - dt.timedelta(hours=1)
        assert await storage.active_ticket(1, since) is None
        ticket = await storage.create_ticket(1, "q", None)
        active = await storage.active_ticket(1, since)
        assert active is not None and active.id == ticket.id
    finally:
        await storage.close()
