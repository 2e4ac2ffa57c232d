"""`tanya run`: the Telegram bot. The rest of the command line lives in the core (bot.cli).

It sits in handlers/ because it is the one command that needs python-telegram-bot; the core
never imports Telegram. The console script `tanya` points here so `run` is one of its commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from collections.abc import Iterator
from urllib.parse import urlsplit

import click
from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from bot.cli import _config, _kb_dir, _matcher, config_option, kb_option, main
from bot.config import TOKEN_ENV, Config
from bot.logs import setup_logging
from bot.storage import Storage, StorageError
from bot.workdays import CalendarError
from handlers.aiohttp_request import AiohttpRequest
from handlers.app import build_application
from handlers.flood import FloodLimiter
from handlers.processor import PerChatUpdateProcessor
from handlers.runtime import RUNTIME_KEY, Runtime

log = logging.getLogger(__name__)


def _webhook_secret(config: Config, token: str) -> str:
    if config.telegram.secret_token is not None:
        return config.telegram.secret_token.get_secret_value()
    # Stable across restarts and not the token itself; Telegram allows [A-Za-z0-9_-].
    return hashlib.sha256(f"tanya-webhook:{token}".encode()).hexdigest()[:48]


def _check_storage(config: Config) -> None:
    async def probe() -> None:
        storage = await Storage.open(config.storage.path)
        await storage.close()

    try:
        asyncio.run(probe())
    except StorageError as exc:
        raise click.ClickException(
            f"The database (storage.path = {config.storage.path}) cannot be used: {exc}."
        ) from None


def _check_token(config: Config, token: str) -> None:
    """Ask the Bot API who we are before starting, so a bad token or an unreachable server is
    one sentence, not the library's retry loop with a traceback in the log."""

    async def probe() -> None:
        bot = Bot(token, base_url=config.telegram.api_base_url, request=AiohttpRequest(1))
        try:
            await bot.initialize()  # opens the connection and asks getMe
        finally:
            with contextlib.suppress(TelegramError):
                await bot.shutdown()

    with telegram_errors(config):
        asyncio.run(probe())


def _stop_on_signals(app: Application) -> None:
    """SIGTERM and Ctrl-C stop the bot at once: sends waiting to be retried stop waiting, and
    queued updates are left to the database (both are handled at the next start) instead of
    being worked off first, which python-telegram-bot's own signal handling would do."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # run_polling / run_webhook use this loop

    def stop() -> None:
        runtime = app.bot_data.get(RUNTIME_KEY)
        if isinstance(runtime, Runtime):
            if runtime.messenger is not None:
                runtime.messenger.interrupt()
            if runtime.intake is not None:
                runtime.intake.drop_queued()
        processor = app.update_processor
        if isinstance(processor, PerChatUpdateProcessor):
            processor.stopping = True
        limiter = app.bot.rate_limiter
        if isinstance(limiter, FloodLimiter):
            limiter.interrupt()
        if app.running:
            app.stop_running()
        else:
            # Still starting (replaying the updates a crash left, say): python-telegram-bot
            # ignores stop_running() until the application runs, and the signal would be lost.
            loop.call_later(0.1, stop)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


@contextlib.contextmanager
def telegram_errors(config: Config) -> Iterator[None]:
    """Turn the Bot API's refusals at start-up into one sentence for the operator."""
    try:
        yield
    except InvalidToken:
        raise click.ClickException(
            f"Telegram rejected the token ({TOKEN_ENV} or telegram.token): check it with "
            "@BotFather."
        ) from None
    except NetworkError as exc:
        raise click.ClickException(
            f"Cannot reach the Bot API at {config.telegram.api_base_url} ({exc.message})."
        ) from None
    except TelegramError as exc:
        raise click.ClickException(f"Telegram refused to start the bot: {exc.message}.") from None


@main.command()
@config_option
@kb_option
@click.option("--webhook-url", default=None, help="Receive updates by webhook at this https URL.")
@click.option("--listen", default=None, help="ADDRESS:PORT of the webhook server (webhook mode).")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
)
def run(
    config_path: str | None,
    kb: str | None,
    webhook_url: str | None,
    listen: str | None,
    log_level: str,
) -> None:
    """Run the Telegram bot (long polling; webhook with --webhook-url)."""
    config = _config(config_path)
    token = config.telegram.resolved_token()
    if not token:
        raise click.ClickException(
            f"No Telegram token: set the environment variable {TOKEN_ENV} "
            "(or telegram.token in the config) to the token from @BotFather."
        )
    setup_logging(log_level, secrets=[token])
    if config.admin.chat_id is None:
        raise click.ClickException(
            "admin.chat_id is not set: put the admin group's id (e.g. -1001234567890) in the "
            "config. To find it, add the bot to the group, post a message there, and read "
            "chat.id from the Bot API's getUpdates (see the README, 'The admin group')."
        )
    matcher = _matcher(config, _kb_dir(config, kb))
    _check_storage(config)
    _check_token(config, token)
    webhook_url = webhook_url or config.telegram.webhook_url
    if config.telegram.mode == "webhook" and not webhook_url:
        raise click.ClickException(
            "telegram.mode is webhook but no webhook URL is set: add telegram.webhook_url "
            "or pass --webhook-url."
        )
    try:
        app = build_application(config, matcher, token, webhook=bool(webhook_url))
    except CalendarError as exc:
        raise click.ClickException(str(exc)) from None
    _stop_on_signals(app)
    with telegram_errors(config):
        if webhook_url:
            host, _, port = (listen or config.telegram.listen).rpartition(":")
            if not host or not port.isdigit():
                raise click.ClickException("--listen must be ADDRESS:PORT, e.g. 0.0.0.0:8443.")
            app.run_webhook(
                listen=host,
                port=int(port),
                url_path=urlsplit(webhook_url).path.lstrip("/"),
                webhook_url=webhook_url,
                secret_token=_webhook_secret(config, token),
                allowed_updates=Update.ALL_TYPES,
                stop_signals=None,
            )
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES, stop_signals=None)


__all__ = ["main", "run"]


if __name__ == "__main__":  # pragma: no cover
    main()
