"""Matching in a process of its own (bot.match_worker): the same decisions as in the bot's
process, in order, after a reload too; and a worker that dies costs nothing but speed."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from bot.config import MatcherConfig
from bot.kb_cache import load_matcher
from bot.match_worker import MatchWorker, MatchWorkerGone
from bot.service import Service
from handlers.runtime import RUNTIME_KEY
from tests.bot_harness import BotUnderTest, running_bot
from tests.test_bot_flows import ANSWERED, SMALL_KB, SUGGESTED, UNKNOWN, ask, text_of
from tests.test_reload import NEW_ENTRY, reload

PUBLIC_CASES = Path(__file__).parents[2] / "shared" / "eval" / "public" / "cases.yaml"
OWN_CASES = Path(__file__).parent / "eval" / "holdout" / "cases.yaml"


def messages() -> list[str]:
    path = PUBLIC_CASES if PUBLIC_CASES.exists() else OWN_CASES
    return [str(case["q"]) for case in yaml.safe_load(path.read_text("utf-8"))]


async def test_the_worker_decides_exactly_as_the_matcher_in_order() -> None:
    matcher = load_matcher(Path("knowledge"), MatcherConfig(), None)
    texts = messages()
    worker = await MatchWorker.start(matcher)
    try:
        # All at once: answers come back in the order asked, each for its own question.
        results = await asyncio.gather(*(worker.match(text) for text in texts))
    finally:
        await worker.close()
    expected = [matcher.match(text) for text in texts]
    assert results == expected
    assert {r.decision for r in results} == {"answer", "suggest", "escalate", "smalltalk"}
    with pytest.raises(MatchWorkerGone):
        await worker.match("ktp")  # closed: the caller matches itself


def service_of(bot: BotUnderTest) -> Service:
    assert bot.app is not None
    service = bot.app.bot_data[RUNTIME_KEY].service
    assert isinstance(service, Service)
    return service


@pytest.fixture
async def bot(tmp_path: Path):
    folder = tmp_path / "knowledge"
    shutil.copytree(SMALL_KB, folder)
    matcher = load_matcher(folder, MatcherConfig(), None)
    async with running_bot(tmp_path, folder, matcher, match_worker=True) as running:
        yield running


async def test_the_bot_answers_through_the_worker_and_reloads_it(bot: BotUnderTest) -> None:
    worker = service_of(bot).match_worker
    assert worker is not None and worker.alive
    assert "Mobile JKN" in text_of((await ask(bot, ANSWERED))[0])
    assert "Ketik nomornya" in text_of((await ask(bot, SUGGESTED, user=2001))[0])
    assert "#1" in text_of((await ask(bot, UNKNOWN, user=2002))[0])

    dinkes = bot.config.knowledge.dir / "dinkes.yaml"
    dinkes.write_text(dinkes.read_text(encoding="utf-8") + NEW_ENTRY, encoding="utf-8")
    assert "dimuat ulang" in await reload(bot)
    fresh = await ask(bot, "ada kasus demam berdarah di kampung kami, harus bagaimana", user=2003)
    assert "fogging" in text_of(fresh[0])  # the worker matches with the new knowledge
    assert worker.alive


async def test_a_dead_worker_costs_speed_not_answers(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    service = service_of(bot)
    worker = service.match_worker
    assert worker is not None
    os.kill(worker._process.pid, signal.SIGKILL)
    await asyncio.wait_for(worker._process.wait(), 10)
    with caplog.at_level(logging.ERROR, logger="bot.match_worker"):
        assert "Mobile JKN" in text_of((await ask(bot, ANSWERED))[0])
        assert "#1" in text_of((await ask(bot, UNKNOWN, user=2002))[0])
    assert not worker.alive
    assert "event=match_worker_gone" in caplog.text
    # A new worker replaced it (at most once a minute), and it is the one used now.
    assert service._worker_restart is not None
    await asyncio.wait_for(service._worker_restart, 20)
    fresh = service.match_worker
    assert fresh is not None and fresh is not worker and fresh.alive
    assert "Ketik nomornya" in text_of((await ask(bot, SUGGESTED, user=2003))[0])


async def test_stopping_the_bot_ends_the_worker(tmp_path: Path) -> None:
    matcher = load_matcher(SMALL_KB, MatcherConfig(), None)
    async with running_bot(tmp_path, SMALL_KB, matcher, match_worker=True) as bot:
        worker = service_of(bot).match_worker
        assert worker is not None
        process = worker._process
        await bot.stop()
    assert process.returncode == 0, process.returncode  # it ended when its input closed, not killed
