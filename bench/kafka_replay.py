"""Kafka benchmark: Kafka -> the project's pipeline -> Redis, against a plain-Python kafka-python
consumer that sessionizes the same topic into Redis with the same Lua upsert, in one run.

    eval "$(scripts/kafka.sh env)"; .cache/venv/bin/python -m bench.kafka_replay --events 100000

Needs the Redis and Kafka of scripts/services.sh. The topic has one partition: a bounded read
with --max-records splits the count evenly over partitions and would wait on a short one.
The project's time includes starting the KafkaIO expansion service and its Java worker.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections import defaultdict

import redis
from kafka import KafkaConsumer, TopicPartition

from bench.common import measure, print_table, run_child
from bench.naive import stats_of
from spectator.core.generate import generate
from spectator.core.model import BadEvent, parse_event
from spectator.core.stats import chains
from spectator.io.kafka.admin import ensure_topic
from spectator.io.kafka.produce import disorder, produce
from spectator.io.redis.calls import upsert_args
from spectator.io.redis.store import Keys, script
from spectator.transforms.sessionize import to_record

GAP_S = 1800
BOT_THRESHOLD = 100


def project(bootstrap: str, topic: str, events: int, redis_url: str, jar: str) -> None:
    from spectator.pipeline.build import run
    from spectator.pipeline.options import parse_options

    flags = ["--bootstrap-servers", bootstrap, "--topic", topic, "--consumer-group", f"bench-{uuid.uuid4().hex}",
             "--max-records", str(events), "--expansion-service", jar, "--redis-url", redis_url,
             "--gap-seconds", str(GAP_S), "--progress-every", "0"]  # fmt: skip
    run(parse_options(flags))


def plain(bootstrap: str, topic: str, events: int, redis_url: str, gap_s: float = GAP_S) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    by_user = defaultdict(list)
    read = 0
    while read < events:
        for batch in consumer.poll(timeout_ms=1000).values():
            for record in batch:
                read += 1
                try:
                    event = parse_event(record.value)
                except BadEvent:
                    continue
                by_user[event.user_id].append(event)
    consumer.close()
    client = redis.Redis.from_url(redis_url)
    upsert = script(client, "upsert_session")
    keys, gap_ms = Keys(), round(gap_s * 1000)
    batch = []
    for user, user_events in by_user.items():
        user_events.sort(key=lambda e: e.timestamp_ms)
        for begin, end in chains([e.timestamp_ms for e in user_events], gap_ms):
            stats = stats_of(user_events[begin:end], BOT_THRESHOLD)
            batch.append(to_record(user, stats, stats.end_ms + gap_ms, "ON_TIME", 0))
            if len(batch) >= 500:
                upsert(*upsert_args(keys, batch))
                batch = []
    if batch:
        upsert(*upsert_args(keys, batch))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--bootstrap-servers", default=os.environ.get("SPECTATOR_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    ap.add_argument("--expansion-service", default=os.environ.get("SPECTATOR_EXPANSION_JAR", ""))
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        work = {
            "project": lambda: project(
                args.bootstrap_servers, args.topic, args.events, args.redis_url, args.expansion_service
            ),
            "plain": lambda: plain(args.bootstrap_servers, args.topic, args.events, args.redis_url),
        }[args.child]
        return measure(work)

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topic(args.bootstrap_servers, topic, partitions=1)
    events = (e for _, e in zip(range(args.events), generate(max(args.events // 20, 1), seed=1)))
    n = produce(args.bootstrap_servers, topic, disorder(events, seed=1))
    client = redis.Redis.from_url(args.redis_url)
    child_args = ["--events", str(n), "--topic", topic, "--bootstrap-servers", args.bootstrap_servers,
                  "--redis-url", args.redis_url, "--expansion-service", args.expansion_service]  # fmt: skip
    results = {v: run_child("bench.kafka_replay", v, child_args, client.flushdb) for v in ("project", "plain")}
    print_table("Kafka -> sessions -> Redis (DirectRunner, 1 partition)", n, results, base="plain")


if __name__ == "__main__":
    main()
