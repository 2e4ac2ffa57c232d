"""What the handlers share: the service, built when the Application starts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram.ext import ContextTypes

from bot.config import Config
from bot.delivery import ReliableMessenger
from bot.matcher import Matcher
from bot.service import Service
from bot.storage import Storage
from bot.workdays import WorkCalendar
from handlers.intake import DurableUpdateQueue

RUNTIME_KEY = "tanya"


@dataclass
class Runtime:
    config: Config
    matcher: Matcher
    storage: Storage | None = None
    service: Service | None = None
    unknown_groups: set[int] = field(default_factory=set)
    intake: DurableUpdateQueue | None = None
    messenger: ReliableMessenger | None = None
    calendar: WorkCalendar | None = None
    # Knowledge file watching (bot.watch): set `watch_stop` to end it.
    watcher: asyncio.Task[None] | None = None
    watch_stop: asyncio.Event = field(default_factory=asyncio.Event)
    # The storage's clock (tests move time to reach deadlines); None: the real time.
    clock: Callable[[], dt.datetime] | None = None


def runtime_of(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    runtime = context.application.bot_data[RUNTIME_KEY]
    assert isinstance(runtime, Runtime)
    return runtime


def service_of(context: ContextTypes.DEFAULT_TYPE) -> Service:
    service = runtime_of(context).service
    assert service is not None, "the service is built in post_init"
    return service
