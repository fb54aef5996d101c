"""Planned stops without loss on the real Flink cluster. Users' sessions are open when the job
stops; more events of those users (and of new ones) arrive while it is down; the job resumes from
its savepoint or its last retained checkpoint, at another parallelism, and catches up. Every
session must come out whole: the Redis export equals the reference for all the events, nothing
lost, nothing counted twice, nothing dropped as late."""

from __future__ import annotations

import time

import pytest

from spectator.cli import main
from tests.support.reference import reference_sessions
from tests.support.streams import (
    assert_consistent,
    flink_run,
    group_name,
    new_topic,
    send,
    wait_for_reference,
    wait_until,
)

GAP_S = 600  # longer than a test: every session is still open when the job stops
ARGS = ("--gap-seconds", str(GAP_S), "--allowed-lateness-seconds", "600")


def newest_job(rest, group: str) -> str:
    return next(j["jid"] for j in rest.jobs() if j["name"] == f"spectator-{group}")


def clicks(users: range, start_ms: int, count: int, every_ms: int) -> list[dict]:
    return [
        {"user_id": f"user {n}: ü*", "timestamp": start_ms + i * every_ms + n, "page": f"/p/{(n + i) % 7}"}
        for i in range(count)
        for n in users
    ]


def stop(rest, job: str, capsys) -> str:
    capsys.readouterr()
    assert main(["flink", "stop", job]) == 0
    assert rest.job(job)["state"] in ("CANCELED", "FINISHED")
    return capsys.readouterr().out.split("with a savepoint at ")[1].split()[0]


def cancel(rest, job: str, capsys) -> str:
    wait_until(lambda: rest.latest_checkpoint(job), 60, "a completed checkpoint")
    assert main(["flink", "cancel", job]) == 0
    return rest.latest_checkpoint(job)


@pytest.mark.parametrize(
    "halt, before, after, backend",
    [(stop, 1, 2, "filesystem"), (stop, 2, 4, "filesystem"), (stop, 4, 1, "filesystem"),
     (cancel, 2, 1, "filesystem"), (cancel, 4, 2, "filesystem"), (cancel, 1, 4, "filesystem"),
     (stop, 2, 4, "rocksdb"), (cancel, 4, 2, "rocksdb")],
    ids=["stop-1-to-2", "stop-2-to-4", "stop-4-to-1", "cancel-2-to-1", "cancel-4-to-2", "cancel-1-to-4",
         "rocksdb-stop-2-to-4", "rocksdb-cancel-4-to-2"],
)  # fmt: skip
def test_sessions_open_at_a_stop_come_out_whole(rest, redis_url, store, capsys, halt, before, after, backend):
    topic, group = new_topic(partitions=4), group_name()
    now = int(time.time() * 1000)
    first = clicks(range(120), now - 120_000, 3, 5_000)
    args = (*ARGS, "--state-backend", backend)
    job = flink_run(capsys, topic, redis_url, group, *args, "--parallelism", str(before))
    send(topic, first)
    wait_for_reference(store, reference_sessions(first, GAP_S * 1000, 100), 90, "the first events in Redis")

    kept = halt(rest, job, capsys)
    # While it is down: more of the same users' open sessions, and new users.
    send(topic, clicks(range(60, 180), now - 60_000, 2, 5_000))
    resumed = flink_run(capsys, topic, redis_url, group, *args, "--parallelism", str(after))
    assert rest.checkpoints(resumed)["latest"]["restored"]["external_path"] == kept

    events = first + clicks(range(60, 180), now - 60_000, 2, 5_000)
    wait_for_reference(store, reference_sessions(events, GAP_S * 1000, 100), 120, "the whole sessions")
    assert_consistent(store)
    assert rest.job_metrics(resumed).get("late_elements_dropped", 0) == 0
    if backend == "rocksdb":  # incremental: a checkpoint uploads only what changed since the last one
        wait_until(lambda: incremental(rest.checkpoints(resumed)), 60, "an incremental RocksDB checkpoint")


def incremental(checkpoints: dict) -> bool:
    done = [c for c in checkpoints["history"] if c["status"] == "COMPLETED"]
    return any(0 < c["checkpointed_size"] < c["state_size"] for c in done)
