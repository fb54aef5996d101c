"""Session Spectator's sessions in Quix Streams: Kafka -> session windows -> Redis, one process a partition.

    .cache/bench-venv/bin/python bench/peers/quix_app.py --topic T --consumer-group G --redis-url URL

Start one process per partition with the same consumer group (bench/peers.py starts two). Quix
Streams reads the topic with its own consumer, keys by the message key (the user id), takes each
record's timestamp as its event time and keeps each user's open sessions in its RocksDB state
(with its changelog topics, the library's default). `.collect()` keeps a session's events;
`.final(closing_strategy="partition")` emits a session once the partition's time passes its last
event + 2 gaps + grace (with the default "key" strategy, a user's last session would wait for
that user's next event, forever at the end of a backlog). A `BatchingSink` writes each
checkpoint's sessions to Redis in one pipeline, with the project's statistics and Lua upsert.

Quix joins an event to a session when it is *at most* `inactivity_gap_ms` away; the project's
rule is *strictly less* than the gap, so the window is given gap - 1 ms (times are whole ms).
"""

from __future__ import annotations

import argparse
import logging

import redis
from quixstreams import Application
from quixstreams.sinks import BatchingSink, SinkBatch

from bench.naive import stats_of
from spectator.core.model import BadEvent, ClickEvent, parse_event
from spectator.io.redis.calls import upsert_args
from spectator.io.redis.store import Keys, script
from spectator.transforms.sessionize import to_record

log = logging.getLogger(__name__)


def compact(payload: bytes) -> list | None:
    """A raw event -> [timestamp_ms, event_type, page]: what the statistics need; None if it is bad."""
    try:
        event = parse_event(payload)
    except BadEvent:
        return None
    return [event.timestamp_ms, event.event_type, event.page]


class RedisSessionSink(BatchingSink):
    """Closed sessions -> the project's SessionRecords, upserted with its Lua script, a batch a pipeline."""

    def __init__(self, redis_url: str, gap_ms: int, bot_threshold: int):
        super().__init__()
        self.redis_url = redis_url
        self.gap_ms = gap_ms
        self.bot_threshold = bot_threshold
        self.keys = Keys()

    def setup(self) -> None:
        self.client = redis.Redis.from_url(self.redis_url)
        self.client.ping()
        self.upsert = script(self.client, "upsert_session")

    def write(self, batch: SinkBatch) -> None:
        records = []
        for item in batch:
            user = item.key
            events = [ClickEvent(user, t, event_type, page) for t, event_type, page in item.value["value"]]
            stats = stats_of(events, self.bot_threshold)
            records.append(to_record(user, stats, stats.end_ms + self.gap_ms, "ON_TIME", 0))
        self.upsert(*upsert_args(self.keys, records))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--consumer-group", required=True)
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--gap-ms", type=int, default=1_800_000)
    ap.add_argument("--grace-ms", type=int, default=3_600_000)
    ap.add_argument("--bot-threshold", type=int, default=100)
    ap.add_argument("--state-dir", default="state")
    ap.add_argument("--commit-interval", type=float, default=5.0, help="seconds (Quix's default: 5)")
    ap.add_argument("--closing-strategy", choices=("partition", "key"), default="partition")
    args = ap.parse_args()

    app = Application(
        broker_address=args.bootstrap_servers,
        consumer_group=args.consumer_group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        commit_interval=args.commit_interval,
        loglevel="WARNING",
    )
    topic = app.topic(args.topic, key_deserializer="str", value_deserializer="bytes")
    sdf = app.dataframe(topic)
    sdf = sdf.apply(compact).filter(lambda event: event is not None)
    sdf = (
        sdf.session_window(inactivity_gap_ms=args.gap_ms - 1, grace_ms=args.grace_ms)
        .collect()
        .final(closing_strategy=args.closing_strategy)
    )
    sdf.sink(RedisSessionSink(args.redis_url, args.gap_ms, args.bot_threshold))
    app.run()


if __name__ == "__main__":
    main()
