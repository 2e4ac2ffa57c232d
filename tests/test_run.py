"""`tanya run` as an operator starts it: clear sentences on bad set-up, a clean SIGTERM stop,
and the webhook server with its secret token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bot.config import MatcherConfig
from bot.kb_cache import load_matcher
from handlers.cli import main
from tests.bot_harness import ADMIN_CHAT, RESIDENT, make_config
from tests.conftest import ROOT
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.test_bot_flows import SMALL_KB, UNKNOWN


def write_config(
    tmp: Path, base_url: str = "http://127.0.0.1:9/bot", *, telegram: str = "", **extra: str
) -> Path:
    """A config for `tanya run`; `telegram` holds more keys of that section, e.g.
    "rate_limiter: false"."""
    admin = extra.pop("admin", f"admin:\n  chat_id: {ADMIN_CHAT}\n")
    more = "".join(f"  {line}\n" for line in telegram.splitlines())
    path = tmp / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            knowledge:
              dir: {extra.pop("kb", SMALL_KB)}
              cache_dir: ""
            storage:
              path: {tmp / "db.sqlite3"}
            telegram:
              api_base_url: {base_url}
            """
        )
        + more
        + admin
        + "".join(extra.values()),
        encoding="utf-8",
    )
    return path


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["run", *args], env=env or {}, catch_exceptions=False)


def test_missing_token_is_one_sentence_naming_the_variable(tmp_path: Path) -> None:
    result = invoke("--config", str(write_config(tmp_path)), env={"TANYA_TELEGRAM_TOKEN": ""})
    assert result.exit_code == 1
    assert "No Telegram token: set the environment variable TANYA_TELEGRAM_TOKEN" in result.output
    assert "Traceback" not in result.output


def test_missing_admin_chat_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, admin="")
    result = invoke("--config", str(config), env={"TANYA_TELEGRAM_TOKEN": TOKEN})
    assert result.exit_code == 1 and "admin.chat_id is not set" in result.output
    assert TOKEN not in result.output


def test_bad_config_key_is_named_with_a_guess(tmp_path: Path) -> None:
    config = write_config(tmp_path, bad="tickets:\n  reply_withn: 2 hari\n")
    result = invoke("--config", str(config), env={"TANYA_TELEGRAM_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert "unknown key 'tickets.reply_withn'. Did you mean 'tickets.reply_within'?" in (
        result.output
    )


def test_a_secret_in_a_bad_config_value_is_not_echoed(tmp_path: Path) -> None:
    config = write_config(tmp_path, telegram="token: [123456, s3kr1t-value]")
    result = invoke("--config", str(config), env={"TANYA_TELEGRAM_TOKEN": TOKEN})
    assert result.exit_code == 1 and "telegram.token" in result.output
    assert "s3kr1t-value" not in result.output


def test_a_broken_knowledge_base_names_the_file(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "dinkes.yaml").write_text("opd:\n  id: dinkes\n\tname: x\n", encoding="utf-8")
    config = write_config(tmp_path, kb=str(kb))
    result = invoke("--config", str(config), env={"TANYA_TELEGRAM_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert "dinkes.yaml" in result.output and "Traceback" not in result.output


def _bot_process(config: Path, token: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "TANYA_TELEGRAM_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    return asyncio.create_subprocess_exec(  # type: ignore[return-value]
        sys.executable,
        "-m",
        "handlers.cli",
        "run",
        "--config",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_run_polls_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        config = write_config(tmp_path, fake.base_url)
        process = await _bot_process(config, TOKEN)
        try:
            await fake.wait_sent("deleteWebhook", timeout=30)  # polling starts right after
            fake.private_text(RESIDENT, "cara daftar bpjs mandiri")
            replies = await fake.wait_sent("sendMessage", RESIDENT, timeout=15)
            assert "Mobile JKN" in replies[0].params["text"]
            # The matching process (bot.match_worker); systemd signals it too.
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
            workers = [int(pid) for pid in children.split()]
            assert len(workers) == 1
            os.kill(workers[0], signal.SIGTERM)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "event=stopped" in log and "Traceback" not in log
    assert "event=match_worker_started" in log and "match_worker_gone" not in log
    assert not Path(f"/proc/{workers[0]}").exists()  # ended and reaped with the bot
    # ids and decisions only: not the token, not what the resident wrote or was told
    assert TOKEN not in log and "Mobile JKN" not in log and "cara daftar" not in log


async def test_sigterm_while_the_bot_is_still_starting_stops_it(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        fake.slow_next("deleteWebhook", 4)  # the last step before polling starts
        config = write_config(tmp_path, fake.base_url)
        process = await _bot_process(config, TOKEN)
        assert process.stderr is not None
        log = ""
        try:
            while "event=started" not in log:
                line = await asyncio.wait_for(process.stderr.readline(), timeout=30)
                assert line, log
                log += line.decode()
            await asyncio.sleep(0.5)  # deleteWebhook is in flight: the application is not running
            process.send_signal(signal.SIGTERM)
            _, rest = await asyncio.wait_for(process.communicate(), timeout=20)
        finally:
            if process.returncode is None:
                process.kill()
    log += rest.decode()
    assert process.returncode == 0, log
    assert "event=stopped" in log and "Traceback" not in log


async def test_sigterm_does_not_wait_for_the_admin_groups_send_limit(tmp_path: Path) -> None:
    """Ticket posts queued behind the group's limit (here 2 a minute) are left to the next
    start: the stop does not wait for them, and the next start posts them."""
    async with FakeTelegram() as fake:
        config = write_config(tmp_path, fake.base_url, telegram="sends_per_minute_per_group: 2")
        process = await _bot_process(config, TOKEN)
        try:
            await fake.wait_sent("deleteWebhook", timeout=30)
            for resident in range(5001, 5006):
                fake.private_text(resident, UNKNOWN, first_name=f"Warga{resident}")
            await fake.wait_sent("sendMessage", ADMIN_CHAT, count=2, timeout=15)
            await asyncio.sleep(0.5)  # the other three posts wait for the group's limit
            stopped_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
            took = time.monotonic() - stopped_at
        finally:
            if process.returncode is None:
                process.kill()
        assert process.returncode == 0, stderr.decode()
        assert took < 10, took
        posted = lambda: [  # noqa: E731
            c for c in fake.sent("sendMessage", ADMIN_CHAT) if "Tiket #" in str(c.params)
        ]
        assert len(posted()) == 2
        config = write_config(tmp_path, fake.base_url)  # the next start: Telegram's own limit
        process = await _bot_process(config, TOKEN)
        try:
            for _ in range(300):
                if len(posted()) >= 5:
                    break
                await asyncio.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.communicate(), timeout=30)
        assert len(posted()) == 5, fake.summary()


async def test_run_with_a_rejected_token_says_so(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        config = write_config(tmp_path, fake.base_url)
        process = await _bot_process(config, "999:wrong-token")
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    output = stdout.decode() + stderr.decode()
    assert process.returncode == 1
    assert "Telegram rejected the token" in output and "Traceback" not in output
    assert "999:wrong-token" not in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("secret_ok", [True, False])
async def test_webhook_mode_checks_the_secret_token(tmp_path: Path, secret_ok: bool) -> None:
    from handlers.app import build_application

    matcher = load_matcher(SMALL_KB, MatcherConfig(), None)
    async with FakeTelegram() as fake:
        config = make_config(tmp_path, SMALL_KB, fake.base_url)
        app = build_application(config, matcher, TOKEN, webhook=True)
        port = _free_port()
        await app.initialize()
        await app.post_init(app)  # type: ignore[misc]
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            secret_token="s3cret",
        )
        try:
            assert fake.sent("setWebhook")[0].params["secret_token"] == "s3cret"
            update = fake.private_text(RESIDENT, "cara daftar bpjs mandiri")
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    f"http://127.0.0.1:{port}/hook",
                    content=json.dumps(update),
                    headers={
                        "Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": "s3cret" if secret_ok else "nope",
                    },
                )
            if secret_ok:
                assert response.status_code == 200
                # Telegram got its 200 only once the update was in the database.
                stored = sqlite3.connect(config.storage.path).execute(
                    "SELECT update_id FROM updates"
                )
                assert [r[0] for r in stored] == [update["update_id"]]
                replies = await fake.wait_sent("sendMessage", RESIDENT)
                assert "Mobile JKN" in replies[0].params["text"]
            else:
                assert response.status_code == 403
                await asyncio.sleep(0.3)
                assert not fake.sent("sendMessage", RESIDENT)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            await app.post_shutdown(app)  # type: ignore[misc]
