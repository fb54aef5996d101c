"""The project against its peers: one table, one run, one topic (issue 11, item 1).

    scripts/services.sh up redis kafka flink
    eval "$(scripts/kafka.sh env)"; eval "$(scripts/flink.sh env)"
    .cache/bench-venv/bin/python -m bench.peers --events 1000000 --redis-url redis://127.0.0.1:6390/7

N seeded events (spectator.core.generate, users = N/20) go through spectator.io.kafka.produce.disorder (some
events swapped with the next, some held back `--late-by-s` of event time, 1200 s by default,
well inside the 3600 s lateness every variant gets) into one topic `peers-*` with 2 partitions,
each record stamped with its event's own time. Then one sentinel event a partition (user
`~flush-P`), stamped after the last event + 2 gaps + lateness: it moves every variant's event
time past every session. The shorter partition gets more of them, so both hold the same count
(a bounded Beam read with --max-records takes half from each). Same rule for all: a session
ends when a user is idle for 1800 s or more; statistics from spectator.transforms.stats; every
variant writes through the project's Lua upsert into the same Redis layout. Each variant runs
in its own process, one after another, against an empty Redis db:

  flink    the project's pipeline on the local Flink cluster (bench/flink_stream.py's job, early
           panes every second unless --flink-backlog-early-s, lateness 3600 s)
  direct   the project's pipeline on the DirectRunner, bounded (--max-records)
  quix     Quix Streams (bench/peers/quix_app.py): two processes in one consumer group
  bytewax  Bytewax (bench/peers/bytewax_app.py): two processes (-i/-a), tail=False
  plain    one kafka-python process that reads everything, sessionizes it and writes at the end

Throughput: for the streaming variants (flink, quix, bytewax), the sustained rate at which
events appear in Redis (the sum over stored sessions, sampled every 0.25 s) between 10% and 90%
of the N events, as bench/flink_stream.py measures it; total seconds run from the start (job
submission, or process start) to the last event in Redis. Direct and plain write at the end:
N / total seconds. Peak memory: the sum of the peak RSS (VmHWM) of the variant's processes (for
direct, with the Java expansion service and worker it starts); for flink, the TaskManager's
heap after a full GC when its job ends (not RSS), as bench/flink_stream.py reports it. The
table also gives N / total seconds for all, and when 10% of the events were in Redis: Bytewax
keeps one watermark per user, so most of its sessions close at the end of the input, and its
10-90% rate is mostly that final flush.

Correctness: every variant's sessions, read back with SessionStore, against the plain-Python
sessionization of the same records (core.stats.chains + naive.stats_of), on user, start_ms,
end_ms, event_count, distinct_pages, entry_page, exit_page, event_types, is_bounce, is_bot
(`~flush-*` users left out). "differ" counts missing + extra + different sessions.

Latency (streaming variants only), bench/flink_stream.py's live method: for each variant a new
topic, the engine started first, then `--live-rate` events/s for `--live-seconds` s, each
stamped with its send time, with a 30 s gap and lateness/grace `--live-lateness-s` (5 s: the
stream is in order, but Bytewax's EventClock, one watermark per user moving on with the system
clock, needs some wait; with 0 only 256 of 904 of its sessions came out whole). Users = 16 x
rate, so the generator's 30 min gaps come out near 30 s. A session's latency is the time from
the send of its last event to the first Redis write (the `spectator:panes` stream) showing the
whole session (its start, end and event count), minus the gap: what is left once the rule's
own wait is over. Sessions count if they start 10 s or
more after the stream does and end early enough to close while it runs (last event + 2 gaps +
grace + 10 s before its end: Quix closes a session only when later events push the partition's
time 2 gaps + grace past it). The project runs there without early panes by default
(`--flink-early-s`), so each variant writes a session once, when it closes; Quix writes at its
checkpoints (commit_interval, 5 s by default).

Quix Streams 3.28.1 with closing_strategy="partition" sweeps every key of the partition each time
the partition's time passes the earliest open session's closing time (session.py,
expire_by_partition), which in a dense stream is nearly every message: its time grows with
events x open users (a profile at 100k events: 33 of 41 s there). `--timeout-s` caps each
streaming variant; the table then shows how many events reached Redis. `--quix-closing key`
is cheap but never closes a user's sessions until that user sends again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import redis
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from bench.common import PaneWrites, PeakRss, live_stream
from bench.naive import stats_of
from spectator.core.generate import generate
from spectator.core.model import BadEvent, SessionRecord, parse_event
from spectator.core.stats import chains
from spectator.io.kafka.admin import ensure_topic
from spectator.io.kafka.produce import disorder, produce
from spectator.io.redis.store import SessionStore
from spectator.transforms.sessionize import to_record
from tests.support.ports import free_ports

GAP_S = 1800
LATENESS_S = 3600
BOT_THRESHOLD = 100
FLUSH = "~flush-"
COMPARED = ("user_id", "start_ms", "end_ms", "event_count", "distinct_pages", "entry_page", "exit_page",
            "event_types", "is_bounce", "is_bot")  # fmt: skip
APPS = Path(__file__).resolve().with_name("peers")
STREAMING = ("flink", "quix", "bytewax")
VARIANTS = ("flink", "direct", "quix", "bytewax", "plain")


# --- the data -------------------------------------------------------------------------------


def partition_of(key: str, partitions: int) -> int:
    """The partition kafka-python's default partitioner gives a key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def flush_users(partitions: int) -> list[str]:
    """One sentinel user a partition: `~flush-I` for the first I that lands there."""
    users: dict[int, str] = {}
    i = 0
    while len(users) < partitions:
        users.setdefault(partition_of(f"{FLUSH}{i}", partitions), f"{FLUSH}{i}")
        i += 1
    return [users[p] for p in range(partitions)]


def backlog(args) -> dict:
    """The topic: N disordered events, then sentinels that even out the partitions."""
    topic = f"peers-{uuid.uuid4().hex[:8]}"
    ensure_topic(args.bootstrap_servers, topic, args.partitions)
    events = [e for _, e in zip(range(args.events), generate(max(args.events // 20, 1), seed=args.seed))]
    records = list(disorder(events, args.seed, args.out_of_order, args.late, args.late_by_s * 1000))
    last_ms = max(e["timestamp"] for e in events)
    sentinel_ms = last_ms + (2 * GAP_S + LATENESS_S + 1) * 1000
    counts = [0] * args.partitions
    for key, _, _ in records:
        counts[partition_of(key, args.partitions)] += 1
    flushers = flush_users(args.partitions)
    sentinels = []
    for p, user in enumerate(flushers):
        for _ in range(max(counts) - counts[p] + 1):
            event = {"user_id": user, "timestamp": sentinel_ms, "event_type": "flush", "page": "/"}
            sentinels.append((user, json.dumps(event).encode(), sentinel_ms))
    total = produce(args.bootstrap_servers, topic, records + sentinels)
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap_servers)
    ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(args.partitions)])
    consumer.close()
    if len(set(ends.values())) != 1:
        sys.exit(f"partitions of {topic} are uneven: {ends}")
    return {"topic": topic, "events": len(events), "records": total, "flush_users": flushers,
            "reference": reference(records, GAP_S * 1000), "max_delay_ms": _max_delay(records)}  # fmt: skip


def _max_delay(records: list[tuple[str, bytes, int]]) -> int:
    """How far behind the latest event time seen before it the most delayed record arrives."""
    latest, worst = 0, 0
    for _, _, t_ms in records:
        worst = max(worst, latest - t_ms)
        latest = max(latest, t_ms)
    return worst


def reference(records, gap_ms: int) -> dict[tuple[str, int], tuple]:
    """The plain-Python sessions of the records, as (user, start_ms) -> compared fields."""
    by_user = defaultdict(list)
    for _, payload, _ in records:
        try:
            event = parse_event(payload)
        except BadEvent:
            continue
        if not event.user_id.startswith(FLUSH):
            by_user[event.user_id].append(event)
    sessions = {}
    for user, events in by_user.items():
        events.sort(key=lambda e: e.timestamp_ms)
        for begin, end in chains([e.timestamp_ms for e in events], gap_ms):
            record = to_record(user, stats_of(events[begin:end], BOT_THRESHOLD), 0, "ON_TIME", 0)
            sessions[(user, record.start_ms)] = _compared(record)
    return sessions


def _compared(record: SessionRecord) -> tuple:
    return tuple(json.dumps(getattr(record, f), sort_keys=True) for f in COMPARED)


def compare(client: redis.Redis, ref: dict[tuple[str, int], tuple]) -> dict[str, int]:
    got = {
        (r.user_id, r.start_ms): _compared(r)
        for r in SessionStore(client).all_sessions()
        if not r.user_id.startswith(FLUSH)
    }
    missing = sum(1 for k in ref if k not in got)
    extra = sum(1 for k in got if k not in ref)
    different = sum(1 for k, v in got.items() if k in ref and ref[k] != v)
    return {"sessions": len(got), "missing": missing, "extra": extra, "different": different}


# --- measuring, in the child processes ----------------------------------------------------------


def visible_events(store: SessionStore, flushers: list[str]) -> int:
    flushed = sum(s.event_count for user in flushers for s in store.sessions(user))
    return store.stats()["events"] - flushed


def follow(client: redis.Redis, n: int, flushers: list[str], procs=(), timeout_s: float = 3600,
           stall_s: float = 120) -> list:  # fmt: skip
    """(time, events in Redis) every 0.25 s until all n are there, the processes end, the timeout,
    or nothing new for `stall_s` (a session that never closes)."""
    store = SessionStore(client)
    samples = []
    started = time.monotonic()
    changed = started
    while True:
        samples.append((time.monotonic(), visible_events(store, flushers)))
        if len(samples) > 1 and samples[-1][1] != samples[-2][1]:
            changed = samples[-1][0]
        now = samples[-1][0]
        if samples[-1][1] >= n or now - started > timeout_s or now - changed > stall_s:
            break
        if procs and all(p.poll() is not None for p in procs):
            samples.append((time.monotonic(), visible_events(store, flushers)))
            break
        if any(p.poll() for p in procs):  # one failed
            break
        time.sleep(0.25)
    return samples


def settle(client: redis.Redis, quiet_s: float = 3, wait_s: float = 60) -> None:
    """Waits until no session has been written for `quiet_s` (late merges land after the count)."""
    deadline = time.monotonic() + wait_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        newest = client.xrevrange("spectator:panes", count=1)
        if newest != last:
            last, since = newest, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.25)


def sustained(samples: list, n: int) -> float:
    """Events/s between the first samples at 10% and at 90% of n (or the last sample, if fewer)."""
    at10 = next((s for s in samples if s[1] >= 0.1 * n), None)
    at90 = next((s for s in samples if s[1] >= 0.9 * n), max(samples, key=lambda s: s[1]))
    if not at10 or at90[0] <= at10[0]:
        return float("nan")  # a small backlog lands at once
    return (at90[1] - at10[1]) / (at90[0] - at10[0])


def measures(samples: list, n: int, started: float) -> dict:
    """Total seconds (to the last event in Redis), the sustained rate, and when 10% were there."""
    last = max(samples, key=lambda s: s[1])
    done = next((t for t, c in samples if c >= n), last[0])
    at10 = next((t for t, c in samples if c >= 0.1 * n), last[0])
    return {"seconds": done - started, "rate": sustained(samples, n), "at10_s": at10 - started, "written": last[1]}


def terminate(procs: list[subprocess.Popen], sig=signal.SIGTERM, wait_s: float = 30) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    for p in procs:
        try:
            p.wait(wait_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def app_env() -> dict[str, str]:
    """The peers' apps run as scripts: the repository goes on their path for bench.naive."""
    root = str(Path(__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def start_quix(args, topic: str, gap_ms: int, grace_ms: int, log: str) -> tuple[list, Callable[[], None]]:
    group = f"peers-quix-{uuid.uuid4().hex[:8]}"
    procs, dirs = [], []
    for i in range(args.partitions):
        state = f"/tmp/{group}-{i}"
        dirs.append(state)
        cmd = [sys.executable, str(APPS / "quix_app.py"), "--bootstrap-servers", args.bootstrap_servers,
               "--topic", topic, "--consumer-group", group, "--redis-url", args.redis_url, "--gap-ms", str(gap_ms),
               "--grace-ms", str(grace_ms), "--bot-threshold", str(BOT_THRESHOLD), "--state-dir", state,
               "--closing-strategy", args.quix_closing]  # fmt: skip
        procs.append(
            subprocess.Popen(cmd, env=app_env(), stdout=subprocess.DEVNULL, stderr=open(f"{log}-{i}.log", "w"))
        )

    def cleanup() -> None:
        terminate(procs)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        _delete_topics(args.bootstrap_servers, group)

    return procs, cleanup


def _delete_topics(bootstrap: str, containing: str) -> None:
    """Quix's changelog topics of this run's consumer group."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        mine = [t for t in admin.list_topics() if containing in t]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def start_bytewax(args, topic: str, gap_ms: int, grace_ms: int, tail: bool, log: str) -> tuple[list, Callable]:
    addresses = ";".join(f"127.0.0.1:{p}" for p in free_ports(args.partitions))
    env = {**app_env(), "PEERS_BOOTSTRAP": args.bootstrap_servers, "PEERS_TOPIC": topic,
           "PEERS_REDIS_URL": args.redis_url, "PEERS_GAP_MS": str(gap_ms), "PEERS_GRACE_MS": str(grace_ms),
           "PEERS_BOT_THRESHOLD": str(BOT_THRESHOLD), "PEERS_TAIL": "1" if tail else "0"}  # fmt: skip
    procs = []
    for i in range(args.partitions):
        cmd = [sys.executable, "-m", "bytewax.run", f"{APPS / 'bytewax_app.py'}:flow", "-i", str(i), "-a", addresses]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(f"{log}-{i}.log", "w")))
    return procs, lambda: terminate(procs, signal.SIGINT)


def child_throughput(args) -> dict:
    """One variant over the backlog; prints its measures."""
    n, flushers = args.n, args.flush_users.split(",")
    client = redis.Redis.from_url(args.redis_url)
    started = time.monotonic()
    if args.child == "direct":
        from bench.kafka_replay import project

        project(args.bootstrap_servers, args.topic, args.records, args.redis_url, args.expansion_service)
        return {"seconds": time.monotonic() - started}
    if args.child == "plain":
        from bench.kafka_replay import plain

        plain(args.bootstrap_servers, args.topic, args.records, args.redis_url, GAP_S)
        return {"seconds": time.monotonic() - started}
    if args.child == "flink":
        from bench.flink_stream import figures_line, job_figures, start_job, stop, taskmanager_memory

        extra = ["--gap-seconds", str(GAP_S), "--allowed-lateness-seconds", str(LATENESS_S)]
        rest, job = start_job(args.topic, args.redis_url, early_s=args.flink_backlog_early_s, extra=extra)
        try:
            samples = follow(client, n, flushers, timeout_s=args.timeout_s)
            figures = job_figures(rest, job)  # while it runs: a job short of events shows here why
            print(f"flink job at {samples[-1][1]:,} of {n:,} events: {figures_line(figures)}", file=sys.stderr)
            settle(client)
        finally:
            stop(rest, job)
        memory = taskmanager_memory(rest)
        return {**measures(samples, n, started), "peak_mb": memory["heap_mb"], **figures}
    log = f"/tmp/peers-{args.child}-{args.topic}"
    if args.child == "quix":
        procs, cleanup = start_quix(args, args.topic, GAP_S * 1000, LATENESS_S * 1000, log)
    else:
        procs, cleanup = start_bytewax(args, args.topic, GAP_S * 1000, LATENESS_S * 1000, False, log)
    try:
        samples = follow(client, n, flushers, procs, timeout_s=args.timeout_s)
        settle(client)
        failed = [p.returncode for p in procs if p.poll()]
    finally:
        cleanup()
    if failed and samples[-1][1] < n:
        sys.exit(f"{args.child} failed (exit {failed}); see {log}-*.log")
    return measures(samples, n, started)


def child_latency(args) -> dict:
    client = redis.Redis.from_url(args.redis_url)
    variant = args.child.removesuffix("-live")
    topic = f"peers-live-{variant}-{uuid.uuid4().hex[:8]}"
    ensure_topic(args.bootstrap_servers, topic, args.partitions)
    gap_ms, grace_ms = args.live_gap_s * 1000, args.live_lateness_s * 1000
    writes: dict[tuple, int] = {}  # (user, start, end, count) -> first write ms

    def on_write(written_ms: int, f: dict) -> None:
        key = (f[b"user_id"].decode(), int(f[b"start_ms"]), int(f[b"end_ms"]), int(f[b"event_count"]))
        writes.setdefault(key, written_ms)

    follower = PaneWrites(client, on_write)
    log = f"/tmp/peers-{args.child}-{topic}"
    if variant == "flink":
        from bench.flink_stream import start_job, stop

        extra = ["--gap-seconds", str(args.live_gap_s), "--allowed-lateness-seconds", str(args.live_lateness_s)]
        if args.flink_parallelism:
            extra += ["--parallelism", str(args.flink_parallelism)]
        rest, job = start_job(topic, args.redis_url, early_s=args.flink_early_s, extra=extra)
        rest.wait_for_state(job, {"RUNNING"}, 120)

        def cleanup() -> None:
            stop(rest, job)
    elif variant == "quix":
        _, cleanup = start_quix(args, topic, gap_ms, grace_ms, log)
    else:
        _, cleanup = start_bytewax(args, topic, gap_ms, grace_ms, True, log)
    sent: list = []
    try:
        time.sleep(5)
        live_stream(args.bootstrap_servers, topic, args.live_rate, args.live_seconds, sent, round(16 * args.live_rate))
        time.sleep(10)
    finally:
        follower.stop()
        cleanup()
        _delete_topics(args.bootstrap_servers, topic)
    first, last = sent[0][2], sent[-1][2]
    latencies, eligible = [], 0
    for (user, _), fields in reference(sent, gap_ms).items():
        start, end, count = int(fields[1]), int(fields[2]), int(fields[3])
        if start < first + 10_000 or end + 2 * gap_ms + grace_ms + 10_000 > last:
            continue
        eligible += 1
        if (user, start, end, count) in writes:
            latencies.append(writes[(user, start, end, count)] - end - gap_ms)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {"p50_ms": q[49], "p99_ms": q[98], "eligible": eligible, "seen": len(latencies),
            "live_sent": len(sent), "live_rate": len(sent) / max((last - first) / 1000, 1e-9)}  # fmt: skip


# --- the run ----------------------------------------------------------------------------------


def run_child(args, variant: str, data: dict, client: redis.Redis) -> dict:
    client.flushdb()
    cmd = [sys.executable, "-m", "bench.peers", "--child", variant, "--topic", data["topic"],
           "--n", str(data["events"]), "--records", str(data["records"]),
           "--flush-users", ",".join(data["flush_users"]), *_shared_flags(args)]  # fmt: skip
    err = f"/tmp/peers-{variant}-{data['topic']}.err"
    with open(err, "w") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        rss = PeakRss(proc.pid, include_root=variant in ("direct", "plain"))
        out, _ = proc.communicate()
    peak = rss.stop()
    if proc.returncode:
        print(f"  {variant} failed (exit {proc.returncode}), its stderr in {err}:", flush=True)
        print(Path(err).read_text()[-2000:], flush=True)
        return {"failed": True}
    result = json.loads(out.strip().splitlines()[-1])
    result.setdefault("peak_mb", peak)
    if not variant.endswith("-live"):
        result.update(compare(client, data["reference"]))
    print(f"  {variant}: {json.dumps(result)}", flush=True)
    return result


def _shared_flags(args) -> list[str]:
    return ["--bootstrap-servers", args.bootstrap_servers, "--redis-url", args.redis_url,
            "--partitions", str(args.partitions), "--expansion-service", args.expansion_service,
            "--live-rate", str(args.live_rate), "--live-seconds", str(args.live_seconds),
            "--live-gap-s", str(args.live_gap_s), "--live-lateness-s", str(args.live_lateness_s),
            "--flink-early-s", str(args.flink_early_s), "--flink-backlog-early-s", str(args.flink_backlog_early_s),
            "--flink-parallelism", str(getattr(args, "flink_parallelism", 0)),
            "--timeout-s", str(args.timeout_s), "--quix-closing", args.quix_closing]  # fmt: skip


def print_table(args, data: dict, results: dict[str, dict]) -> None:
    load = os.getloadavg()
    print(f"\n{data['events']:,} events ({data['records']:,} records with the sentinels) in {data['topic']}, "
          f"{args.partitions} partitions, {len(data['reference']):,} reference sessions; gap {GAP_S} s, "
          f"lateness {LATENESS_S} s; most delayed record {data['max_delay_ms'] / 1000:,.0f} s behind; "
          f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end\n")  # fmt: skip
    print("| variant | events/s | measured as | N / total s | total s | 10% at s | p50 s | p99 s | latency sessions "
          "| peak MB | events in Redis | equals reference | differ (missing+extra+different) |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for variant, r in results.items():
        if variant.endswith("-live"):
            continue
        if r.get("failed"):
            print(f"| {variant} | failed |" + " |" * 11)
            continue
        finished = r.get("written", data["events"]) >= data["events"]
        if not finished:  # cut by --timeout-s: no rate stands for all N events
            rate, kind = float("nan"), f"did not finish in {r['seconds']:,.0f} s"
        elif "rate" in r:
            rate, kind = r["rate"], "sustained 10-90%"
        else:
            rate, kind = data["events"] / r["seconds"], "N / total s"
        overall = f"{data['events'] / r['seconds']:,.0f}" if finished else "-"
        live = results.get(f"{variant}-live", {})
        p50 = f"{live['p50_ms'] / 1000:.1f}" if "p50_ms" in live else "-"
        p99 = f"{live['p99_ms'] / 1000:.1f}" if "p99_ms" in live else "-"
        seen = f"{live['seen']}/{live['eligible']}" if "seen" in live else "-"
        peak = f"{r['peak_mb']:,.0f}" + (" (TM heap)" if variant == "flink" else "")
        at10 = f"{r['at10_s']:,.1f}" if "at10_s" in r else "-"
        written = f"{r['written']:,}" if "written" in r else "all"
        differ = r["missing"] + r["extra"] + r["different"]
        detail = f"{differ:,} ({r['missing']:,}+{r['extra']:,}+{r['different']:,})"
        print(f"| {variant} | {rate:,.0f} | {kind} | {overall} | {r['seconds']:,.1f} | "
              f"{at10} | {p50} | {p99} | {seen} | {peak} | {written} | {'yes' if differ == 0 else 'no'} | "
              f"{detail} |")  # fmt: skip
    print("\nevents/s: streaming variants, the sustained rate of events appearing in Redis between 10% and 90% "
          "of them; direct and plain write at the end, so N / total s. Latency: from the send of a session's "
          "last event to the first Redis write of the whole session, minus the gap "
          f"({args.live_gap_s} s gap, lateness {args.live_lateness_s} s, {args.live_rate:,.0f} events/s live); "
          "latency sessions: measured / eligible. Peak MB: the sum of the peak RSS of the variant's processes; "
          "for flink the TaskManager heap after a full GC when the job ends (not RSS). 10% at: seconds from the "
          "start until 10% of the events were in Redis (Bytewax keeps a watermark per user, so most sessions "
          "close at the end of the input; Quix closes a session 2 gaps + grace after its last event).")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--bootstrap-servers", default=os.environ.get("SPECTATOR_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    ap.add_argument("--expansion-service", default=os.environ.get("SPECTATOR_EXPANSION_JAR", ""))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-of-order", type=float, default=0.05, help="share of events swapped with the next")
    ap.add_argument("--late", type=float, default=0.01, help="share of events held back")
    ap.add_argument("--late-by-s", type=int, default=1200, help="how far back (event time) they are held")
    ap.add_argument("--live-rate", type=float, default=1000, help="events/s of the latency runs")
    ap.add_argument("--live-seconds", type=float, default=150)
    ap.add_argument("--live-gap-s", type=int, default=30)
    ap.add_argument("--live-lateness-s", type=int, default=5)
    ap.add_argument("--flink-early-s", type=int, default=0, help="early panes of the project in the latency run")
    ap.add_argument("--flink-backlog-early-s", type=int, default=1, help="the project's early panes on the backlog")
    ap.add_argument("--flink-parallelism", type=int, default=0, help="the project's parallelism (0: the cluster's)")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--keep-topic", action="store_true", help="keep the backlog topic (deleted by default)")
    ap.add_argument("--timeout-s", type=float, default=1800, help="most seconds a streaming variant gets")
    ap.add_argument("--quix-closing", choices=("partition", "key"), default="partition",
                    help="Quix's closing strategy (key: a user's last session never closes)")  # fmt: skip
    for hidden in ("--child", "--topic", "--n", "--records", "--flush-users"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.n, args.records = int(args.n or 0), int(args.records or 0)
        work = child_latency if args.child.endswith("-live") else child_throughput
        print(json.dumps(work(args)), flush=True)
        return

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        sys.exit(f"unknown variants: {', '.join(sorted(unknown))}")
    if "direct" in variants and not args.expansion_service:
        sys.exit('direct needs --expansion-service or SPECTATOR_EXPANSION_JAR (eval "$(scripts/kafka.sh env)")')
    data = backlog(args)
    print(f"{data['events']:,} events, {data['records']:,} records in {data['topic']}; "
          f"{len(data['reference']):,} reference sessions", flush=True)  # fmt: skip
    if data["max_delay_ms"] >= LATENESS_S * 1000:
        print(f"  warning: a record arrives {data['max_delay_ms'] / 1000:,.0f} s late, beyond the lateness")
    client = redis.Redis.from_url(args.redis_url)
    results = {v: run_child(args, v, data, client) for v in variants}
    if not args.no_latency:
        for v in variants:
            if v in STREAMING:
                results[f"{v}-live"] = run_child(args, f"{v}-live", data, client)
    if not args.keep_topic:
        _delete_topics(args.bootstrap_servers, data["topic"])
    print_table(args, data, results)


if __name__ == "__main__":
    main()
