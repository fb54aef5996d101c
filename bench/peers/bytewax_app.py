"""Session Spectator's sessions in Bytewax: Kafka -> session windows -> Redis.

    PEERS_TOPIC=T PEERS_REDIS_URL=URL .cache/bench-venv/bin/python -m bytewax.run \\
        bench/peers/bytewax_app.py:flow -i 0 -a "127.0.0.1:2101;127.0.0.1:2102"   # and -i 1 likewise

Two processes of one worker each (`-i/-a`): Bytewax runs Python, so its workers scale across
cores as processes, not as threads of one process (`-w`). Kafka partitions are the source's unit
of parallelism; `key_on` routes each user's events to one worker. `fold_window` with a
`SessionWindower` and an `EventClock` on the event's own time folds them into the project's
SessionStats (the fold and merge are order-independent, so `ordered=False` spares the
timestamp-ordered queue). An `EventClock` keeps one watermark per key: the key's latest event
time minus `wait_for_system_duration` (the grace), plus the system time since. Events behind it
are late (dropped to `.late`). A session closes when the watermark passes its last event + gap,
and at the end of the input. With `PEERS_TAIL=0` the source stops at the end of the backlog
(`tail=False`), which closes every session.

Bytewax joins an event to a session when it is *at most* `gap` away; the project's rule is
*strictly less* than the gap, so the windower is given gap - 1 ms (times are whole ms).

Configuration, from the environment: PEERS_BOOTSTRAP (127.0.0.1:9092), PEERS_TOPIC,
PEERS_REDIS_URL, PEERS_GAP_MS (1800000), PEERS_GRACE_MS (3600000), PEERS_BOT_THRESHOLD (100),
PEERS_TAIL (1).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
import redis
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import EventClock, SessionWindower, fold_window
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from bench.naive import add_event
from spectator.core.model import BadEvent, ClickEvent, SessionRecord, parse_event
from spectator.core.stats import SessionStats, merge
from spectator.io.redis.calls import upsert_args
from spectator.io.redis.store import Keys, script
from spectator.transforms.sessionize import to_record

BOOTSTRAP = os.environ.get("PEERS_BOOTSTRAP", "127.0.0.1:9092")
TOPIC = os.environ.get("PEERS_TOPIC", "")
REDIS_URL = os.environ.get("PEERS_REDIS_URL", "")
GAP_MS = int(os.environ.get("PEERS_GAP_MS", "1800000"))
GRACE_MS = int(os.environ.get("PEERS_GRACE_MS", "3600000"))
BOT_THRESHOLD = int(os.environ.get("PEERS_BOT_THRESHOLD", "100"))
TAIL = os.environ.get("PEERS_TAIL", "1") != "0"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse(message: KafkaSourceMessage) -> ClickEvent | None:
    try:
        return parse_event(message.value)
    except BadEvent:
        return None


def event_time(event: ClickEvent) -> datetime:
    return EPOCH + timedelta(milliseconds=event.timestamp_ms)


def fold(stats: SessionStats, event: ClickEvent) -> SessionStats:
    return add_event(stats, event, BOT_THRESHOLD)


def merge_stats(stats: SessionStats, other: SessionStats) -> SessionStats:
    return merge(stats, other, BOT_THRESHOLD)


def as_record(user_and_session: tuple[str, tuple[int, SessionStats]]) -> SessionRecord:
    user, (_window_id, stats) = user_and_session
    return to_record(user, stats, stats.end_ms + GAP_MS, "ON_TIME", 0)


class _RedisPartition(StatelessSinkPartition[SessionRecord]):
    def __init__(self, redis_url: str):
        self.client = redis.Redis.from_url(redis_url)
        self.upsert = script(self.client, "upsert_session")
        self.keys = Keys()

    def write_batch(self, items: list[SessionRecord]) -> None:
        self.upsert(*upsert_args(self.keys, items))

    def close(self) -> None:
        self.client.close()


class RedisSessionSink(DynamicSink[SessionRecord]):
    """Every worker upserts its sessions with the project's Lua script, a batch a pipeline."""

    def __init__(self, redis_url: str):
        self.redis_url = redis_url

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _RedisPartition:
        return _RedisPartition(self.redis_url)


flow = Dataflow("spectator_sessions")
kafka_in = kop.input("kafka_in", flow, brokers=[BOOTSTRAP], topics=[TOPIC], tail=TAIL)
op.raises("kafka_errors", kafka_in.errs)
events = op.filter_map("parse", kafka_in.oks, parse)
by_user = op.key_on("by_user", events, lambda event: event.user_id)
sessions = fold_window(
    "sessions",
    by_user,
    EventClock(event_time, wait_for_system_duration=timedelta(milliseconds=GRACE_MS)),
    SessionWindower(gap=timedelta(milliseconds=GAP_MS - 1)),
    builder=SessionStats,
    folder=fold,
    merger=merge_stats,
    ordered=False,
)
records = op.map("to_record", sessions.down, as_record)
op.output("redis", records, RedisSessionSink(REDIS_URL))
