"""End-to-end bot benchmark: questions per second, and the delay the bot adds at a fixed rate.

Run from the repository root:

    python benchmarks/bench_bot.py                 # 3,000-question burst, then 50/s for 20 s
    python benchmarks/bench_bot.py --quick         # a short smoke run

The bot runs as a real `tanya run` process (long polling, the bundled knowledge base, SQLite on
disk in a temporary folder) against the fake Bot API of the tests, which this process hosts on
127.0.0.1 together with the load generator. The bot's process and its matching process
(bot.match_worker) share the two cores with this one, which in production (Telegram is
elsewhere) they would not: the figures are on the safe side. The first burst comes from new
residents, the second from the same residents again, one question each at a time, so a reply
maps to its question; a question is handled when the fake records the bot's first message to
that resident after it.

Flood control (`telegram.rate_limiter`) is switched off here: with it on, Telegram's own limit of
about 30 messages per second caps any bot, and the figure would measure Telegram, not tanya.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_telegram import TOKEN, Call, FakeTelegram  # noqa: E402

ADMIN_CHAT = -1001234567890
CASE_FILES = [
    ROOT.parent / "shared" / "eval" / "public" / "cases.yaml",
    *sorted((ROOT / "tests" / "eval").glob("*/cases.yaml")),
]


def questions() -> list[str]:
    found: list[str] = []
    for path in CASE_FILES:
        if path.exists():
            found += [str(c["q"]) for c in yaml.safe_load(path.read_text("utf-8")) if c.get("q")]
    return found


class Replies:
    """Time of the first bot message to each resident since its question, recorded as the fake
    records calls. `ask` starts a new question for a resident: a returning resident's earlier
    replies do not count for it."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.first: dict[int, float] = {}
        self._asked: set[int] = set()
        self.event = asyncio.Event()
        original = fake._record

        def record(call: Call) -> None:
            original(call)
            chat = call.params.get("chat_id")
            sent = call.method == "sendMessage" and call.error is None
            if sent and chat in self._asked and chat not in self.first:
                self.first[chat] = call.at
                self.event.set()

        fake._record = record  # type: ignore[method-assign]

    def ask(self, user: int) -> None:
        self.first.pop(user, None)
        self._asked.add(user)

    async def wait(self, users: set[int], timeout: float) -> set[int]:
        """Wait until every user got a reply; return those still without one."""
        deadline = time.monotonic() + timeout
        while True:
            missing = {u for u in users if u not in self.first}
            if not missing or time.monotonic() > deadline:
                return missing
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), 0.5)


def quiet_collector() -> None:
    """Freeze this process's heap before a measured phase. The fake keeps every call it
    recorded; a full collection over them paused this process for 120-180 ms, and replies
    arriving meanwhile were timed late: a stall of the benchmark, not of the bot."""
    gc.collect()
    gc.freeze()


def write_config(folder: Path, base_url: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "knowledge": {"dir": str(ROOT / "knowledge"), "cache_dir": str(folder / "cache")},
                "storage": {"path": str(folder / "tanya.sqlite3")},
                "telegram": {"api_base_url": base_url, "rate_limiter": False},
                "admin": {"chat_id": ADMIN_CHAT},
            }
        ),
        encoding="utf-8",
    )
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its children (the matching process,
    bot.match_worker), from Linux /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(burst: int, rate: float, seconds: float) -> int:
    texts = questions()
    next_user = iter(range(10_000_000, 20_000_000))
    async with FakeTelegram() as fake:
        replies = Replies(fake)
        with tempfile.TemporaryDirectory(prefix="tanya-bench-") as tmp:
            config = write_config(Path(tmp), fake.base_url)
            env = {**os.environ, "TANYA_TELEGRAM_TOKEN": TOKEN}
            bot = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "handlers.cli",
                "run",
                "--config",
                str(config),
                "--log-level",
                "WARNING",
                cwd=ROOT,
                env=env,
            )
            try:
                await fake.wait_sent("deleteWebhook", timeout=60)

                async def ask_many(
                    count: int, who: list[int] | None = None
                ) -> tuple[set[int], float, float]:
                    users = set()
                    start = time.monotonic()
                    for i in range(count):
                        user = who[i] if who else next(next_user)
                        users.add(user)
                        replies.ask(user)
                        fake.private_text(
                            user, texts[(i + 7) % len(texts)] if who else texts[i % len(texts)]
                        )
                    missing = await replies.wait(users, timeout=120)
                    end = max(
                        (replies.first[u] for u in users if u in replies.first), default=start
                    )
                    return missing, start, end

                await ask_many(100)  # warm-up: connections, caches
                await asyncio.sleep(1)
                quiet_collector()
                cpu_before = cpu_seconds(bot.pid)
                missing, start, end = await ask_many(burst)
                throughput = (burst - len(missing)) / (end - start)
                cpu_per_question = (cpu_seconds(bot.pid) - cpu_before) / burst * 1000
                await asyncio.sleep(2)
                # The same residents ask again: a returning resident costs lookups a new one
                # skips (an open ticket to join, a pending choice to answer).
                missing_again, start, end = await ask_many(burst, sorted(replies._asked)[-burst:])
                returning = (burst - len(missing_again)) / (end - start)
                await asyncio.sleep(2)
                quiet_collector()

                pushed: dict[int, float] = {}
                interval = 1.0 / rate
                t0 = time.monotonic()
                n = 0
                while (now := time.monotonic()) - t0 < seconds:
                    due = t0 + n * interval
                    if now < due:
                        await asyncio.sleep(due - now)
                    user = next(next_user)
                    replies.ask(user)
                    pushed[user] = time.monotonic()
                    fake.private_text(user, texts[n % len(texts)])
                    n += 1
                late = await replies.wait(set(pushed), timeout=60)
                delays = sorted(
                    (replies.first[u] - t) * 1000 for u, t in pushed.items() if u in replies.first
                )
                rss = peak_rss_mb(bot.pid)
                children = Path(f"/proc/{bot.pid}/task/{bot.pid}/children").read_text().split()
                worker_rss = sum(peak_rss_mb(int(child)) for child in children)
            finally:
                bot.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(bot.wait(), timeout=60)

    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; command: python benchmarks/bench_bot.py "
        f"--burst {burst} --rate {rate:g} --seconds {seconds:g}\n"
    )
    print("| measure | value |\n|---|---:|")
    print(f"| burst of {burst:,} questions: handled per second | {throughput:,.0f} |")
    print(f"| burst: questions without a reply | {len(missing)} |")
    print(f"| the same {burst:,} residents again: handled per second | {returning:,.0f} |")
    print(f"| returning burst: questions without a reply | {len(missing_again)} |")
    print(
        f"| burst: bot CPU per question, its matching process included (ms) | "
        f"{cpu_per_question:.2f} |"
    )
    print(
        f"| at {rate:g} questions/s for {seconds:g} s ({len(pushed):,} questions): p50 delay "
        f"(ms) | {statistics.median(delays):.1f} |"
    )
    print(f"| p99 delay (ms) | {p99:.1f} |")
    print(f"| max delay (ms) | {delays[-1]:.1f} |")
    print(f"| fixed rate: questions without a reply | {len(late)} |")
    print(f"| bot process peak RSS (MB) | {rss:.0f} |")
    print(f"| matching process peak RSS (MB) | {worker_rss:.0f} |")
    print(f"| exit code after SIGTERM | {code} |")
    return 1 if missing or missing_again or late or code != 0 else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="300-question burst, 5 s at rate")
    args = parser.parse_args()
    if args.quick:
        args.burst, args.seconds = 300, 5.0
    sys.exit(asyncio.run(run(args.burst, args.rate, args.seconds)))


if __name__ == "__main__":
    main()
