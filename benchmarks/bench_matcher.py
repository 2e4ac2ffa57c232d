"""Matcher benchmark: load time, peak RSS and per-question latency at 100 / 1,000 / 10,000 entries.

Run from the repository root:

    python benchmarks/bench_matcher.py            # all sizes, markdown table on stdout
    python benchmarks/bench_matcher.py --sizes 10000 --rounds 5

The cold load validates and compiles, cache write included; the warm load reads the compiled
cache that a restart with unchanged files uses. Each size runs three times, each in its own child
process pinned to one core; the row is the run with the median cold load (this machine's speed
varies), so its peak RSS is that of one process that loaded once.
The knowledge base is the bundled sample scaled up synthetically: copies of every OPD with entry
texts varied by made-up place and programme names, written to real YAML files so load time
includes parsing and validation. Questions are the residents' messages of the public development
set and the holdout set, each asked `--rounds` times.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "knowledge"
CASE_FILES = [
    ROOT.parent / "shared" / "eval" / "public" / "cases.yaml",
    ROOT / "tests" / "eval" / "holdout" / "cases.yaml",
]
SYLLABLES = [
    "ka",
    "ma",
    "ri",
    "su",
    "to",
    "lan",
    "jaya",
    "sari",
    "bu",
    "ngin",
    "pa",
    "te",
    "wi",
    "ro",
]


def made_up_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def build_kb(size: int, folder: Path) -> None:
    """Write `size` entries: the sample's OPDs copied and varied until the count is reached."""
    rng = random.Random(size)
    sources = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(SAMPLE.glob("*.yaml"))]
    written = 0
    copy = 0
    while written < size:
        for source in sources:
            if written >= size:
                break
            opd = dict(source["opd"])
            opd["id"] = f"{opd['id']}-{copy}"
            entries = []
            for entry in source["entries"]:
                if written >= size:
                    break
                place = made_up_word(rng)
                programme = made_up_word(rng)
                varied = dict(entry)
                varied["questions"] = [
                    f"{q.rstrip('?')} di {place} untuk program {programme}?"
                    for q in entry["questions"]
                ]
                varied["answer"] = f"{entry['answer']}\nBerlaku untuk warga {place} ({programme})."
                entries.append(varied)
                written += 1
            if entries:
                doc = {"opd": opd, "entries": entries}
                (folder / f"{opd['id']}.yaml").write_text(
                    yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8"
                )
        copy += 1


def questions() -> list[str]:
    out: list[str] = []
    for path in CASE_FILES:
        if path.exists():
            out.extend(str(c["q"]) for c in yaml.safe_load(path.read_text(encoding="utf-8")))
    return out


def run_one(size: int, rounds: int) -> dict[str, float]:
    from bot.config import MatcherConfig
    from bot.kb_cache import load_matcher

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "knowledge"
        folder.mkdir()
        build_kb(size, folder)
        # Cold: validate the YAML and compile the matcher (first start, or files changed).
        # One per process, so the peak RSS is that of a bot that loaded once.
        cache = Path(tmp) / "cache"
        start = time.perf_counter()
        matcher = load_matcher(folder, MatcherConfig(), cache)
        load_seconds = time.perf_counter() - start
        del matcher
        gc.collect()
        # Warm: a restart with unchanged files reads the compiled cache.
        start = time.perf_counter()
        matcher = load_matcher(folder, MatcherConfig(), cache)
        warm_seconds = time.perf_counter() - start
        kb = matcher.kb
    asked = questions()
    for q in asked[:50]:  # warm caches as a running bot would have them
        matcher.match(q)
    timings: list[float] = []
    for _ in range(rounds):
        for q in asked:
            t0 = time.perf_counter_ns()
            matcher.match(q)
            timings.append((time.perf_counter_ns() - t0) / 1e6)
    timings.sort()
    return {
        "entries": len(kb.entries),
        "questions": len(timings),
        "load_s": load_seconds,
        "warm_s": warm_seconds,
        "p50_ms": timings[len(timings) // 2],
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
        "max_ms": timings[-1],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(json.dumps(run_one(args.child, args.rounds)))
        return
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    rows = []
    for size in args.sizes:
        # Three child processes per size; report the median cold load (this machine's speed
        # varies) and the rest from that same run.
        runs = []
        for _ in range(3):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(size), "--rounds", str(args.rounds)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
            )
            runs.append(json.loads(out.stdout))
        rows.append(sorted(runs, key=lambda r: r["load_s"])[1])
    print(
        "| entries | questions timed | cold load (s) | warm load (s) | p50 (ms) | p99 (ms) "
        "| max (ms) | peak RSS (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['entries']:,} | {r['questions']:,} | {r['load_s']:.2f} | {r['warm_s']:.2f} "
            f"| {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['max_ms']:.2f} "
            f"| {r['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
