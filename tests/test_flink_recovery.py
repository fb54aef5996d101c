"""Planned stops without loss on the real Flink cluster: a steady live stream with out-of-order and
late events, the job stopped in the middle and started again, and at the end the Redis export equal
to the reference for the whole stream (nothing lost, nothing counted twice)."""

from __future__ import annotations

import time

import pytest

from spectator.cli import main
from tests.streams import STREAM_ARGS, flink_run, stream_with_fault

pytestmark = pytest.mark.integration


def newest_job(rest, group: str) -> str:
    return next(j["jid"] for j in rest.jobs() if j["name"] == f"spectator-{group}")


def test_stop_with_savepoint_then_resume(rest, redis_url, store, capsys):
    def stop_and_resume(job, topic, group):
        capsys.readouterr()
        assert main(["flink", "stop", job]) == 0
        savepoint = capsys.readouterr().out.split("with a savepoint at ")[1].split()[0]
        assert rest.job(job)["state"] == "FINISHED"
        time.sleep(3)  # the stream goes on meanwhile
        flink_run(capsys, topic, redis_url, group, *STREAM_ARGS)  # resumes from the savepoint by itself
        restored = rest.checkpoints(newest_job(rest, group))["latest"]["restored"]
        assert restored["external_path"] == savepoint and restored["is_savepoint"]

    print(stream_with_fault(rest, store, capsys, redis_url, stop_and_resume))


def test_cancel_then_restart_resumes_from_the_kept_checkpoint(rest, redis_url, store, capsys):
    def cancel_and_restart(job, topic, group):
        assert main(["flink", "cancel", job]) == 0
        kept = rest.latest_checkpoint(job)
        time.sleep(3)
        flink_run(capsys, topic, redis_url, group, *STREAM_ARGS)
        restored = rest.checkpoints(newest_job(rest, group))["latest"]["restored"]
        assert restored["external_path"] == kept

    print(stream_with_fault(rest, store, capsys, redis_url, cancel_and_restart))
