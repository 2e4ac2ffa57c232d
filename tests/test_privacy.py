"""Issue 4, point 7: NIK/KK and phone numbers masked in logs and exports; a resident's data
exported and erased on request; old words blanked after retention.days, counts kept."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.logs import RedactingFormatter
from bot.privacy import NIK_MASK, PHONE_MASK, mask
from bot.storage import Storage


@pytest.mark.parametrize(
    "text",
    [
        "NIK saya 3201234567890001",
        "kk 3201.2345.6789.0001 hilang",
        "nik: 3201-2345-6789-0001",
        "3201 2345 6789 0001",
    ],
)
def test_nik_and_kk_numbers_are_masked_however_they_are_grouped(text: str) -> None:
    masked = mask(text)
    assert NIK_MASK in masked and not any(ch.isdigit() for ch in masked)


@pytest.mark.parametrize(
    "text", ["hp 081234567890", "wa +62 812-3456-7890", "628123456789", "0812 3456 789"]
)
def test_phone_numbers_are_masked(text: str) -> None:
    assert PHONE_MASK in mask(text) and not any(ch.isdigit() for ch in mask(text))


@pytest.mark.parametrize(
    "text", ["tiket #12345", "tahun 2024", "Rp 150.000", "rekening 1234567890123456789", "08.00"]
)
def test_other_numbers_stay(text: str) -> None:
    assert mask(text) == text


def test_log_lines_carry_neither_the_token_nor_personal_numbers() -> None:
    formatter = RedactingFormatter("%(message)s", ["123456:SECRET"])
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "failed for 3201234567890001 via %s",
        ("123456:SECRET",),
        None,
    )
    line = formatter.format(record)
    assert "3201234567890001" not in line and "SECRET" not in line and NIK_MASK in line


async def _seed(path: Path) -> None:
    old = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    clock = [old]
    storage = await Storage.open(path, clock=lambda: clock[0])
    await storage.touch_resident(1001, 1001, "Siti Aminah")
    await storage.touch_resident(1002, 1002, "Budi")
    await storage.log_conversation(1001, "NIK saya 3201234567890001, hp 081234567890", "escalate")
    ticket = await storage.create_ticket(1001, "KTP hilang, NIK 3201234567890001", "disdukcapil")
    await storage.mark_answered(ticket.id, "Admin", "Bu Siti, KTP baru Ibu jadi besok.")
    await storage.close_ticket(ticket.id, "Admin")
    await storage.create_ticket(1002, "akta anak", "disdukcapil")
    await storage.close()


def _config(tmp: Path) -> Path:
    path = tmp / "config.yaml"
    path.write_text(f"storage:\n  path: {tmp / 'db.sqlite3'}\n", encoding="utf-8")
    return path


def test_export_shows_a_residents_data_with_numbers_masked(tmp_path: Path) -> None:
    asyncio.run(_seed(tmp_path / "db.sqlite3"))
    result = CliRunner().invoke(
        main, ["data", "export", "1001", "--config", str(_config(tmp_path))]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["resident"]["name"] == "Siti Aminah"
    assert len(data["conversations"]) == 1 and len(data["tickets"]) == 1
    assert "3201234567890001" not in result.output and "081234567890" not in result.output
    assert "Budi" not in result.output and "akta anak" not in result.output
    missing = CliRunner().invoke(
        main, ["data", "export", "999", "--config", str(_config(tmp_path))]
    )
    assert missing.exit_code == 1 and "No resident with id 999" in missing.output


def test_forget_erases_one_resident_and_nobody_else(tmp_path: Path) -> None:
    asyncio.run(_seed(tmp_path / "db.sqlite3"))
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    body = json.dumps({"update_id": 5, "message": {"from": {"id": 1001}, "text": "halo"}})
    db.execute("INSERT INTO updates VALUES (5, ?, '2025-01-01T00:00:00+00:00', NULL)", (body,))
    db.commit()
    config = str(_config(tmp_path))
    result = CliRunner().invoke(main, ["data", "forget", "1001", "--yes", "--config", config])
    assert result.exit_code == 0, result.output
    assert "1 residents" in result.output and "1 tickets" in result.output
    assert db.execute("SELECT COUNT(*) FROM residents WHERE id = 1001").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM updates").fetchone()[0] == 0
    assert db.execute("SELECT resident_id FROM tickets").fetchall() == [(1002,)]
    again = CliRunner().invoke(main, ["data", "forget", "1001", "--yes", "--config", config])
    assert again.exit_code == 1


async def test_retention_blanks_old_closed_tickets_and_keeps_the_counts(tmp_path: Path) -> None:
    await _seed(tmp_path / "db.sqlite3")
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    storage = await Storage.open(tmp_path / "db.sqlite3", clock=lambda: now)
    before = await storage.stats()
    assert await storage.purge_text(dt.timedelta(days=365)) == 1
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    questions = dict(db.execute("SELECT resident_id, question FROM tickets"))
    assert questions == {1001: "", 1002: "akta anak"}  # the open ticket keeps its text
    assert db.execute("SELECT text FROM conversations").fetchall() == [("",)]
    # The admin's answer to the resident goes too (it may name them); the event stays.
    answers = db.execute("SELECT detail FROM ticket_events WHERE kind = 'answered'").fetchall()
    assert answers == [("",)]
    assert await storage.stats() == before
    await storage.close()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("email budi@gmail.com ya", "email [e-mail] ya"),
        ("surel: siti.aminah+ppid@desa.go.id", "surel: [e-mail]"),
        ("hp (0812) 3456 7890", "hp [nomor HP]"),
        ("telp (0761) 12345", "telp [nomor HP]"),
        ("kantor (021) 555-1234", "kantor [nomor HP]"),
        ("NIK 3201  0123  4567  0001", "NIK [NIK/KK]"),
        ("hp 0812  3456  7890", "hp [nomor HP]"),
    ],
)
def test_e_mail_bracketed_landline_and_loosely_typed_numbers_are_masked(
    text: str, masked: str
) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize(
    "text",
    ["buka jam 08.00-15.00", "biaya Rp 1.500.000", "tahun 2024\n2. KK", "RT 02 RW 05", "(2025)"],
)
def test_hours_money_years_and_lists_are_not_masked(text: str) -> None:
    assert mask(text) == text
