"""A backfill on the real Flink cluster: a new consumer group reads a topic of months-old events
from the earliest offset, with an allowed lateness far below their age. Every event is within the
lateness of the stream it was sent in, so the result must equal the reference, with nothing dropped.

The job is set up for the race that used to lose data: checkpoints every second and bundles that
only a checkpoint ends. A bundle finished by a checkpoint sent the watermark first and its output
after; when a partition drained, its watermark jumped to the wall clock, and that partition's last
bundle reached the session windows months late and was dropped whole.
"""

from __future__ import annotations

import pytest

from spectator.core.generate import generate
from spectator.io.kafka.produce import disorder, produce
from tests.support.reference import reference_sessions
from tests.support.streams import BOOTSTRAP, flink_run, group_name, new_topic, wait_for_reference

GAP_S = 1800
RACE_ARGS = ("--gap-seconds", str(GAP_S), "--allowed-lateness-seconds", "3600", "--checkpointing-interval", "1000",
             "--max-bundle-size", "1000000", "--max-bundle-time-mills", "600000")  # fmt: skip


def old_events_topic(users: int, seed: int, partitions: int = 4) -> tuple[str, list[dict]]:
    """A topic of generated events from 2026-01-01, in the order a producer sent them: some
    swapped with the next, some held back up to 5 minutes of event time."""
    events = list(generate(users, seed=seed, bot_share=0.02))
    records = list(disorder(events, seed=seed, out_of_order=0.05, late=0.01, late_by_ms=300_000))
    topic = new_topic(partitions)
    assert produce(BOOTSTRAP, topic, records) == len(records)
    return topic, events


@pytest.mark.parametrize(
    "parallelism, partitions, backend",
    [(1, 4, "filesystem"), (2, 4, "filesystem"), (4, 4, "filesystem"), (2, 4, "rocksdb"),
     (2, 1, "filesystem"), (4, 8, "filesystem")],
)  # fmt: skip
def test_backfill_of_old_events_equals_the_reference(rest, redis_url, store, capsys, parallelism, partitions, backend):
    topic, events = old_events_topic(users=150, seed=parallelism, partitions=partitions)
    job = flink_run(capsys, topic, redis_url, group_name(), *RACE_ARGS, "--parallelism", str(parallelism),
                    "--state-backend", backend)  # fmt: skip
    expected = reference_sessions(events, GAP_S * 1000, bot_threshold=100)
    try:
        wait_for_reference(store, expected, 120)
    finally:
        dropped = rest.job_metrics(job).get("late_elements_dropped", 0)
        print(f"parallelism {parallelism}, {partitions} partitions, {backend}: {len(events):,} events; "
              f"late elements dropped {dropped:.0f}")  # fmt: skip
    assert dropped == 0
