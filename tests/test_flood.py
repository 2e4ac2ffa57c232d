"""Issue 4, point 4: flood control, proven against a fake Bot API that enforces Telegram's limits.

The fake (`FakeTelegram(limits=FloodLimits())`) answers 429 beyond 30 messages in any second, one
in any second into a private chat or 20 in any minute into a group, and records as a violation
every request made while a retry_after it gave is still running. The first tests show that it
catches a bot without flood control and python-telegram-bot's own AIORateLimiter; the rest that
handlers.flood keeps within every limit, never sends during a retry_after (PTB issue 5338) and,
with the real Application, delivers every reply of a burst of 1,000 questions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, BaseRateLimiter, ExtBot

from bot.config import TelegramConfig
from bot.matcher import Matcher
from handlers.aiohttp_request import AiohttpRequest
from handlers.flood import FloodLimiter
from tests import test_bot_flows as flows
from tests.bot_harness import BotUnderTest, make_config
from tests.fake_telegram import TOKEN, Call, FakeTelegram, FloodLimits
from tests.test_bot_flows import ANSWERED, SMALL_KB, text_of

matcher = flows.matcher

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

RESIDENT = 2001
GROUP = -1009876
SECOND = "syarat akta kelahiran"  # -> answer disdukcapil/akta-kelahiran


@pytest.fixture
async def fake():
    async with FakeTelegram(limits=FloodLimits()) as f:
        yield f


async def ext_bot(fake: FakeTelegram, limiter: BaseRateLimiter | None) -> ExtBot:
    bot: ExtBot = ExtBot(
        TOKEN, base_url=fake.base_url, request=AiohttpRequest(100), rate_limiter=limiter
    )
    await bot.initialize()
    return bot


def sends(fake: FakeTelegram) -> list[Call]:
    return [c for c in fake.calls if c.method == "sendMessage"]


# ------------------------------------------------------------------ the fake catches offenders


async def test_the_fake_refuses_a_second_message_within_a_second_and_counts_a_violation(
    fake: FakeTelegram,
) -> None:
    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        await bot.send_message(RESIDENT, "satu")
        with pytest.raises(RetryAfter):
            await bot.send_message(RESIDENT, "dua")  # over one a second into this chat
        assert len(fake.flood_refused) == 1 and fake.flood_violations == []
        with pytest.raises(RetryAfter):
            await bot.get_chat(RESIDENT)  # any request into the chat while retry_after runs
        await bot.send_message(RESIDENT + 1, "tiga")  # another chat is not closed
    assert [c.method for c in fake.flood_violations] == ["getChat"]


async def test_the_fake_refuses_the_31st_message_in_a_second_then_closes_the_whole_bot(
    fake: FakeTelegram,
) -> None:
    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        results = await asyncio.gather(
            *(bot.send_message(RESIDENT + i, "halo") for i in range(40)), return_exceptions=True
        )
        assert sum(isinstance(r, RetryAfter) for r in results) == 10
        # The 31st is refused and closes the whole bot: the 9 after it were sent regardless.
        assert len(fake.flood_refused) == 1 and len(fake.flood_violations) == 9
        with pytest.raises(RetryAfter):
            await bot.get_me()  # any method
    assert len(fake.flood_violations) == 10


async def test_the_fake_refuses_the_21st_message_in_a_minute_into_a_group(
    fake: FakeTelegram,
) -> None:
    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        for i in range(20):
            await bot.send_message(GROUP, f"pesan {i}")
        with pytest.raises(RetryAfter):
            await bot.send_message(GROUP, "pesan 21")
    (refusal,) = fake.flood_refused
    assert refusal.params["chat_id"] == GROUP and fake.flood_violations == []


async def test_ptb_aioratelimiter_has_no_limit_per_private_chat(fake: FakeTelegram) -> None:
    bot = await ext_bot(fake, AIORateLimiter())
    try:
        await bot.send_message(RESIDENT, "satu")
        with pytest.raises(RetryAfter):
            await bot.send_message(RESIDENT, "dua")
    finally:
        await bot.shutdown()
    assert len(fake.flood_refused) == 1


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


async def halt_scenario(
    fake: FakeTelegram, bot: ExtBot, halted: Callable[[], bool]
) -> tuple[Call, list[Call]]:
    """Issue 5338's situation, over HTTP: a request is in flight (a slow getChat) when a send
    gets "429, retry after 2"; five more sends start once the limiter knows (`halted`). Returns
    the 429 and every request that arrived after it."""
    fake.slow_next("getChat", 1.0)
    slow = asyncio.create_task(bot.get_chat(GROUP))
    await until(lambda: bool(fake._in_flight))  # the fake holds it
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    flooded = asyncio.create_task(bot.send_message(RESIDENT, "satu"))
    (answer,) = await fake.wait_for(lambda c: c.error is not None and c.error[0] == 429)
    await until(halted)
    others = [bot.send_message(RESIDENT + i, "dua") for i in range(1, 6)]
    await asyncio.gather(slow, flooded, *others, return_exceptions=True)
    return answer, [c for c in fake.calls if c.arrived > answer.at]


async def test_ptb_aioratelimiter_sends_while_telegram_still_says_wait(fake: FakeTelegram) -> None:
    # max_retries=1: with PTB's default of 0 a 429 halts nothing at all.
    limiter = AIORateLimiter(max_retries=1)
    bot = await ext_bot(fake, limiter)
    try:
        answer, later = await halt_scenario(
            fake, bot, lambda: not limiter._retry_after_event.is_set()
        )
    finally:
        await bot.shutdown()
    early = [c for c in later if c.arrived < answer.at + 2]
    assert early and fake.flood_violations  # released when the slow getChat finished, ~1 s


# ------------------------------------------------------------------ handlers.flood


async def test_no_request_while_a_retry_after_runs_even_when_another_request_finishes(
    fake: FakeTelegram,
) -> None:
    limiter = FloodLimiter()
    bot = await ext_bot(fake, limiter)
    try:
        answer, later = await halt_scenario(fake, bot, lambda: limiter.halted_for > 0)
    finally:
        await bot.shutdown()
    assert len(later) == 5 and all(c.error is None for c in later), fake.summary()
    assert min(c.arrived for c in later) >= answer.at + 2
    assert fake.flood_violations == []


async def test_a_shorter_retry_after_does_not_end_a_longer_halt() -> None:
    # Two requests in flight together; the one told 3 s answers first, then the one told 1 s.
    limiter = FloodLimiter()
    gates = {3: asyncio.Event(), 1: asyncio.Event()}

    async def flooded(seconds: int) -> bool:
        await gates[seconds].wait()
        raise RetryAfter(seconds)

    requests = {
        seconds: asyncio.create_task(
            limiter.process_request(flooded, (seconds,), {}, "sendMessage", {"chat_id": c}, None)
        )
        for seconds, c in ((3, 1), (1, 2))
    }
    await asyncio.sleep(0.01)  # both are past the limiter, waiting for their answers
    for seconds in (3, 1):
        gates[seconds].set()
        with pytest.raises(RetryAfter):
            await requests[seconds]
    assert 2.9 < limiter.halted_for <= 3


async def test_get_updates_is_not_held_by_a_halt(fake: FakeTelegram) -> None:
    limiter = FloodLimiter()
    bot = await ext_bot(fake, limiter)
    try:
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
        with pytest.raises(RetryAfter):
            await bot.send_message(RESIDENT, "satu")
        started = time.monotonic()
        await bot.get_updates(timeout=0)
        assert limiter.halted_for > 4 and time.monotonic() - started < 1
    finally:
        await bot.shutdown()


@pytest.mark.parametrize(
    ("chats", "limits", "least_seconds"),
    [
        ([RESIDENT] * 3, {}, 2.0),  # one a second into one private chat
        ([GROUP] * 7, {"group": (3, 1.0)}, 2.0),  # a group limit, shortened to one second
        ([RESIDENT + i for i in range(70)], {}, 2.0),  # 30 a second in all
    ],
    ids=["private-chat", "group", "overall"],
)
async def test_sends_are_paced_within_every_limit(
    chats: list[int], limits: dict, least_seconds: float
) -> None:
    async with FakeTelegram(limits=FloodLimits(**limits)) as fake:
        bot = await ext_bot(fake, FloodLimiter(**limits))
        try:
            started = time.monotonic()
            await asyncio.gather(*(bot.send_message(chat, "halo") for chat in chats))
            elapsed = time.monotonic() - started
        finally:
            await bot.shutdown()
    assert fake.flood_refused == [] and fake.flood_violations == []
    assert len(sends(fake)) == len(chats)
    assert least_seconds <= elapsed < least_seconds + 1.5


# ------------------------------------------------------------------ the real Application


async def running(tmp: Path, matcher: Matcher, fake: FakeTelegram) -> BotUnderTest:
    config = make_config(tmp, SMALL_KB, fake.base_url).model_copy(
        update={"telegram": TelegramConfig(api_base_url=fake.base_url)}  # flood control on
    )
    bot = BotUnderTest(fake, config, matcher)
    await bot.start()
    return bot


async def test_a_429_is_waited_out_once_with_flood_control_on(
    tmp_path: Path, matcher: Matcher, fake: FakeTelegram
) -> None:
    bot = await running(tmp_path, matcher, fake)
    try:
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        fake.private_text(RESIDENT, ANSWERED)
        await fake.wait_sent("sendMessage", RESIDENT)
    finally:
        await bot.stop()
    first, second = sends(fake)
    # The limiter's halt and ReliableMessenger's wait run side by side: one second, not two.
    assert first.error is not None and second.error is None
    assert 1.0 <= second.arrived - first.at < 1.5
    assert fake.flood_violations == [] and "Mobile JKN" in text_of(second)


async def test_a_burst_of_1000_questions_from_500_residents_gets_every_reply_within_limits(
    tmp_path: Path, matcher: Matcher, fake: FakeTelegram
) -> None:
    residents = [30_000 + i for i in range(500)]
    bot = await running(tmp_path, matcher, fake)
    try:
        started = time.monotonic()
        for resident in residents:
            fake.private_text(resident, ANSWERED)
            fake.private_text(resident, SECOND)
        async with asyncio.timeout(180):
            while len(fake.sent("sendMessage")) < 2 * len(residents):
                await asyncio.sleep(0.25)
        elapsed = time.monotonic() - started
        await bot.idle()
    finally:
        await bot.stop()
    replies = fake.sent("sendMessage")
    for resident in residents:
        texts = [text_of(c) for c in replies if c.params["chat_id"] == resident]
        assert len(texts) == 2, (resident, texts)
        assert "Mobile JKN" in texts[0] and "Surat keterangan lahir" in texts[1]
    assert fake.flood_violations == [] and fake.flood_refused == []
    assert all(c.error is None for c in fake.calls), fake.summary()
    span = max(c.arrived for c in replies) - min(c.arrived for c in replies)
    print(
        f"\n1,000 questions: {len(replies)} replies in {elapsed:.1f} s, "
        f"{len(replies) / span:.1f} replies/s while sending"
    )
    # 30 a second allows no less than 33 s; well over a minute would mean needless waiting.
    assert elapsed < 60
