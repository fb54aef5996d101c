"""The Dataflow job built offline (--dry_run), Kafka expansion included, checked on its proto."""

import json
import os

import apache_beam as beam
import pytest
from apache_beam.portability.api import beam_runner_api_pb2

from spectator.cli import main
from spectator.dataflow.validate import dry_run, summary

JAR = os.environ.get("SPECTATOR_EXPANSION_JAR", "")
FLAGS = [
    "--runner", "DataflowRunner", "--project", "demo-proj", "--region", "europe-west1",
    "--temp_location", "gs://demo-bucket/tmp", "--bootstrap-servers", "10.0.0.5:9092", "--topic", "clicks",
    "--redis-url", "redis://:secret@10.0.0.6:6379/0", "--gap-seconds", "600", "--allowed-lateness-seconds", "900",
    "--early-firing-seconds", "7", "--kafka-config", "security.protocol=SASL_SSL",
    "--kafka-config", 'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
    'username="spectator" password="secret";', "--kafka-config", "sasl.mechanism=PLAIN",
]  # fmt: skip


@pytest.fixture(scope="module")
def job():
    """No --expansion-service: the jar that scripts/kafka.sh env names, with nothing downloaded."""
    if not os.path.exists(JAR):
        pytest.fail(f'no expansion service jar at {JAR!r}; eval "$(scripts/kafka.sh env)"')
    return dry_run(FLAGS)


def sessions_strategy(components):
    """The windowing of the PCollection that enters the Sessionize GroupByKey."""
    for t in components.transforms.values():
        if t.spec.urn == "beam:transform:group_by_key:v1" and t.unique_name.startswith("Sessionize/"):
            pcoll = components.pcollections[next(iter(t.inputs.values()))]
            return components.windowing_strategies[pcoll.windowing_strategy_id]
    raise AssertionError("no Sessionize GroupByKey in the job")


def test_job_proto(job):
    built, _ = job
    components = built.proto_pipeline.components
    ws = sessions_strategy(components)
    assert ws.window_fn.urn == "beam:window_fn:session_windows:v1"
    assert summary(*job)["windowing"][0]["gap_seconds"] == 600
    assert ws.allowed_lateness == 900_000
    assert ws.accumulation_mode == beam_runner_api_pb2.AccumulationMode.ACCUMULATING
    trigger = ws.trigger.after_end_of_window
    assert trigger.early_firings.after_processing_time.timestamp_transforms[0].delay.delay_millis == 7000
    assert trigger.late_firings.element_count.element_count == 1
    assert str(built.proto.type) == "JOB_TYPE_STREAMING"

    envs = components.environments
    assert all(env.urn == "beam:env:docker:v1" for env in envs.values())
    image_of = {i: beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image for i, env in envs.items()}
    read = [
        t
        for t in components.transforms.values()
        if t.unique_name.startswith("ReadClickEvents/ReadKafkaEvents/ReadFromKafka/")
    ]
    java_envs = {t.environment_id for t in read if t.environment_id}
    assert java_envs and all(image_of[e].startswith(f"apache/beam_java17_sdk:{beam.__version__}") for e in java_envs)
    parse = next(t for t in components.transforms.values() if t.unique_name == "ParseEvents/Parse")
    assert f"beam_python3.11_sdk:{beam.__version__}" in image_of[parse.environment_id]
    assert any("KafkaIO.Read" in t.unique_name for t in read)


def test_summary_redacts_and_lists_options(job):
    s = summary(*job)
    assert s["options"]["streaming"] is True and s["options"]["setup_file"].endswith("setup.py")
    assert "secret" not in json.dumps(s, default=str)
    shown = ["security.protocol=SASL_SSL", "sasl.jaas.config=***", "sasl.mechanism=PLAIN"]
    assert s["options"]["kafka_config"] == shown
    assert s["kafka"] == ["ReadClickEvents/ReadKafkaEvents/ReadFromKafka"]


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"--project": None}, "--project is required"),
        ({"--region": None}, "--region is required"),
        ({"--temp_location": "/tmp/x"}, "--temp_location must be a gs:// path"),
        ({"--redis-url": "redis://localhost:6379/0"}, "Dataflow workers cannot reach"),
        ({"--redis-url": "redis://127.0.0.1:6379/0"}, "Dataflow workers cannot reach"),
        ({"--topic": None}, "--bootstrap-servers and --topic"),
    ],
)
def test_bad_dataflow_options_fail_before_staging(change, needle, capsys):
    flags = list(FLAGS)
    for flag, value in change.items():
        i = flags.index(flag)
        flags[i : i + 2] = [] if value is None else [flag, value]
    assert main(["validate", *flags]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
