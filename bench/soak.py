"""A soak of the streaming job on the local Flink cluster: a steady live stream for N minutes, and
once a minute the TaskManager's heap (after a full GC) and metaspace, the Python workers' RSS and
Redis's memory. Sessions expire from Redis 2 minutes after their last write (--ttl-seconds), so its
memory should level off like the rest.

    scripts/services.sh up redis kafka flink
    eval "$(scripts/kafka.sh env)"; eval "$(scripts/flink.sh env)"
    .cache/venv/bin/python -m bench.soak --minutes 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
import uuid

import redis
from kafka import KafkaAdminClient

from bench.flink_stream import start_job, stop, taskmanager_memory
from spectator.core.generate import generate
from spectator.io.kafka.admin import ensure_topic
from spectator.io.kafka.produce import disorder, live, produce


def worker_rss_mb() -> float:
    """The summed RSS of the SDK worker processes of the Python worker pool."""
    out = subprocess.run(["ps", "-eo", "rss,args"], capture_output=True, text=True).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if "sdk_worker_main" in line) / 1024


def stream(topic: str, users: int, until: float, sent: list[int]) -> None:
    """Seeded clickstreams moved onto the wall clock (60x), one after another until `until`."""
    seed = 1
    while time.time() < until:
        records = live(disorder(generate(users, seed=seed), seed=seed, out_of_order=0.02, late=0.005), 60)
        produce(os.environ["SPECTATOR_KAFKA_BOOTSTRAP"], topic, _counted(records, until, sent))
        seed += 1


def _counted(records, until: float, sent: list[int]):
    for record in records:
        if time.time() >= until:
            return
        sent[0] += 1
        yield record


def committed(group: str, topic: str) -> int:
    """Events the job has checkpointed: the sum of its consumer group's committed offsets."""
    admin = KafkaAdminClient(bootstrap_servers=os.environ["SPECTATOR_KAFKA_BOOTSTRAP"])
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--users", type=int, default=10_000, help="users a stream (about 790 events/s for 10,000)")
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    args = ap.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    topic, group = f"soak-{uuid.uuid4().hex[:8]}", f"soak-{uuid.uuid4().hex[:8]}"
    ensure_topic(os.environ["SPECTATOR_KAFKA_BOOTSTRAP"], topic, 2)
    # Windows expire a minute after they close, and sessions leave Redis two minutes after their last write.
    extra = ["--ttl-seconds", "120", "--allowed-lateness-seconds", "60", "--consumer-group", group]
    rest, job = start_job(topic, args.redis_url, extra=extra)
    until, sent = time.time() + args.minutes * 60, [0]
    producer = threading.Thread(target=stream, args=(topic, args.users, until, sent), daemon=True)
    producer.start()
    started = time.monotonic()
    print(f"{'minute':>6}{'sent':>10}{'committed':>11}{'TM heap MB':>12}{'TM metaspace MB':>17}"
          f"{'workers RSS MB':>16}{'Redis MB':>10}")  # fmt: skip
    try:
        while producer.is_alive():
            time.sleep(60)
            now = time.monotonic()
            memory = taskmanager_memory(rest)
            redis_mb = client.info("memory")["used_memory"] / 2**20
            print(f"{(now - started) / 60:>6.0f}{sent[0]:>10,}{committed(group, topic):>11,}{memory['heap_mb']:>12.0f}"
                  f"{memory['metaspace_mb']:>17.0f}{worker_rss_mb():>16.0f}{redis_mb:>10.1f}", flush=True)  # fmt: skip
    finally:
        stop(rest, job)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
