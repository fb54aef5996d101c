"""What a run will do, decided before it runs: windowing, refused flags, and the local engine."""

import pytest

from spectator.core.errors import UsageError
from spectator.pipeline.build import plan
from spectator.pipeline.options import SpectatorOptions, expansion_service, parse_options

KAFKA = ["--bootstrap-servers", "127.0.0.1:9", "--topic", "t"]


@pytest.mark.parametrize(
    "flags, windowing",
    [
        (["--input", "f.jsonl"], "fold"),
        (["--input", "f.jsonl", "--windowing", "sessions"], "sessions"),
        ([*KAFKA], "fold"),
        ([*KAFKA, "--runner", "FlinkRunner"], "sessions"),
        ([*KAFKA, "--runner", "FlinkRunner", "--windowing", "sessions"], "sessions"),
        (["--input", "f.jsonl", "--streaming"], "sessions"),
        (["--input", "f.jsonl", "--windowing", "sessions", "--allowed-lateness-seconds", "5"], "sessions"),
        ([*KAFKA, "--runner", "FlinkRunner", "--streaming", "--checkpointing-interval", "500"], "sessions"),
    ],
)
def test_auto_keeps_the_fold_for_bounded_runs_and_windows_for_streaming_ones(flags, windowing):
    assert plan(parse_options(flags)).windowing == windowing


@pytest.mark.parametrize(
    "flags, message",
    [
        ([*KAFKA, "--runner", "FlinkRunner", "--windowing", "fold"], "--windowing fold needs a bounded run"),
        (["--input", "f.jsonl", "--allowed-lateness-seconds", "60"], "--allowed-lateness-seconds: this run would"),
        (["--input", "f.jsonl", "--windowing", "fold", "--early-firing-seconds", "0"], "--early-firing-seconds:"),
        (["--input", "f.jsonl", "--windowing", "sessions", "--max-records", "5"], "a file is read whole"),
        ([*KAFKA, "--checkpointing-interval", "1000"], "it is a FlinkRunner setting"),
        (["--input", "f.jsonl", "--windowing", "sessions", "--state-backend", "rocksdb"], "FlinkRunner setting"),
        (["--input", "f.jsonl", "--windowing", "sideways"], "invalid choice: 'sideways'"),
        ([*KAFKA, "--workers", "2"], "only a bounded DirectRunner replay of files"),
        (["--input", "f", "--windowing", "sessions", "--early-firing-seconds", "1", "--workers", "2"], "without early"),
        ([*KAFKA, "--streaming"], "the DirectRunner reads Kafka bounded only"),
        ([*KAFKA, "--runner", "direct", "--streaming"], "the DirectRunner reads Kafka bounded only"),
        (["--input", "f.jsonl", "--streaming", "--workers", "2"], "--workers: this run would ignore it"),
    ],
)
def test_a_flag_the_run_would_ignore_is_refused_in_one_line(flags, message):
    with pytest.raises(UsageError) as caught:
        plan(parse_options(flags))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--input", "f.jsonl"], "/local/kafka.jar"),
        ([*KAFKA], "/local/kafka.jar"),
        ([*KAFKA, "--runner", "DataflowRunner", "--dry_run=True"], "/local/kafka.jar"),
        ([*KAFKA, "--runner", "DataflowRunner"], None),  # a submitted job would stage the thin jar alone
        ([*KAFKA, "--runner", "DataflowRunner", "--expansion-service", "h:1"], "h:1"),
    ],
)
def test_the_local_expansion_jar_serves_all_but_a_submitted_dataflow_job(monkeypatch, flags, expected):
    monkeypatch.delenv("SPECTATOR_EXPANSION_SERVICE", raising=False)
    monkeypatch.setenv("SPECTATOR_EXPANSION_JAR", "/local/kafka.jar")
    assert expansion_service(parse_options(flags).view_as(SpectatorOptions)) == expected
