"""Streaming benchmark on the local Flink cluster: throughput, latency and TaskManager memory.

    scripts/services.sh up redis kafka flink
    eval "$(scripts/kafka.sh env)"; eval "$(scripts/flink.sh env)"
    .cache/venv/bin/python -m bench.flink_stream --events 200000

1. Throughput. N seeded events (3,000 users an N/85k share, stamped over the last minutes) wait in
   a 2-partition topic; each job reads them from the start, with early panes every second.
   Sustained events/s is the rate at which events appear in Redis (the sum over stored sessions)
   between 10% and 90% of the backlog: end to end, read, sessionized and written. Every event
   must reach Redis.
   The project's job and a naive one (raw events into the same Sessions, trigger and CombinePerKey,
   without the per-bundle fold) run on the same cluster, one after the other.
2. Latency. The project's job reads a live stream at a steady rate (event time = send time); every
   20th event's latency is the time from its send to the first pane write in Redis that holds it.
3. Memory. The TaskManager's heap (after a full GC) and metaspace after each job, and after more
   short jobs in a row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import time
import uuid

import apache_beam as beam
import redis
from apache_beam.transforms import trigger, window

from bench.common import PaneWrites, live_stream
from bench.kafka_replay import plain
from bench.naive import add_event
from services import FlinkCluster
from spectator.core.generate import generate
from spectator.core.stats import SessionStats, merge
from spectator.flink import submit
from spectator.flink.rest import FlinkRest
from spectator.io.kafka.admin import ensure_topic
from spectator.io.kafka.produce import produce
from spectator.io.redis.store import SessionStore
from spectator.io.redis.write import WriteDeadLettersToRedis, WriteSessionsToRedis
from spectator.pipeline.options import SpectatorOptions, lateness_and_early_firing, parse_options
from spectator.pipeline.read import ReadClickEvents
from spectator.transforms.parse import ParseEvents
from spectator.transforms.sessionize import ToRecordDoFn

GAP_S = 30  # the generator's 30 min gaps, 60 times faster
SPEEDUP = 60


class RawStatsFn(beam.CombineFn):
    """The naive combine: one raw event at a time into the same statistics."""

    def __init__(self, bot_threshold: int):
        self.bot_threshold = bot_threshold

    def create_accumulator(self) -> SessionStats:
        return SessionStats()

    def add_input(self, acc: SessionStats, event) -> SessionStats:
        return add_event(acc, event, self.bot_threshold)

    def merge_accumulators(self, accs) -> SessionStats:
        accs = list(accs)
        for other in accs[1:]:
            merge(accs[0], other, self.bot_threshold)
        return accs[0]

    def extract_output(self, acc: SessionStats) -> SessionStats:
        return acc


def naive_build(p: beam.Pipeline, options) -> None:
    opts = options.view_as(SpectatorOptions)
    redis_args = dict(redis_url=opts.redis_url, prefix=opts.key_prefix)
    parsed = p | "ReadClickEvents" >> ReadClickEvents(opts, True) | "ParseEvents" >> ParseEvents()
    parsed.dead_letters | "WriteDeadLetters" >> WriteDeadLettersToRedis(**redis_args)
    lateness, early_s = lateness_and_early_firing(opts, streaming=True)
    early = trigger.AfterProcessingTime(early_s)
    (
        parsed.events
        | "KeyByUser" >> beam.Map(lambda e: (e.user_id, e))
        | "SessionWindows"
        >> beam.WindowInto(
            window.Sessions(opts.gap_seconds),
            trigger=trigger.AfterWatermark(early=early, late=trigger.AfterCount(1)),
            allowed_lateness=lateness,
            accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        )
        | "SessionStats" >> beam.CombinePerKey(RawStatsFn(opts.bot_threshold))
        | "ToSessionRecord" >> beam.ParDo(ToRecordDoFn())
        | "WriteSessions" >> WriteSessionsToRedis(**redis_args)
    )


def start_job(
    topic: str, redis_url: str, build_fn=None, early_s: int = 10, extra: list[str] = ()
) -> tuple[FlinkRest, str]:
    argv = ["--runner", "FlinkRunner", "--bootstrap-servers", os.environ["SPECTATOR_KAFKA_BOOTSTRAP"],
            "--topic", topic, "--consumer-group", f"bench-{uuid.uuid4().hex[:8]}", "--redis-url", redis_url,
            "--gap-seconds", str(GAP_S), "--allowed-lateness-seconds", "3600", "--early-firing-seconds",
            str(early_s), "--detach", *extra]  # fmt: skip
    options = parse_options(argv)
    rest = submit.prepare(options)
    job = submit.submit(options, rest, build_fn or submit.build)
    return rest, job.job_id


def backlog_topic(n: int, partitions: int) -> tuple[str, int]:
    """A topic holding n generated events stamped over the minutes up to now; returns (topic, n)."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topic(os.environ["SPECTATOR_KAFKA_BOOTSTRAP"], topic, partitions)
    events = [e for _, e in zip(range(n), generate(max(n * 3000 // 85_000, 1), seed=1))]
    first, now = events[0]["timestamp"], int(time.time() * 1000)
    span = (events[-1]["timestamp"] - first) // SPEEDUP
    records = []
    for e in events:
        e["timestamp"] = now - span + (e["timestamp"] - first) // SPEEDUP
        records.append((e["user_id"], json.dumps(e).encode(), e["timestamp"]))
    return topic, produce(os.environ["SPECTATOR_KAFKA_BOOTSTRAP"], topic, records)


def throughput(label: str, topic: str, n: int, redis_url: str, build_fn=None) -> dict:
    """Events/s from the first event in Redis to the last: early panes every second show each
    event within about a second of its processing (Flink's REST metrics lag up to 10 s)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    rest, job = start_job(topic, redis_url, build_fn, early_s=1)
    store = SessionStore(client)
    deadline = time.monotonic() + 1800
    samples = []
    try:
        while time.monotonic() < deadline:
            samples.append((time.monotonic(), store.stats()["events"]))
            if samples[-1][1] >= n or stalled(samples):
                break
            time.sleep(0.25)
        figures = job_figures(rest, job)
    finally:
        stop(rest, job)
    (t10, c10), (t90, c90) = _at(samples, 0.1 * n), _at(samples, 0.9 * n)
    rate = (c90 - c10) / (t90 - t10) if t90 > t10 else float("nan")  # a small backlog lands at once
    written = samples[-1][1]
    memory = taskmanager_memory(rest)
    print(f"  {label}: {rate:,.0f} events/s sustained; {written:,} of {n:,} events in Redis; {figures_line(figures)}",
          flush=True)  # fmt: skip
    return {"rate": rate, "written": written, **memory, **figures}


def stalled(samples: list[tuple[float, int]], stall_s: float = 120) -> bool:
    """No new event in Redis for stall_s."""
    last = samples[-1]
    return next((t for t, c in samples if c == last[1]), last[0]) < last[0] - stall_s


def job_figures(rest: FlinkRest, job: str) -> dict:
    """What the job itself says: its checkpoints' durations, the late elements it dropped, and the
    most backpressured step (read while it runs: a job short of events shows here why)."""
    checkpoints = rest.checkpoints(job)
    durations = checkpoints.get("summary", {}).get("end_to_end_duration", {})
    levels = {}
    for vertex in rest.job(job).get("vertices", []):
        pressure = rest.get(f"/jobs/{job}/vertices/{vertex['id']}/backpressure")
        levels[vertex["name"][:40]] = pressure.get("backpressureLevel", "?")
    return {
        "ckpts": checkpoints.get("counts", {}).get("completed", 0),
        "ckpt_avg_ms": durations.get("avg", 0),
        "ckpt_max_ms": durations.get("max", 0),
        "late_dropped": int(rest.job_metrics(job).get("late_elements_dropped", 0)),
        "backpressured": sorted(name for name, level in levels.items() if level in ("low", "high")),
    }


def figures_line(f: dict) -> str:
    pressed = ", ".join(f["backpressured"]) or "none"
    return (f"{f['ckpts']} checkpoints, {f['ckpt_avg_ms']:.0f} ms on average, {f['ckpt_max_ms']} at most; "
            f"late elements dropped {f['late_dropped']}; backpressured: {pressed}")  # fmt: skip


def stop(rest: FlinkRest, job: str) -> None:
    rest.cancel(job)
    rest.wait_for_state(job, {"CANCELED", "FAILED"}, 60)


def _at(samples: list[tuple[float, float]], count: float) -> tuple[float, float]:
    """The first sample at or above `count`."""
    return next(s for s in samples if s[1] >= count)


def latency(redis_url: str, rate: float, seconds: float, partitions: int, early_s: int) -> dict:
    """Latency from send to the first Redis write of a pane holding the event, every 20th event."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    topic = f"bench-live-{uuid.uuid4().hex[:8]}"
    bootstrap = os.environ["SPECTATOR_KAFKA_BOOTSTRAP"]
    ensure_topic(bootstrap, topic, partitions)
    rest, job = start_job(topic, redis_url, early_s=early_s)
    writes: dict[str, list[tuple[int, int, int]]] = {}  # user -> [(written_ms, start_ms, end_ms)]

    def on_write(written_ms: int, f: dict) -> None:
        writes.setdefault(f[b"user_id"].decode(), []).append((written_ms, int(f[b"start_ms"]), int(f[b"end_ms"])))

    follower = PaneWrites(client, on_write)
    records: list[tuple[str, bytes, int]] = []
    try:
        sent = live_stream(bootstrap, topic, rate, seconds, records, users=3000)
        time.sleep(early_s * 3 + 10)
    finally:
        follower.stop()
        stop(rest, job)
    sampled = [(user, t) for user, _, t in records[::20]]
    lat = []
    for user, t in sampled:
        seen = [w for w, start, end in writes.get(user, []) if start <= t <= end]
        if seen:
            lat.append(min(seen) - t)
    memory = taskmanager_memory(rest)
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    result = {"sent": sent, "sampled": len(sampled), "seen": len(lat), "p50_ms": q[49], "p99_ms": q[98], **memory}
    print(f"  latency at {rate:,.0f} events/s: p50 {q[49] / 1000:.1f}s p99 {q[98] / 1000:.1f}s", flush=True)
    return result


def taskmanager_memory(rest: FlinkRest) -> dict:
    """Heap and metaspace the TaskManager uses: after a full GC (jcmd) when it runs on this
    machine, else as its REST metrics last reported them."""
    taskmanager = FlinkCluster().process("taskmanager").pid()
    if taskmanager:
        pid = str(taskmanager)
        subprocess.run(["jcmd", pid, "GC.run"], capture_output=True, check=True)
        info = subprocess.run(["jcmd", pid, "GC.heap_info"], capture_output=True, text=True, check=True).stdout
        heap = re.search(r"heap\s+total \d+K, used (\d+)K", info)
        meta = re.search(r"Metaspace\s+used (\d+)K", info)
        return {"heap_mb": int(heap[1]) / 1024, "metaspace_mb": int(meta[1]) / 1024}
    tm = rest.get("/taskmanagers")["taskmanagers"][0]["id"]
    names = "Status.JVM.Memory.Heap.Used,Status.JVM.Memory.Metaspace.Used"
    for _ in range(60):  # the JobManager fetches TaskManager metrics every 10 s
        values = {m["id"]: float(m["value"]) for m in rest.get(f"/taskmanagers/{tm}/metrics?get={names}")}
        if len(values) == 2:
            break
        time.sleep(0.5)
    return {
        "heap_mb": values["Status.JVM.Memory.Heap.Used"] / 2**20,
        "metaspace_mb": values["Status.JVM.Memory.Metaspace.Used"] / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    ap.add_argument("--live-rate", type=float, default=5000, help="events/s of the latency run")
    ap.add_argument("--live-seconds", type=float, default=60)
    ap.add_argument("--early-firing-seconds", type=int, default=10)
    ap.add_argument("--more-jobs", type=int, default=4, help="short jobs after the others, for memory")
    args = ap.parse_args()

    topic, n = backlog_topic(args.events, args.partitions)
    print(f"{n:,} events in {topic} ({args.partitions} partitions); {os.cpu_count()} cores", flush=True)
    jobs = [("project", throughput("project", topic, n, args.redis_url))]
    jobs.append(("naive", throughput("naive", topic, n, args.redis_url, naive_build)))
    redis.Redis.from_url(args.redis_url).flushdb()
    started = time.perf_counter()
    plain(os.environ["SPECTATOR_KAFKA_BOOTSTRAP"], topic, n, args.redis_url, GAP_S)
    plain_rate = n / (time.perf_counter() - started)
    print(f"  plain kafka-python pass: {plain_rate:,.0f} events/s", flush=True)
    jobs.append(("latency", latency(args.redis_url, args.live_rate, args.live_seconds, args.partitions,
                                    args.early_firing_seconds)))  # fmt: skip
    small, small_n = backlog_topic(5_000, args.partitions)
    for i in range(args.more_jobs):
        short = throughput(f"short {i + 1}", small, small_n, args.redis_url)
        jobs.append((f"short {i + 1}", {k: v for k, v in short.items() if k != "rate"}))

    project, naive = jobs[0][1], jobs[1][1]
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    header = ("events/s", 12), ("vs naive", 10), ("in Redis", 12), ("p50 s", 8), ("p99 s", 8), ("heap MB", 9)
    print(f"{'job':<12}" + "".join(f"{h:>{w}}" for h, w in header) + f"{'meta MB':>9}")
    for name, r in jobs:
        rate = f"{r['rate']:,.0f}" if "rate" in r else "-"
        ratio = f"{r['rate'] / naive['rate']:.1f}x" if "rate" in r and name in ("project", "naive") else ""
        written = f"{r['written']:,}" if "written" in r else f"{r['seen']}/{r['sampled']}"
        p50 = f"{r['p50_ms'] / 1000:.1f}" if "p50_ms" in r else ""
        p99 = f"{r['p99_ms'] / 1000:.1f}" if "p99_ms" in r else ""
        print(
            f"{name:<12}{rate:>12}{ratio:>10}{written:>12}{p50:>8}{p99:>8}{r['heap_mb']:>9.0f}{r['metaspace_mb']:>9.0f}"
        )
    print(f"project/naive: {project['rate'] / naive['rate']:.2f}x; project/plain: {project['rate'] / plain_rate:.2f}x "
          f"(plain: one kafka-python process reads the whole backlog, sessionizes it and writes with the same Lua, "
          f"{plain_rate:,.0f} events/s)")  # fmt: skip


if __name__ == "__main__":
    main()
