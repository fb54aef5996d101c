"""Backfill, stop and resume, and catch-up on the local Flink cluster, at 1, 2 and 4 subtasks over
4 partitions: each run must end equal to the reference sessionization, with nothing dropped late.

    scripts/services.sh up redis kafka flink
    eval "$(scripts/kafka.sh env)"; eval "$(scripts/flink.sh env)"
    .cache/venv/bin/python -m bench.flink_backfill --events 200000

  backfill   a new consumer group reads a topic of N events from 2026-01-01 (months old) from the
             earliest offset, in the order a producer sent them (5 % swapped with the next, 1 %
             held back 5 minutes): gap 1800 s, allowed lateness 3600 s
  stop       N events of the last hour (gap 1800 s: most sessions are open throughout); the job
             reads the first 60 %, `spectator flink stop` takes a savepoint, the other 40 % arrive
             while it is down, and `spectator run` resumes at another parallelism (1->2, 2->4, 4->1)
  cancel     the same with `spectator flink cancel` and a resume from the last retained checkpoint

Time: from the submission until every event is in Redis (sessions' event counts summed), and the
events read in that time per second; for stop and cancel, from the halt until the resumed job has
caught up (submission included), over the 40 % that arrived while it was down. A run that makes no
progress for 120 s is reported as stalled, with the job's late-drop counter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

import redis

from spectator.core.generate import generate
from spectator.flink.rest import FlinkRest
from spectator.io.kafka.admin import ensure_topic
from spectator.io.kafka.produce import disorder, produce
from spectator.io.redis.store import SessionStore
from tests.support.reference import reference_sessions
from tests.support.streams import difference, sessions

GAP_S = 1800
STALL_S = 120
RUNS = [("backfill", 1, 1), ("backfill", 2, 2), ("backfill", 4, 4), ("stop", 1, 2), ("stop", 2, 4), ("stop", 4, 1),
        ("cancel", 2, 1), ("cancel", 4, 2), ("cancel", 1, 4)]  # fmt: skip


def submit(topic: str, group: str, redis_url: str, prefix: str, parallelism: int) -> str:
    argv = [sys.executable, "-m", "spectator.cli", "run", "--runner", "FlinkRunner", "--bootstrap-servers",
            os.environ["SPECTATOR_KAFKA_BOOTSTRAP"], "--topic", topic, "--consumer-group", group, "--redis-url",
            redis_url, "--key-prefix", prefix, "--gap-seconds", str(GAP_S), "--allowed-lateness-seconds", "3600",
            "--early-firing-seconds", "5", "--checkpointing-interval", "5000", "--parallelism", str(parallelism),
            "--detach"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-2000:])
    return done.stdout.split()[-1]


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "spectator.cli", *args], check=True, capture_output=True, timeout=600)


def events_for(n: int, seed: int, recent: bool) -> list[dict]:
    events = [e for _, e in zip(range(n), generate(max(n // 20, 1), seed=seed, span_s=6 * 3600))]
    if recent:  # the same stream squeezed into the last hour
        first, last, now = events[0]["timestamp"], events[-1]["timestamp"], int(time.time() * 1000)
        for e in events:
            e["timestamp"] = now - 3_600_000 + (e["timestamp"] - first) * 3_600_000 // max(last - first, 1)
    return events


def send(topic: str, events: list[dict], seed: int) -> None:
    records = list(disorder(events, seed=seed, out_of_order=0.05, late=0.01, late_by_ms=300_000))
    produce(os.environ["SPECTATOR_KAFKA_BOOTSTRAP"], topic, records)


def wait_events(store: SessionStore, n: int) -> tuple[bool, int]:
    """Waits until n events are in Redis; (reached, events) once reached or stalled."""
    last, since = -1, time.monotonic()
    while True:
        now = store.stats()["events"]
        if now >= n:
            return True, now
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > STALL_S:
            return False, now
        time.sleep(0.5)


def one_run(kind: str, before: int, after: int, n: int, redis_url: str, seed: int) -> dict:
    rest = FlinkRest(os.environ.get("SPECTATOR_FLINK_MASTER", "127.0.0.1:8081"))
    tag = uuid.uuid4().hex[:8]
    topic, group, prefix = f"backfill-{tag}", f"backfill-{tag}", f"backfill-{tag}:"
    store = SessionStore(redis.Redis.from_url(redis_url), prefix)
    ensure_topic(os.environ["SPECTATOR_KAFKA_BOOTSTRAP"], topic, 4)
    events = events_for(n, seed, recent=kind != "backfill")
    first = events if kind == "backfill" else events[: len(events) * 6 // 10]
    send(topic, first, seed)
    started = time.monotonic()
    job = submit(topic, group, redis_url, prefix, before)
    halted = 0.0
    if kind != "backfill":
        reached, _ = wait_events(store, len(first))
        if not reached:
            raise RuntimeError(f"the first job stalled before reading the first {len(first):,} events")
        time.sleep(6)  # a checkpoint past them, for the cancel
        cli("flink", kind, job)
        send(topic, events[len(first) :], seed + 1)
        halted = time.monotonic()
        job = submit(topic, group, redis_url, prefix, after)
    reached, _ = wait_events(store, n)
    took = time.monotonic() - (halted or started)
    expected = reference_sessions(events, GAP_S * 1000, bot_threshold=100)
    got = sessions(store)
    dropped = int(rest.job_metrics(job).get("late_elements_dropped", 0))
    rest.cancel(job)
    rest.wait_for_state(job, {"CANCELED", "FAILED", "FINISHED"}, 60)
    return {
        "run": kind if kind == "backfill" else f"{kind} {before}->{after}",
        "parallelism": before if kind == "backfill" else after,
        "events": n,
        "seconds": round(took, 1),
        "rate": round((n - (len(first) if halted else 0)) / took) if reached else None,
        "equal": got == expected,
        "difference": "" if got == expected else difference(got, expected),
        "stalled": not reached,
        "late_dropped": dropped,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", default="all", help="backfill, stop, cancel, or all")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    args = ap.parse_args()
    results = []
    for kind, before, after in RUNS:
        if args.runs in ("all", kind):
            results.append(one_run(kind, before, after, args.events, args.redis_url, args.seed))
            print(json.dumps(results[-1]), flush=True)
    print(f"\n{args.events:,} events, 4 partitions; load average {os.getloadavg()[0]:.2f} at the end")
    print("| run | subtasks | seconds | events/s | vs reference | late dropped |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for r in results:
        rate = f"{r['rate']:,}" if r["rate"] else f"stalled at {STALL_S} s"
        verdict = "equal" if r["equal"] else r["difference"][:120]
        print(f"| {r['run']} | {r['parallelism']} | {r['seconds']} | {rate} | {verdict} | {r['late_dropped']} |")


if __name__ == "__main__":
    main()
