"""The one place the Telegram Application is built and wired.

Resident handlers are registered once with the private-chat filter and admin handlers once with
the admin-group filter; anything from any other chat reaches no handler that acts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.commands import ADMIN_COMMANDS, RESIDENT_COMMANDS
from bot.config import Config
from bot.delivery import Interrupted, ReliableMessenger
from bot.heap import settle_heap
from bot.i18n import t
from bot.matcher import Matcher
from bot.operation import current
from bot.service import Service
from bot.storage import Storage, utcnow
from bot.watch import watch_knowledge
from bot.workdays import WorkCalendar
from handlers import admins, residents
from handlers.aiohttp_request import AiohttpRequest
from handlers.flood import FloodLimiter
from handlers.intake import KEEP_HANDLED, DurableUpdateQueue
from handlers.messenger import TelegramMessenger
from handlers.processor import PerChatUpdateProcessor
from handlers.runtime import RUNTIME_KEY, Runtime, runtime_of

log = logging.getLogger(__name__)

# How often tickets are checked for the internal target (admin.reminders).
REMINDER_INTERVAL = dt.timedelta(minutes=5)

# Chats handled at once; each holds at most one Bot API connection at a time.
CONCURRENT_UPDATES = 64


def file_url(base_url: str) -> str:
    """Bot API file URL for a base URL ('.../bot' -> '.../file/bot')."""
    head, sep, _ = base_url.rstrip("/").rpartition("/bot")
    return f"{head}/file/bot" if sep else base_url.rstrip("/") + "/file/bot"


def build_application(
    config: Config, matcher: Matcher, token: str, *, webhook: bool = False
) -> Application:
    base = config.telegram.api_base_url
    calendar = WorkCalendar.from_config(config.calendar)  # CalendarError names the file
    intake = DurableUpdateQueue(polling=not webhook)
    builder = (
        Application.builder()
        .token(token)
        .base_url(base)
        .base_file_url(file_url(base))
        .request(AiohttpRequest(connection_pool_size=CONCURRENT_UPDATES))
        .get_updates_request(
            AiohttpRequest(
                connection_pool_size=1,
                before_request=intake.flush,
                on_response=intake.saw_response,
            )
        )
        .update_queue(intake)
        .concurrent_updates(PerChatUpdateProcessor(CONCURRENT_UPDATES, intake))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    if config.telegram.rate_limiter:
        builder = builder.rate_limiter(FloodLimiter.from_config(config.telegram))
    app = builder.build()
    app.bot_data[RUNTIME_KEY] = Runtime(config, matcher, intake=intake, calendar=calendar)

    message = filters.UpdateType.MESSAGE  # edits are not new questions
    superior = config.ppid.superior_chat_id
    if superior is not None and superior != config.admin.chat_id:
        # The PPID's superior answers objections by replying to their posts; first, so a
        # superior writing from a private chat is not taken for a resident.
        chosen = filters.Chat(superior) & message & filters.REPLY & ~filters.COMMAND
        app.add_handler(MessageHandler(chosen, admins.superior_reply))
    private = filters.ChatType.PRIVATE & message
    app.add_handler(CommandHandler(RESIDENT_COMMANDS, residents.command, filters=private))
    app.add_handler(MessageHandler(private & filters.COMMAND, residents.command))
    app.add_handler(MessageHandler(private & ~filters.COMMAND, residents.message))
    edited = filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE
    app.add_handler(MessageHandler(edited, residents.edited))
    if config.admin.chat_id is not None:
        admin = filters.Chat(config.admin.chat_id) & message
        app.add_handler(CommandHandler(ADMIN_COMMANDS, admins.command, filters=admin))
        app.add_handler(MessageHandler(admin & filters.REPLY & ~filters.COMMAND, admins.reply))
    app.add_handler(CallbackQueryHandler(_button))
    app.add_handler(MessageHandler(filters.ChatType.GROUPS, _other_group))
    app.add_handler(ChatMemberHandler(_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_error_handler(_error)
    return app


async def _post_init(app: Application) -> None:
    runtime: Runtime = app.bot_data[RUNTIME_KEY]
    runtime.storage = await Storage.open(runtime.config.storage.path, clock=runtime.clock or utcnow)
    messenger = ReliableMessenger(TelegramMessenger(app.bot), runtime.storage)
    intake = runtime.intake

    async def settle() -> None:
        operation = current()
        if intake is not None and operation is not None:
            await intake.earlier_done(operation.update_id)

    runtime.service = Service(
        runtime.config,
        runtime.matcher,
        runtime.storage,
        messenger,
        settle=settle,
        calendar=runtime.calendar,
    )
    runtime.messenger = messenger
    if runtime.config.matcher.separate_process:
        await runtime.service.start_matching()
    replayed = await runtime.intake.open(runtime.storage, app.bot) if runtime.intake else 0
    await runtime.service.announcements.resume()  # broadcasts a stop interrupted
    await _purge_old_text(app)
    if runtime.config.knowledge.watch:
        service = runtime.service
        runtime.watch_stop.clear()
        runtime.watcher = asyncio.create_task(
            watch_knowledge(
                runtime.config.knowledge.dir, service.knowledge_changed, runtime.watch_stop
            ),
            name="knowledge-watch",
        )
    if app.job_queue is not None:
        app.job_queue.run_repeating(
            lambda _context: _purge_old_text(app), interval=dt.timedelta(days=1)
        )
        _schedule_digest_and_reminders(app)
    settle_heap()
    log.info(
        "event=started entries=%d admin_chat=%s replayed=%d",
        len(runtime.matcher.entries),
        runtime.config.admin.chat_id,
        replayed,
    )


def _schedule_digest_and_reminders(app: Application) -> None:
    """The daily digest at admin.digest_at (local time) and the overdue check, through the
    library's job queue; the service decides what is due, so a restart repeats nothing."""
    runtime: Runtime = app.bot_data[RUNTIME_KEY]
    service, config, queue = runtime.service, runtime.config, app.job_queue
    if service is None or queue is None or config.admin.chat_id is None:
        return
    if config.admin.digest_at is not None:
        at = config.admin.digest_at.replace(tzinfo=service.calendar.tz)

        async def digest(_context: ContextTypes.DEFAULT_TYPE) -> None:
            await service.send_digest()

        queue.run_daily(digest, time=at, name="digest")

        async def digest_catch_up(_context: ContextTypes.DEFAULT_TYPE) -> None:
            # Today's digest if its time passed while the bot was down, or its send failed.
            await service.send_digest(catch_up=True)

        queue.run_repeating(
            digest_catch_up, interval=REMINDER_INTERVAL, first=10, name="digest-catch-up"
        )
    if config.admin.reminders:

        async def remind(_context: ContextTypes.DEFAULT_TYPE) -> None:
            await service.send_reminders()

        queue.run_repeating(remind, interval=REMINDER_INTERVAL, first=5, name="reminders")

    async def deadlines(_context: ContextTypes.DEFAULT_TYPE) -> None:
        # Always on: telling a resident their request lapsed (and that they may object) is
        # part of the legal service, not an option of the admin group.
        await service.ppid.check_deadlines()

    queue.run_repeating(deadlines, interval=REMINDER_INTERVAL, first=7, name="ppid-deadlines")


async def _purge_old_text(app: Application) -> None:
    """Retention (UU 27/2022), at start and daily: forget handled updates after a day and
    blank residents' words older than retention.days."""
    runtime: Runtime = app.bot_data[RUNTIME_KEY]
    days = runtime.config.retention.days
    if runtime.storage is not None:
        await runtime.storage.prune_updates(KEEP_HANDLED)
    if runtime.storage is not None and days:
        purged = await runtime.storage.purge_text(dt.timedelta(days=days))
        if purged:
            log.info("event=retention_purged tickets=%s days=%s", purged, days)


async def _post_stop(app: Application) -> None:
    """Before the bot's connections close: let the broadcast's sends in flight finish and be
    recorded (the rest goes out after the next start)."""
    runtime: Runtime = app.bot_data[RUNTIME_KEY]
    if runtime.service is not None:
        await runtime.service.announcements.stop()


async def _post_shutdown(app: Application) -> None:
    runtime: Runtime = app.bot_data[RUNTIME_KEY]
    if runtime.service is not None:
        await runtime.service.announcements.stop()  # when post_stop did not run: before storage
    if runtime.watcher is not None:
        runtime.watch_stop.set()
        try:
            await asyncio.wait_for(runtime.watcher, timeout=5)
        except TimeoutError:
            runtime.watcher.cancel()
        except Exception:  # a watcher that died must not keep the database from closing
            log.exception("event=watcher_failed")
        runtime.watcher = None
    if runtime.service is not None:
        await runtime.service.stop_matching()
    if runtime.intake is not None:
        await runtime.intake.close()
    if runtime.storage is not None:
        await runtime.storage.close()
        runtime.storage = None
    log.info("event=stopped")


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send a button press to the residents' or the admins' side, by the chat it is in."""
    query = update.callback_query
    if query is None:
        return
    chat = query.message.chat if query.message is not None else None
    if chat is not None and chat.type == ChatType.PRIVATE:
        await residents.button(update, context)
    elif chat is not None and chat.id == runtime_of(context).config.admin.chat_id:
        await admins.button(update, context)
    else:
        await query.answer()


async def _other_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stay silent in any group but the admin group; log its id once, for set-up."""
    chat = update.effective_chat
    runtime = runtime_of(context)
    if chat is None or chat.id == runtime.config.admin.chat_id:
        return
    if chat.id not in runtime.unknown_groups:
        runtime.unknown_groups.add(chat.id)
        log.info("event=ignored_group chat=%s (set admin.chat_id to use it)", chat.id)


async def _membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log being added to a group, so an operator can find the admin group's id."""
    change = update.my_chat_member
    if change is not None and change.chat.type != ChatType.PRIVATE:
        log.info(
            "event=membership chat=%s status=%s", change.chat.id, change.new_chat_member.status
        )


async def _error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure, then tell a resident politely rather than leave them waiting."""
    if isinstance(context.error, Interrupted):
        log.info("event=handling_interrupted reason=stopping")  # resumed at the next start
        return
    log.error("event=handler_error", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != ChatType.PRIVATE:
        return
    language = runtime_of(context).config.language
    try:
        await context.bot.send_message(update.effective_chat.id, t("error.resident", language))
    except Exception:  # the error handler itself must never raise
        log.warning("event=error_notice_failed")
