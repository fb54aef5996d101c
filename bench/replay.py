"""Replay benchmark: the project's pipeline vs a naive Beam pipeline vs a plain-Python pass.

    .cache/venv/bin/python -m bench.replay --events 200000

Each variant runs in its own process over the same generated file, so peak memory (max RSS,
with its worker processes) is its own. `project` is the default run (one worker per core above
64 MB of input, else one); `project-1w` and `project-2w` fix the worker processes. Needs the Redis
of scripts/services.sh (the project's variants write to it).
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict

import apache_beam as beam
import redis
from apache_beam.transforms import trigger, window

from bench.common import measure, print_table, run_child
from bench.naive import add_event, stats_of
from spectator.core.generate import generate, write_jsonl
from spectator.core.model import parse_event
from spectator.core.stats import SessionStats, chains, merge

GAP_S = 1800
BOT_THRESHOLD = 100


class RawStatsFn(beam.CombineFn):
    """The naive combine: one raw event at a time into the same statistics."""

    def create_accumulator(self):
        return SessionStats()

    def add_input(self, acc, event):
        return add_event(acc, event, BOT_THRESHOLD)

    def merge_accumulators(self, accs):
        accs = list(accs)
        for other in accs[1:]:
            merge(accs[0], other, BOT_THRESHOLD)
        return accs[0]

    def extract_output(self, acc):
        return acc.count


def naive(path: str, full_trigger: bool = True) -> int:
    """Raw events -> Sessions -> CombinePerKey; with the project's trigger, or Beam's default one."""

    def stamp(line):
        event = parse_event(line)
        return beam.window.TimestampedValue((event.user_id, event), event.timestamp_ms / 1000)

    windowing = beam.WindowInto(window.Sessions(GAP_S))
    if full_trigger:
        windowing = beam.WindowInto(
            window.Sessions(GAP_S),
            trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
            allowed_lateness=3600,
            accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        )
    with beam.Pipeline() as p:
        (
            p
            | beam.io.ReadFromText(path)
            | beam.Map(stamp)
            | windowing
            | beam.CombinePerKey(RawStatsFn())
            | beam.Map(lambda kv: None)
        )
    return 0


def plain(path: str) -> int:
    by_user = defaultdict(list)
    with open(path, "rb") as f:
        for line in f:
            event = parse_event(line)
            by_user[event.user_id].append(event)
    sessions = 0
    for events in by_user.values():
        events.sort(key=lambda e: e.timestamp_ms)
        for begin, end in chains([e.timestamp_ms for e in events], GAP_S * 1000):
            stats_of(events[begin:end], BOT_THRESHOLD)
            sessions += 1
    return sessions


def project(path: str, redis_url: str, workers: int = 0) -> int:
    """The project's replay; workers 0 is its default (one per core above 64 MB of input)."""
    from spectator.pipeline.build import run
    from spectator.pipeline.options import parse_options

    flags = ["--input", path, "--redis-url", redis_url, "--gap-seconds", str(GAP_S), "--progress-every", "0"]
    run(parse_options([*flags, "--workers", str(workers)]))
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    ap.add_argument("--path", default="/tmp/spectator-bench.jsonl")
    ap.add_argument("--variants", default="project,project-1w,project-2w,naive,naive-default,plain")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    variants = {
        "project": lambda: project(args.path, args.redis_url),
        "project-1w": lambda: project(args.path, args.redis_url, workers=1),
        "project-2w": lambda: project(args.path, args.redis_url, workers=2),
        "naive": lambda: naive(args.path),
        "naive-default": lambda: naive(args.path, full_trigger=False),
        "plain": lambda: plain(args.path),
    }
    if args.child:
        return measure(variants[args.child])

    events = generate(max(args.events // 20, 1), seed=1)
    n = write_jsonl(args.path, (e for _, e in zip(range(args.events), events)))
    client = redis.Redis.from_url(args.redis_url)
    child_args = ["--path", args.path, "--redis-url", args.redis_url]
    results = {v: run_child("bench.replay", v, child_args, client.flushdb) for v in args.variants.split(",")}
    print_table("file replay on the DirectRunner (FnApiRunner)", n, results, base="naive-default")


if __name__ == "__main__":
    main()
