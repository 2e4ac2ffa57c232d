"""Run the real Application against the fake Bot API, with a real SQLite file.

`BotUnderTest` starts the Application the way `run_polling` does (initialize, post_init, start,
updater polling) inside the test's event loop, so a test can push updates into the fake server,
wait for what the bot sends, stop the bot, and start it again on the same database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from telegram.ext import Application

from bot.config import (
    AdminConfig,
    Config,
    KnowledgeConfig,
    MatcherConfig,
    StorageConfig,
    TelegramConfig,
)
from bot.matcher import Matcher
from bot.storage import Storage
from handlers.app import build_application
from handlers.runtime import RUNTIME_KEY
from tests.fake_telegram import TOKEN, FakeTelegram

ADMIN_CHAT = -1001234567890
ADMIN = 501
RESIDENT = 1001


def make_config(tmp: Path, kb: Path, base_url: str, admin_chat: int | None = ADMIN_CHAT) -> Config:
    return Config(
        # File watching only where a test asks for it: its notices would land among others'.
        knowledge=KnowledgeConfig(dir=kb, cache_dir=None, watch=False),
        storage=StorageConfig(path=tmp / "tanya.sqlite3"),
        telegram=TelegramConfig(api_base_url=base_url, rate_limiter=False),
        admin=AdminConfig(chat_id=admin_chat),
        # Matching in the bot's process: a worker per test would add half a second to each
        # start. tests/test_match_worker.py runs the bot with it.
        matcher=MatcherConfig(separate_process=False),
    )


class BotUnderTest:
    def __init__(
        self,
        fake: FakeTelegram,
        config: Config,
        matcher: Matcher,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.fake = fake
        self.config = config
        self.matcher = matcher
        self.clock = clock
        self.app: Application | None = None

    async def start(self) -> None:
        app = build_application(self.config, self.matcher, TOKEN)
        app.bot_data[RUNTIME_KEY].clock = self.clock
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=None)
        self.app = app

    async def stop(self) -> None:
        app = self.app
        if app is None:
            return
        self.app = None
        assert app.updater is not None
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
            if app.post_stop is not None:  # as run_polling does, after stop()
                await app.post_stop(app)
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def storage(self) -> Storage:
        assert self.app is not None
        storage = self.app.bot_data[RUNTIME_KEY].storage
        assert storage is not None
        return storage

    async def idle(self, settle: float = 0.15) -> None:
        """Wait until every queued update was fetched and the bot stopped sending."""
        for _ in range(200):
            if self.fake.pending_updates == 0:
                break
            await asyncio.sleep(0.02)
        count = -1
        while count != len(self.fake.calls):
            count = len(self.fake.calls)
            await asyncio.sleep(settle)


@asynccontextmanager
async def running_bot(
    tmp: Path,
    kb: Path,
    matcher: Matcher,
    *,
    forum: bool = False,
    admin_chat: int | None = ADMIN_CHAT,
    clock: Callable[[], dt.datetime] | None = None,
    match_worker: bool = False,
    **sections: object,
) -> AsyncIterator[BotUnderTest]:
    """A running bot; `sections` replace whole config sections (e.g. limits=LimitsConfig()).
    `match_worker`: match in a process of its own, as `tanya run` does by default."""
    forum_chats = {ADMIN_CHAT} if forum else set()
    async with FakeTelegram(forum_chats=forum_chats) as fake:
        config = make_config(tmp, kb, fake.base_url, admin_chat).model_copy(update=sections)
        if match_worker:
            worker = config.matcher.model_copy(update={"separate_process": True})
            config = config.model_copy(update={"matcher": worker})
        bot = BotUnderTest(fake, config, matcher, clock)
        await bot.start()
        try:
            yield bot
        finally:
            await bot.stop()
