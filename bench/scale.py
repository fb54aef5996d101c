"""Scale-out benchmark (issue 18): the streaming job on Flink at parallelism 1, 2 and 4 over one
backlog, writing to one Redis and to a Redis Cluster, next to the plain consumer of the same run.

    scripts/services.sh up redis redis-cluster kafka flink
    eval "$(scripts/services.sh env redis redis-cluster kafka flink)"
    .cache/bench-venv/bin/python -m bench.scale --events 1000000

The backlog is bench/peers.py's (N disordered events of N/20 users, then sentinels; 4 partitions
here, so 4 subtasks have work). The job runs as a user runs it: the product's early firing (10 s),
checkpoints every 10 s. Per configuration:

- events/s: the sustained rate at which events appear in Redis, 10 % to 90 % (bench/peers.py);
- p99 pane latency: a live run (1,000 events/s, 30 s gap, 5 s lateness, bench/peers.py's), from
  the send of a session's last event to its first write, minus the gap; single Redis only (the
  cluster's pane stream is sharded in 256 streams, which the follower does not read);
- TaskManager heap after a full GC when the job has read everything, and the last checkpoint's size;
- Redis commands per event: every command the masters ran (Lua's own calls included) over N,
  polling included (one stats read a second);
- equal: every session against the plain-Python reference.

The plain consumer (bench/kafka_replay.py: one process, everything in memory, one write per session
at the end) runs once, against the single Redis; each figure is also printed as its ratio to it.
Writes BENCHMARKS.md's plot to docs/scale.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import redis

from bench import peers
from bench.common import live_stream
from bench.flink_stream import job_figures, start_job, stop, taskmanager_memory
from spectator.io.kafka.admin import ensure_topic
from spectator.io.redis.store import SessionStore, connect

PLOT = os.path.join(os.path.dirname(__file__), "..", "docs", "scale.png")


def masters(client) -> list[redis.Redis]:
    """A plain connection to each master: commandstats are per node."""
    if isinstance(client, redis.RedisCluster):
        return [redis.Redis(host=n.host, port=n.port) for n in client.get_primaries()]
    return [client]


def command_calls(client) -> int:
    return sum(v["calls"] for node in masters(client) for v in node.info("commandstats").values())


def empty(client) -> None:
    for node in masters(client):
        node.flushdb()
        node.config_resetstat()


def follow(client, n: int, flushers: list[str], timeout_s: float, stall_s: float = 120) -> list:
    """(time, events in Redis) each second until all n are there, the timeout, or a stall."""
    store, samples = SessionStore(client), []
    started = changed = time.monotonic()
    while True:
        samples.append((time.monotonic(), peers.visible_events(store, flushers)))
        now = samples[-1][0]
        if len(samples) > 1 and samples[-1][1] != samples[-2][1]:
            changed = now
        if samples[-1][1] >= n or now - started > timeout_s or now - changed > stall_s:
            return samples
        time.sleep(1)


def settle(client, quiet_s: float = 3, wait_s: float = 60) -> None:
    """Until the totals stop changing (late merges land after the count)."""
    store, deadline = SessionStore(client), time.monotonic() + wait_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = store.stats()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.5)


def flink_run(args, data: dict, url: str, parallelism: int) -> dict:
    client = connect(url)
    empty(client)
    started = time.monotonic()
    extra = ["--gap-seconds", str(peers.GAP_S), "--allowed-lateness-seconds", str(peers.LATENESS_S),
             "--parallelism", str(parallelism)]  # fmt: skip
    rest, job = start_job(data["topic"], url, early_s=args.early_s, extra=extra)
    try:
        samples = follow(client, data["events"], data["flush_users"], args.timeout_s)
        figures = job_figures(rest, job)
        latest = (rest.checkpoints(job).get("latest") or {}).get("completed") or {}
        settle(client)
    finally:
        stop(rest, job)
    result = {**peers.measures(samples, data["events"], started), **figures}
    result["heap_mb"] = taskmanager_memory(rest)["heap_mb"]
    result["ckpt_mb"] = latest.get("state_size", 0) / 2**20
    result["cmds_per_event"] = command_calls(client) / data["events"]
    result.update(peers.compare(client, data["reference"]))
    return result


def latency_run(args, data: dict, parallelism: int) -> dict:
    live = argparse.Namespace(**vars(args), child="flink-live", flink_parallelism=parallelism)
    return peers.run_child(live, "flink-live", data, redis.Redis.from_url(args.redis_url))


def state_run(args, parallelism: int = 2, seconds: float = 90, rate: float = 1000) -> dict:
    """Flink state per open session: a live stream (16 users per event/s, 30 s gap, 5 s lateness)
    until checkpoints of a steady state exist; the last one's size over the sessions whose windows
    it held (a window stays until the watermark, here the wall clock, passes its end + lateness)."""
    topic = f"scale-state-{uuid.uuid4().hex[:8]}"
    ensure_topic(args.bootstrap_servers, topic, args.partitions)
    gap_ms, lateness_ms = args.live_gap_s * 1000, args.live_lateness_s * 1000
    extra = ["--gap-seconds", str(args.live_gap_s), "--allowed-lateness-seconds", str(args.live_lateness_s),
             "--parallelism", str(parallelism)]  # fmt: skip
    rest, job = start_job(topic, args.redis_url, early_s=args.early_s, extra=extra)
    sent: list = []
    try:
        rest.wait_for_state(job, {"RUNNING"}, 120)
        live_stream(args.bootstrap_servers, topic, rate, seconds, sent, round(16 * rate))
        latest = (rest.checkpoints(job).get("latest") or {}).get("completed") or {}
    finally:
        stop(rest, job)
        peers._delete_topics(args.bootstrap_servers, topic)
    at = latest["trigger_timestamp"]
    last_before: dict[str, int] = {}
    for user, _, ts in sent:
        if ts <= at:
            last_before[user] = ts
    open_sessions = sum(1 for ts in last_before.values() if ts + gap_ms + lateness_ms > at)
    return {"ckpt_bytes": latest["state_size"], "open_sessions": open_sessions,
            "bytes_per_session": latest["state_size"] / max(open_sessions, 1)}  # fmt: skip


def plain_run(args, data: dict) -> dict:
    client = redis.Redis.from_url(args.redis_url)
    empty(client)
    result = peers.run_child(args, "plain", data, client)
    result["cmds_per_event"] = command_calls(client) / data["events"]
    result["rate"] = data["events"] / result["seconds"]
    return result


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base and value == value else "-"


def print_table(data: dict, plain: dict, rows: list[tuple[str, int, dict]]) -> None:
    load = os.getloadavg()
    print(f"\n{data['events']:,} events in {data['topic']}, {len(data['reference']):,} reference sessions; "
          f"{os.cpu_count()} cores; load average {load[0]:.2f} at the end\n")  # fmt: skip
    print(
        "| store | parallelism | events/s | vs plain | total s | p99 pane latency s | TM heap MB | checkpoint MB "
        "| checkpoint ms (avg) | Redis cmds/event | vs plain | late dropped | equals reference |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for store, parallelism, r in rows:
        differ = r["missing"] + r["extra"] + r["different"]
        p99 = f"{r['p99_ms'] / 1000:.1f}" if "p99_ms" in r else "-"
        print(f"| {store} | {parallelism} | {r['rate']:,.0f} | {ratio(r['rate'], plain['rate'])} | "
              f"{r['seconds']:.1f} | {p99} | {r['heap_mb']:.0f} | {r['ckpt_mb']:.1f} | {r['ckpt_avg_ms']:.0f} | "
              f"{r['cmds_per_event']:.2f} | {ratio(r['cmds_per_event'], plain['cmds_per_event'])} | "
              f"{r['late_dropped']} | {'yes' if differ == 0 else f'no: {differ:,} differ'} |")  # fmt: skip
    differ = plain["missing"] + plain["extra"] + plain["different"]
    print(f"| plain consumer | 1 process | {plain['rate']:,.0f} | 1.00x | {plain['seconds']:.1f} | - | "
          f"{plain['peak_mb']:.0f} (RSS) | - | - | {plain['cmds_per_event']:.2f} | 1.00x | - | "
          f"{'yes' if differ == 0 else f'no: {differ:,} differ'} |")  # fmt: skip


def plot(plain: dict, rows: list[tuple[str, int, dict]]) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for store in dict.fromkeys(s for s, _, _ in rows):
        points = [(p, r["rate"]) for s, p, r in rows if s == store]
        ax.plot([p for p, _ in points], [rate for _, rate in points], marker="o", label=f"Flink, {store}")
    ax.axhline(plain["rate"], color="grey", linestyle="--", label="plain consumer (1 process)")
    ax.set_xlabel("parallelism (2 cores)")
    ax.set_ylabel("events/s")
    ax.set_xticks(sorted({p for _, p, _ in rows}))
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(PLOT, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--parallelism", default="1,2,4")
    ap.add_argument("--stores", default="redis,cluster", help="redis, cluster or both")
    ap.add_argument("--early-s", type=int, default=10, help="early panes (the product's default)")
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    ap.add_argument("--cluster-url", default=os.environ.get("SPECTATOR_REDIS_CLUSTER_URL", ""))
    ap.add_argument("--bootstrap-servers", default=os.environ.get("SPECTATOR_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    ap.add_argument("--timeout-s", type=float, default=600)
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--state-only", action="store_true", help="only the state-per-open-session run")
    args = ap.parse_args()
    stores = {"redis": args.redis_url, "cluster": args.cluster_url}
    chosen = [s.strip() for s in args.stores.split(",")]
    if set(chosen) - set(stores) or ("cluster" in chosen and not args.cluster_url):
        sys.exit("--stores: redis, cluster; cluster needs --cluster-url (scripts/services.sh env redis-cluster)")
    # What bench/peers.py's backlog and children read.
    peer = dict(seed=1, out_of_order=0.05, late=0.01, late_by_s=1200, expansion_service="", live_rate=1000,
                live_seconds=150, live_gap_s=30, live_lateness_s=5, flink_early_s=0,
                quix_closing="partition")  # fmt: skip
    args = argparse.Namespace(**vars(args), **peer)
    if args.state_only:
        print(f"Flink state per open session: {state_run(args)}")
        return
    data = peers.backlog(args)
    print(f"{data['events']:,} events in {data['topic']}, {len(data['reference']):,} reference sessions", flush=True)
    plain = plain_run(args, data)
    rows = []
    for store in chosen:
        for parallelism in [int(p) for p in args.parallelism.split(",")]:
            result = flink_run(args, data, stores[store], parallelism)
            if store == "redis" and not args.no_latency:
                result.update(latency_run(args, data, parallelism))
            print(f"  {store} x{parallelism}: {result}", flush=True)
            rows.append((store, parallelism, result))
    peers._delete_topics(args.bootstrap_servers, data["topic"])
    print_table(data, plain, rows)
    plot(plain, rows)
    if any(r["missing"] + r["extra"] + r["different"] for _, _, r in rows):
        sys.exit("a run's sessions differ from the reference")


if __name__ == "__main__":
    main()
