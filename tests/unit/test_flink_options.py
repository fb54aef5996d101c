"""The FlinkRunner's option handling, without a cluster: defaults, refusals, one-line errors."""

import os

import pytest
from apache_beam.options.pipeline_options import FlinkRunnerOptions, PortableOptions, StandardOptions

from spectator.cli import main
from spectator.core.errors import UsageError
from spectator.flink.submit import _complete, newest_on_disk
from spectator.pipeline.options import FlinkOptions, parse_options

KAFKA = ["--runner", "FlinkRunner", "--bootstrap-servers", "127.0.0.1:9092", "--topic", "t"]


@pytest.fixture
def cluster_env(monkeypatch):
    for name, value in {
        "SPECTATOR_FLINK_MASTER": "127.0.0.1:8081",
        "SPECTATOR_FLINK_JOB_ENDPOINT": "127.0.0.1:8099",
        "SPECTATOR_FLINK_WORKER_POOL": "127.0.0.1:50000",
        "SPECTATOR_FLINK_EXPANSION_SERVICE": "127.0.0.1:8097",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SPECTATOR_EXPANSION_SERVICE", raising=False)


def test_defaults_come_from_the_cluster_env(cluster_env):
    options = parse_options([*KAFKA, "--consumer-group", "g1", "--checkpointing-interval", "5000"])
    _complete(options)
    assert options.view_as(StandardOptions).streaming
    assert options.view_as(FlinkRunnerOptions).flink_master == "127.0.0.1:8081"
    portable = options.view_as(PortableOptions)
    assert (portable.job_endpoint, portable.environment_type, portable.environment_config) == (
        "127.0.0.1:8099",
        "EXTERNAL",
        "127.0.0.1:50000",
    )
    flink = options.view_as(FlinkOptions)
    assert flink.checkpointing_interval == 5000 and flink.max_bundle_size == 10_000
    assert flink.externalized_checkpoints_enabled and flink.retain_externalized_checkpoints_on_cancellation
    assert flink.finish_bundle_before_checkpointing  # else a checkpoint sends a bundle behind its watermark
    assert flink.object_reuse  # else every element is copied through its coder between chained operators
    assert options.view_as(FlinkRunnerOptions).max_parallelism == 128
    assert options.get_all_options()["job_name"] == "spectator-g1"


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--runner", "FlinkRunner", "--input", "f.jsonl"], "read Kafka with --bootstrap-servers"),
        ([*KAFKA, "--expansion-service", "/x/kafka.jar"], "EMBEDDED expansion service"),
        ([*KAFKA, "--parallelism", "8", "--max-parallelism", "4"], "--parallelism 8 exceeds --max-parallelism 4"),
    ],
)
def test_refusals(cluster_env, argv, needle):
    with pytest.raises(UsageError, match=needle):
        _complete(parse_options(argv))


def test_missing_cluster_env_says_how_to_start_one(monkeypatch):
    monkeypatch.delenv("SPECTATOR_FLINK_MASTER", raising=False)
    with pytest.raises(UsageError, match=r"scripts/flink.sh up"):
        _complete(parse_options(KAFKA))


def test_dashed_flags_and_their_errors_name_what_was_typed(capsys):
    options = parse_options([*KAFKA, "--max-bundle-size", "500", "--flink-master", "h:1", "--detach",
                             "--max-bundle-time-mills", "200", "--state-backend", "rocksdb"])  # fmt: skip
    flink = options.view_as(FlinkOptions)
    assert (flink.max_bundle_size, flink.max_bundle_time_mills, flink.state_backend, flink.detach) == (
        500, 200, "rocksdb", True)  # fmt: skip
    assert options.view_as(FlinkRunnerOptions).flink_master == "h:1"
    assert main(["run", *KAFKA, "--checkpoint-every", "5"]) == 2
    assert capsys.readouterr().err.strip() == "error: unrecognized arguments: --checkpoint-every 5"
    assert main(["run", *KAFKA, "--state-backend", "memory"]) == 2
    assert "invalid choice: 'memory'" in capsys.readouterr().err


def test_the_newest_checkpoint_or_savepoint_on_disk_is_the_resume_point(tmp_path):
    for i, path in enumerate(["job1/chk-3", "job2/chk-7", "savepoint-ab12cd-0123", "job2/chk-8"]):
        (tmp_path / path).mkdir(parents=True)
        (tmp_path / path / "_metadata").write_bytes(b"")
        os.utime(tmp_path / path / "_metadata", (1000 + i, 1000 + i))
    (tmp_path / "job2/chk-9").mkdir()  # a checkpoint still being written: no _metadata yet
    assert newest_on_disk(f"file://{tmp_path}") == (f"file:{tmp_path}/job2/chk-8", 1_003_000)
    os.utime(tmp_path / "savepoint-ab12cd-0123/_metadata", (2000, 2000))
    assert newest_on_disk(f"file://{tmp_path}")[0] == f"file:{tmp_path}/savepoint-ab12cd-0123"
    assert newest_on_disk("s3://bucket/x") is None
