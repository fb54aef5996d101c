"""Restarts without loss on the real Flink cluster: a steady live stream with out-of-order and late
events, a fault in the middle, and at the end the Redis export equal to the reference for the whole
stream (nothing lost, nothing counted twice)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from spectator.cli import main
from spectator.flink.rest import FlinkRest
from tests.reference import reference_sessions
from tests.streams import MASTER, LiveStream, cancel_active, flink_run, new_topic, sessions, wait_for, wait_until
from tests.test_flink import group_name

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
GAP_S = 3  # the stream's 60 s gaps, 20 times faster
ARGS = ("--gap-seconds", str(GAP_S), "--allowed-lateness-seconds", "300")


@pytest.fixture
def rest():
    client = FlinkRest(MASTER)
    try:
        client.overview()
    except ConnectionError as e:
        pytest.fail(f"no Flink cluster at {MASTER}; start it with scripts/services.sh up flink ({e})")
    yield client
    cancel_active(client)
    subprocess.run([ROOT / "scripts/flink.sh", "up"], check=True, capture_output=True)  # whatever a test killed


def stream_with_fault(rest, store, capsys, redis_url, fault) -> tuple[list[dict], list[dict]]:
    """Runs a ~60 s live stream through the job, calls fault(job, topic, group) a third of the way
    in, and returns (expected, stored) sessions once they match or time runs out."""
    topic, group = new_topic(partitions=2), group_name()
    job = flink_run(capsys, topic, redis_url, group, *ARGS)
    stream = LiveStream(topic, users=60, seed=11, speedup=20, gap_s=60).start()
    wait_until(lambda: len(stream.events) > 400, 60, "a third of the stream sent")
    wait_until(lambda: rest.checkpoints(job)["counts"]["completed"] >= 1, 60, "a completed checkpoint")
    fault(job, topic, group)
    events = stream.join()
    expected = reference_sessions(events, GAP_S * 1000, bot_threshold=100)
    wait_for(lambda: sessions(store), expected, 240, "the export to equal the reference")
    return expected, sessions(store)


def test_taskmanager_killed_mid_stream(rest, redis_url, store, capsys):
    def kill_taskmanager(job, topic, group):
        pid = int(Path(os.environ["SPECTATOR_FLINK_TASKMANAGER_PIDFILE"]).read_text())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: rest.job(job)["state"] != "RUNNING", 60, "Flink to notice the lost TaskManager")
        time.sleep(3)
        subprocess.run([ROOT / "scripts/flink.sh", "up"], check=True, capture_output=True)
        wait_until(lambda: rest.job(job)["state"] == "RUNNING", 120, "the job to run again")

    stream_with_fault(rest, store, capsys, redis_url, kill_taskmanager)


def test_stop_with_savepoint_then_resume(rest, redis_url, store, capsys):
    def stop_and_resume(job, topic, group):
        capsys.readouterr()
        assert main(["flink", "stop", job]) == 0
        savepoint = capsys.readouterr().out.split("with a savepoint at ")[1].split()[0]
        assert rest.job(job)["state"] == "FINISHED"
        time.sleep(3)  # the stream goes on meanwhile
        flink_run(capsys, topic, redis_url, group, *ARGS)
        # The resumed job was told to start from that savepoint (spectator run says so on stderr).
        restored = rest.checkpoints(newest_job(rest, group))["latest"]["restored"]
        assert restored["external_path"] == savepoint and restored["is_savepoint"]

    stream_with_fault(rest, store, capsys, redis_url, stop_and_resume)


def test_cancel_then_restart_resumes_from_the_kept_checkpoint(rest, redis_url, store, capsys):
    def cancel_and_restart(job, topic, group):
        assert main(["flink", "cancel", job]) == 0
        kept = rest.latest_checkpoint(job)
        time.sleep(3)
        flink_run(capsys, topic, redis_url, group, *ARGS)
        restored = rest.checkpoints(newest_job(rest, group))["latest"]["restored"]
        assert restored["external_path"] == kept

    stream_with_fault(rest, store, capsys, redis_url, cancel_and_restart)


def newest_job(rest: FlinkRest, group: str) -> str:
    return next(j["jid"] for j in rest.jobs() if j["name"] == f"spectator-{group}")
