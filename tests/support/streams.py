"""Helpers for streaming tests on the real Flink cluster: steady live streams, job control, waiting."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from services import FlinkCluster
from spectator.cli import main
from spectator.core.generate import generate
from spectator.core.model import parse_timestamp
from spectator.flink.rest import ACTIVE_STATES, FlinkRest
from spectator.io.kafka.admin import ensure_topic
from spectator.io.kafka.produce import disorder, live, produce
from tests.support.reference import reference_sessions

BOOTSTRAP = os.environ.get("SPECTATOR_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MASTER = os.environ.get("SPECTATOR_FLINK_MASTER", "127.0.0.1:8081")
PANE_FIELDS = ("pane", "updated_at_ms", "window_end_ms", "pane_index")
ROOT = Path(__file__).resolve().parents[2]
STREAM_GAP_S = 3  # LiveStream's 60 s gaps, 20 times faster
STREAM_ARGS = ("--gap-seconds", str(STREAM_GAP_S), "--allowed-lateness-seconds", "300")


def flink_up() -> None:
    FlinkCluster().up()


def group_name() -> str:
    return f"g-{random.Random().getrandbits(40):010x}"


def stream_with_fault(
    rest, store, capsys, redis_url: str, fault: Callable[[str, str, str], None], *extra: str, partitions: int = 2,
    bootstrap: str = BOOTSTRAP,
) -> str:  # fmt: skip
    """Runs a ~60 s live stream (1,200 events, out of order and late ones among them) through the
    job (`extra`: more flags for it), calls fault(job, topic, group) a third of the way in, and waits
    until the Redis export equals the reference for the whole stream. Returns a line of figures for
    docs/reliability.md."""
    topic, group = new_topic(partitions, bootstrap), group_name()
    job = flink_run(capsys, topic, redis_url, group, *STREAM_ARGS, *extra, bootstrap=bootstrap)
    stream = LiveStream(topic, users=60, seed=11, speedup=20, gap_s=60, bootstrap=bootstrap).start()
    wait_until(lambda: len(stream.events) > 400, 60, "a third of the stream sent")
    wait_until(lambda: rest.checkpoints(job)["counts"]["completed"] >= 1, 60, "a completed checkpoint")
    started = time.monotonic()
    fault(job, topic, group)
    newest = next(j["jid"] for j in rest.jobs() if j["name"] == f"spectator-{group}")
    wait_until(lambda: rest.checkpoints(newest)["counts"]["completed"] >= 1, 180, "a checkpoint after the fault")
    recovered = time.monotonic() - started
    events = stream.join()
    expected = reference_sessions(events, STREAM_GAP_S * 1000, bot_threshold=100)
    wait_for(lambda: sessions(store), expected, 240, "the export to equal the reference")
    assert_consistent(store)
    counters = rest.job_metrics(newest)
    return (
        f"recovered (running, with a new checkpoint) {recovered:.0f}s after the fault; "
        f"{len(events):,} events, {len(expected)} sessions equal to the reference; Redis retries "
        f"{counters.get('redis_retries', 0):.0f}, panes that changed nothing {counters.get('panes_unchanged', 0):.0f}"
    )


def assert_consistent(store) -> None:
    """The leaderboard and totals equal the sums over the stored sessions."""
    stored = store.all_sessions()
    totals: dict[str, int] = {}
    for r in stored:
        totals[r.user_id] = totals.get(r.user_id, 0) + r.event_count
    assert dict(store.top(100_000)) == totals
    stats = store.stats()
    assert (stats["sessions"], stats["events"]) == (len(stored), sum(totals.values()))
    assert stats["duration_ms"] == sum(r.duration_ms for r in stored)


def failed_over(rest: FlinkRest, job: str) -> bool:
    """Whether the job has failed at least once. Its exception history keeps every failure, while
    its state reads RESTARTING only for the second or two a restart takes when slots are free."""
    return bool(rest.get(f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"])


def wait_until(check: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.5):
    """Polls `check` until it returns something truthy; fails with `what` and its last value."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}; last: {last!r}")


def wait_for(
    value: Callable[[], object], expected: object, timeout_s: float, what: str, show: Callable | None = None
) -> None:
    """Polls `value()` until it equals `expected`; fails showing the last value seen, or
    `show(seen, expected)`."""
    seen: list[object] = [None]

    def check() -> bool:
        seen[0] = value()
        return seen[0] == expected

    try:
        wait_until(check, timeout_s, what)
    except AssertionError:
        shown = show(seen[0], expected) if show else f"{seen[0]!r} != {expected!r}"
        raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}: {shown}") from None


def wait_for_reference(store, expected: list[dict], timeout_s: float, what: str = "the export") -> None:
    """Polls the export until it equals `expected`; fails with a short account of the difference."""
    wait_for(lambda: sessions(store), expected, timeout_s, what, show=difference)


def difference(stored: list[dict], expected: list[dict]) -> str:
    """How a stored export differs from the reference, in counts, with an example."""
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    have, want = {key(r) for r in stored}, {key(r) for r in expected}
    missing, extra = [json.loads(k) for k in sorted(want - have)], [json.loads(k) for k in sorted(have - want)]
    stored_events, expected_events = sum(r["event_count"] for r in stored), sum(r["event_count"] for r in expected)
    example = f"; e.g. expected {missing[0]}" if missing else ""
    return (
        f"{len(missing)} of {len(expected)} reference sessions missing, {len(extra)} stored sessions not in it; "
        f"{stored_events:,} events stored of {expected_events:,}{example}"
    )


def new_topic(partitions: int = 2, bootstrap: str = BOOTSTRAP) -> str:
    topic = f"flink-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions)
    return topic


def send(topic: str, events: list[dict]) -> None:
    """Events keyed by user, each Kafka record stamped with the event's time."""
    records = [
        (str(e["user_id"]), json.dumps(e, ensure_ascii=False).encode(), parse_timestamp(e["timestamp"])) for e in events
    ]
    assert produce(BOOTSTRAP, topic, records) == len(events)


class LiveStream:
    """A seeded clickstream sent in a background thread at its own pace, stamped with the wall
    clock (speedup times faster than generated), with swapped and late events. `events` holds
    what was sent, as sent."""

    def __init__(self, topic: str, users: int = 60, seed: int = 3, speedup: float = 20, gap_s: float = 60,
                 bootstrap: str = BOOTSTRAP):  # fmt: skip
        generated = generate(users, seed=seed, span_s=20 * gap_s, gap_s=gap_s, seconds_between=gap_s / 4, bot_share=0)
        records = disorder(generated, seed=seed, out_of_order=0.02, late=0.01, late_by_ms=int(gap_s * 1000))
        self.topic, self.bootstrap = topic, bootstrap
        self.events: list[dict] = []
        self._records = live(records, speedup)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _sent(self):
        for key, payload, t_ms in self._records:
            self.events.append(json.loads(payload))
            yield key, payload, t_ms

    def _run(self) -> None:
        try:
            produce(self.bootstrap, self.topic, self._sent())
        except BaseException as e:  # reported by join()
            self.error = e

    def start(self) -> LiveStream:
        self.thread.start()
        return self

    def join(self) -> list[dict]:
        self.thread.join()
        if self.error:
            raise self.error
        return self.events


def flink_run(capsys, topic: str, redis_url: str, group: str, *extra: str, bootstrap: str = BOOTSTRAP) -> str:
    """Submits the streaming job (detached) and returns its Flink job id."""
    capsys.readouterr()
    argv = ["run", "--runner", "FlinkRunner", "--bootstrap-servers", bootstrap, "--topic", topic,
            "--consumer-group", group, "--redis-url", redis_url, "--checkpointing-interval", "2000",
            "--early-firing-seconds", "1", "--detach", *extra]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out.split()[-1]


def cancel_active(rest: FlinkRest, name_prefix: str = "spectator-") -> None:
    for job in rest.jobs():
        if job["state"] in ACTIVE_STATES and job["name"].startswith(name_prefix):
            rest.cancel(job["jid"])
            rest.wait_for_state(job["jid"], {"CANCELED", "FAILED", "FINISHED"}, 60)


def sessions(store) -> list[dict]:
    """Every stored session as a dict without its pane fields."""
    return [{k: v for k, v in vars_of(r).items() if k not in PANE_FIELDS} for r in store.all_sessions()]


def vars_of(record) -> dict:
    return json.loads(record.to_json())


def committed(group: str, topic: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def end_offsets(topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: o for tp, o in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()
