"""The FlinkRunner end to end: a real Flink 1.19 cluster, Kafka and Redis, all started by run_tests.sh.

Each test submits the streaming job (detached), sends events whose Kafka record time is their
event time, and watches Redis. The KafkaIO watermark follows record times, and moves to the
wall clock when the topic goes idle, so tests stamp events near now.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import redis
from fastapi.testclient import TestClient

from spectator.cli import main
from spectator.explorer.app import create_app
from spectator.flink.late import late_data
from spectator.io.kafka.produce import produce, read_jsonl
from tests.support.data import BAD_LINES, GAP_S, edge_case_events
from tests.support.ports import free_port
from tests.support.redis import redis_server
from tests.support.reference import reference_sessions
from tests.support.streams import (
    BOOTSTRAP,
    committed,
    end_offsets,
    flink_run,
    group_name,
    new_topic,
    send,
    sessions,
    wait_for,
    wait_until,
)


def test_stream_with_disorder_and_bad_records_equals_reference(rest, redis_url, store, capsys, tmp_path):
    topic, group = new_topic(partitions=2), group_name()
    now = int(time.time() * 1000)
    events = edge_case_events(seed=6, base_ms=now - 50 * 60_000)  # shuffled, ISO and integer times, odd ids
    job = flink_run(capsys, topic, redis_url, group, "--gap-seconds", str(GAP_S), "--bot-threshold", "50",
                    "--allowed-lateness-seconds", "7200")  # fmt: skip
    lines = [json.dumps(e, ensure_ascii=False) for e in events] + BAD_LINES
    random.Random(2).shuffle(lines)
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    produce(BOOTSTRAP, topic, read_jsonl(str(tmp_path / "events.jsonl")))  # the CLI's own file producer

    expected = reference_sessions(events, GAP_S * 1000, bot_threshold=50)
    wait_for(lambda: sessions(store), expected, 180, "the export to equal the reference")
    wait_until(lambda: all(r.pane != "EARLY" for r in store.all_sessions()), 120, "every session to be complete")
    assert store.deadletter_total() == len(BAD_LINES)
    assert sorted(d["payload"] for d in store.deadletters(100)) == sorted(BAD_LINES)
    # Offsets are committed when checkpoints complete: the group ends at the topic's end.
    wait_for(lambda: committed(group, topic), end_offsets(topic), 60, "offsets committed on checkpoints")
    assert rest.job(job)["state"] == "RUNNING"


def test_early_late_merged_and_dropped_panes(rest, redis_url, store, capsys):
    topic, group = new_topic(partitions=1), group_name()
    job = flink_run(capsys, topic, redis_url, group, "--gap-seconds", "10", "--allowed-lateness-seconds", "600")
    # An idle topic holds the watermark at the wall clock, so these windows all end in the future,
    # and are sent in time order: the watermark follows the newest record time.
    t, s = int(time.time() * 1000), 1000
    send(topic, [
        {"user_id": "bridge", "timestamp": t}, {"user_id": "late", "timestamp": t + 1 * s},
        {"user_id": "late", "timestamp": t + 2 * s}, {"user_id": "bridge", "timestamp": t + 12 * s},
        {"user_id": "early", "timestamp": t + 40 * s},
    ])  # fmt: skip

    def shape(user):
        return [(r.start_ms - t, r.end_ms - t, r.event_count, r.pane) for r in store.sessions(user)]

    # An early pane while the window [t + 40 s, t + 50 s) is open; the others complete on time.
    assert wait_until(lambda: shape("early"), 30, "an early pane") == [(40 * s, 40 * s, 1, "EARLY")]
    wait_for(lambda: shape("late"), [(1 * s, 2 * s, 2, "ON_TIME")], 60, "the on-time pane of 'late'")
    two = [(0, 0, 1, "ON_TIME"), (12 * s, 12 * s, 1, "ON_TIME")]
    wait_for(lambda: shape("bridge"), two, 60, "two on-time sessions of 'bridge'")
    before = rest.job_metrics(job).get("late_elements_dropped", 0)

    send(topic, [
        {"user_id": "late", "timestamp": t + 5 * s},  # late, within the allowed lateness
        {"user_id": "bridge", "timestamp": t + 6 * s},  # late, and joins the two sessions
        {"user_id": "dropped", "timestamp": t - 3600 * s},  # beyond the lateness
        {"user_id": "late", "timestamp": t - 3000 * s},  # beyond the lateness, for a known user
    ])  # fmt: skip
    wait_for(lambda: shape("late"), [(1 * s, 5 * s, 3, "LATE")], 60, "the late pane of 'late'")
    wait_for(lambda: shape("bridge"), [(0, 12 * s, 3, "LATE")], 60, "one merged session of 'bridge'")
    wait_until(
        lambda: rest.job_metrics(job).get("late_elements_dropped", 0) - before >= 2, 60, "two late events counted"
    )
    assert store.sessions("dropped") == [] and shape("late") == [(1 * s, 5 * s, 3, "LATE")]
    # Never silent: the summary and the explorer show what the job's metrics count.
    dropped = int(rest.job_metrics(job)["late_elements_dropped"])
    capsys.readouterr()
    assert main(["summary", "--redis-url", redis_url]) == 0
    assert f"late elements dropped {dropped:,} (by 1 Flink job)" in capsys.readouterr().out
    with TestClient(create_app(redis_url)) as client:
        assert client.get("/api/summary").json()["late_dropped"] == dropped
    wait_for(lambda: shape("early"), [(40 * s, 40 * s, 1, "ON_TIME")], 90, "the on-time pane of 'early'")
    wait_for(lambda: committed(group, topic), end_offsets(topic), 60, "offsets committed on checkpoints")


def test_late_data_of_jobs_whose_cluster_is_gone_keeps_the_last_count(store):
    store.register_job("0" * 32, {"runner": "flink", "master": "http://127.0.0.1:1", "name": "a", "late_dropped": 7})
    store.register_job("1" * 32, {"runner": "flink", "master": "http://127.0.0.1:1", "name": "b"})
    late = late_data(store, timeout_s=1)
    assert (late.dropped, late.jobs, late.unreachable) == (7, 2, ["http://127.0.0.1:1"])
    assert late.line() == "late elements dropped 7 (by 2 Flink jobs); could not ask http://127.0.0.1:1"


def test_unreachable_cluster_is_one_line(redis_url):
    argv = [sys.executable, "-m", "spectator.cli", "run", "--runner", "FlinkRunner", "--flink-master", "127.0.0.1:1",
            "--job-endpoint", "127.0.0.1:1", "--bootstrap-servers", "127.0.0.1:9092", "--topic", "t",
            "--expansion-service", "127.0.0.1:1", "--environment-type", "EXTERNAL", "--environment-config",
            "127.0.0.1:1", "--redis-url", redis_url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: cannot reach the Flink cluster at http://127.0.0.1:1: [Errno 111] Connection refused"
    ]


def test_redis_password_reaches_the_writer_but_not_the_job_config(rest, tmp_path, capsys):
    port = free_port()
    with redis_server(tmp_path, port, "--port", str(port), "--requirepass", "s3cret-pw"):
        topic, group = new_topic(partitions=1), group_name()
        job = flink_run(capsys, topic, f"redis://:s3cret-pw@127.0.0.1:{port}/0", group)
        send(topic, [{"user_id": "secretive", "timestamp": int(time.time() * 1000)}])
        client = redis.Redis(port=port, password="s3cret-pw")
        wait_until(lambda: client.zscore("spectator:top", "secretive") == 1, 60, "the session written")
        shown = json.dumps([rest.job(job), rest.get(f"/jobs/{job}/config")])
        assert "s3cret-pw" not in shown and f"redis://***@127.0.0.1:{port}/0" in shown
        assert "s3cret-pw" not in Path(os.environ["SPECTATOR_FLINK_CHECKPOINTS"]).parent.joinpath(
            "log/python-workers.log"
        ).read_text(errors="replace")
