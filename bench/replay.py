"""Replay benchmark: `spectator run` vs a naive Beam pipeline vs a plain-Python pass, each a whole process.

    .cache/venv/bin/python -m bench.replay --events 200000 [--shuffle]

Each variant runs as a process of its own over the same generated file and is timed from spawn to
exit, as a user would time it: imports, start-up and shutdown included. Its peak memory is its own
(PeakRss of its process tree, worker processes included).

- project: `spectator run --input FILE --redis-url URL --gap-seconds 1800`, as a user runs it (one
  worker per core above 64 MB of input, else one); project-1w and project-2w add `--workers 1|2`.
- naive, naive-default: the naive Beam pipeline, `python -m bench.naive naive|naive-default FILE`.
- plain: the plain-Python single pass, `python -m bench.naive plain FILE`.

"pipeline s" is what each says its own work took: `spectator run` prints the time of its pipeline,
bench/naive.py times its work after the imports. The ratios are of the whole-process times.

The workload (spectator.core.generate) comes in time order; with --shuffle the same events are
written in a seeded random order, to a file of their own. After each project variant, what it
stored in Redis is checked against the plain pass's sessions. Needs the Redis of scripts/services.sh.

`--child VARIANT` runs one variant inside this process, timed from within (bench/scaling.py uses it).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

import orjson
import redis

from bench.common import measure, run_process
from bench.naive import GAP_S, VARIANTS, plain_sessions
from spectator.core.generate import generate, write_jsonl
from spectator.io.redis.store import SessionStore

SHUFFLE_SEED = 1
PROJECT_WORKERS = {"project": None, "project-1w": 1, "project-2w": 2}
# What `spectator run` says of its pipeline: "replayed 1,000,000 events in 8.1s (...)".
PIPELINE_SECONDS = re.compile(r"replayed [\d,]+ events in ([\d.]+)s")
BASES = ("naive-default", "plain")  # every variant's whole-process time is compared with theirs


def project(path: str, redis_url: str, workers: int = 0) -> int:
    """The project's replay inside this process; workers 0 is its default (one per core above 64 MB)."""
    from spectator.pipeline.build import run
    from spectator.pipeline.options import parse_options

    flags = ["--input", path, "--redis-url", redis_url, "--gap-seconds", str(GAP_S), "--progress-every", "0"]
    run(parse_options([*flags, "--workers", str(workers)]))
    return 0


def command(variant: str, path: str, redis_url: str) -> list[str]:
    """The variant as a process of its own: for the project, the command a user types."""
    if variant in PROJECT_WORKERS:
        spectator = Path(sys.executable).with_name("spectator")  # the console script beside this Python
        cmd = [str(spectator), "run", "--input", path, "--redis-url", redis_url, "--gap-seconds", str(GAP_S)]
        workers = PROJECT_WORKERS[variant]
        return cmd if workers is None else [*cmd, "--workers", str(workers)]
    return [sys.executable, "-m", "bench.naive", variant, path]


def pipeline_seconds(variant: str, stdout: str) -> float:
    if variant in PROJECT_WORKERS:
        return float(PIPELINE_SECONDS.search(stdout)[1])
    return orjson.loads(stdout.strip().splitlines()[-1])["seconds"]


def write_workload(path: str, events: int, shuffle: bool) -> int:
    generated = [e for _, e in zip(range(events), generate(max(events // 20, 1), seed=1))]
    if shuffle:
        random.Random(SHUFFLE_SEED).shuffle(generated)
    return write_jsonl(path, iter(generated))


def shuffled_path(path: str) -> str:
    root, ext = os.path.splitext(path)
    return f"{root}-shuffled{ext}"


def expected_sessions(path: str) -> list[tuple]:
    """The plain pass's sessions, in the form stored_sessions gives."""
    rows = []
    for user, s in plain_sessions(path):
        types = tuple(sorted(s.types.items()))
        rows.append((user, s.start_ms, s.end_ms, s.count, len(s.pages), s.entry_page, s.exit_page, types,
                     s.count == 1, s.is_bot))  # fmt: skip
    return sorted(rows)


def stored_sessions(redis_url: str) -> list[tuple]:
    store = SessionStore(redis.Redis.from_url(redis_url))
    users = store.users()
    rows = []
    for chunk in range(0, len(users), 2000):
        pipe = store.client.pipeline(transaction=False)
        for user in users[chunk : chunk + 2000]:
            pipe.hvals(store.keys.sessions(user))
        for stored in pipe.execute():
            for raw in stored:
                r = orjson.loads(raw)
                rows.append((r["user_id"], r["start_ms"], r["end_ms"], r["event_count"], r["distinct_pages"],
                             r["entry_page"], r["exit_page"], tuple(sorted(r["event_types"].items())),
                             r["is_bounce"], r["is_bot"]))  # fmt: skip
                if r["duration_ms"] != r["end_ms"] - r["start_ms"]:
                    sys.exit(f"stored session with a wrong duration: {raw}")
    return sorted(rows)


SPEED_CHECK = "s = 0\nfor i in range(20_000_000):\n    s += i\n"


def speed_check() -> float:
    """The seconds of a fixed loop at module level (globals, as `python3 -c` runs it): about 1.3 s
    on this machine at full speed. Load from elsewhere shows here before it shows in the figures."""
    started = time.perf_counter()
    exec(SPEED_CHECK, {})
    return time.perf_counter() - started


def print_results(title: str, events: int, results: dict[str, dict]) -> None:
    print(title)
    print(f"{'variant':<14}{'process s':>10}{'pipeline s':>11}{'outside s':>10}{'events/s':>10}{'peak MB':>8}"
          f"{'vs naive-default':>17}{'vs plain':>9}")  # fmt: skip
    for variant, r in results.items():
        ratios = [results[b]["seconds"] / r["seconds"] if b in results else float("nan") for b in BASES]
        print(
            f"{variant:<14}{r['seconds']:>10.1f}{r['pipeline_s']:>11.1f}{r['seconds'] - r['pipeline_s']:>10.1f}"
            f"{events / r['seconds']:>10,.0f}{r['peak_mb']:>8.0f}{ratios[0]:>16.1f}x{ratios[1]:>8.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--shuffle", action="store_true", help="the same events in a seeded random order")
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    ap.add_argument("--path", default="/tmp/spectator-bench.jsonl", help="with --shuffle, -shuffled is added")
    ap.add_argument("--variants", default="project,project-1w,project-2w,naive,naive-default,plain")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        if args.child in PROJECT_WORKERS:
            return measure(lambda: project(args.path, args.redis_url, PROJECT_WORKERS[args.child] or 0))
        return measure(lambda: VARIANTS[args.child](args.path))

    path = shuffled_path(args.path) if args.shuffle else args.path
    n = write_workload(path, args.events, args.shuffle)
    client = redis.Redis.from_url(args.redis_url)
    variants = args.variants.split(",")
    expected = expected_sessions(path) if any(v in PROJECT_WORKERS for v in variants) else None
    load_before, speed = os.getloadavg()[0], speed_check()
    results = {}
    for variant in variants:
        r = run_process(command(variant, path, args.redis_url), client.flushdb)
        results[variant] = {**r, "pipeline_s": pipeline_seconds(variant, r["stdout"])}
        if variant in PROJECT_WORKERS and stored_sessions(args.redis_url) != expected:
            sys.exit(f"{variant}: the sessions stored in Redis differ from the plain pass's")
    workload = f"{'shuffled' if args.shuffle else 'ordered'} ({path})"
    print_results(
        f"{n:,} events, {workload}, {os.cpu_count()} cores; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} at the end; speed check {speed:.2f} s (about 1.3 at full speed); "
        f"each variant a whole process; stored sessions checked against plain: "
        f"{'yes' if expected is not None else 'no project variant'}",
        n,
        results,
    )


if __name__ == "__main__":
    main()
