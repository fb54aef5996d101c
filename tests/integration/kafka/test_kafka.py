"""Kafka end to end: a real broker and the real KafkaIO expansion service, both started by the kafka_service fixture."""

import json
import os
import random
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from spectator.cli import main
from spectator.io.kafka.admin import ensure_topic
from spectator.pipeline.build import run
from spectator.pipeline.options import parse_options
from tests.support.data import BAD_LINES, GAP_S, PANE_FIELDS, edge_case_events
from tests.support.redis import export
from tests.support.reference import reference_sessions
from tests.support.streams import committed

BOOTSTRAP = os.environ.get("SPECTATOR_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
JAR = os.environ.get("SPECTATOR_EXPANSION_JAR", "")


@pytest.fixture(scope="module")
def broker(kafka_service):
    return kafka_service.bootstrap


def produce_file(tmp_path, topic, lines):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["produce", "--bootstrap-servers", BOOTSTRAP, "--topic", topic, "--partitions", "2", "--input", str(path)]
    assert main(argv) == 0


def run_argv(topic, redis_url, group):
    return ["run", "--bootstrap-servers", BOOTSTRAP, "--topic", topic, "--consumer-group", group,
            "--redis-url", redis_url, "--gap-seconds", str(GAP_S), "--bot-threshold", "50",
            "--expansion-service", JAR, "--max-read-time-seconds", "3"]  # fmt: skip


def record_at(topic, origin):
    """The value stored in Kafka at topic/partition@offset."""
    partition, offset = origin.removeprefix(f"{topic}/").split("@")
    tp = TopicPartition(topic, int(partition))
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    try:
        consumer.assign([tp])
        consumer.seek(tp, int(offset))
        batch = consumer.poll(timeout_ms=10_000, max_records=1)
        return batch[tp][0].value
    finally:
        consumer.close()


def test_kafka_replay_equals_reference_and_reads_each_event_once(broker, tmp_path, redis_url, store, capsys):
    topic, group = f"clicks-{uuid.uuid4().hex[:8]}", "spectator-test"
    events = edge_case_events(seed=4)
    lines = [json.dumps(e, ensure_ascii=False) for e in events] + BAD_LINES
    random.Random(2).shuffle(lines)  # bad records and out-of-order events interleaved
    produce_file(tmp_path, topic, lines)

    assert main(run_argv(topic, redis_url, group)) == 0
    assert f"replayed {len(events):,} events" in capsys.readouterr().out
    got = [{k: v for k, v in r.items() if k not in PANE_FIELDS} for r in export(redis_url, capsys)]
    assert got == reference_sessions(events, GAP_S * 1000, bot_threshold=50)

    dead = store.deadletters(100)
    assert sorted(d["payload"] for d in dead) == sorted(BAD_LINES)
    for d in dead:  # each dead letter names the partition and offset it came from
        assert record_at(topic, d["origin"]).decode() == d["payload"]
    assert sum(committed(group, topic).values()) == len(lines)

    before = export(redis_url, capsys)
    assert main(run_argv(topic, redis_url, group)) == 0
    assert "replayed 0 events" in capsys.readouterr().out
    assert export(redis_url, capsys) == before and store.deadletter_total() == len(BAD_LINES)


def test_failed_run_commits_no_offsets(broker, tmp_path, redis_url, capsys):
    topic, group = f"clicks-{uuid.uuid4().hex[:8]}", "spectator-fail"
    events = edge_case_events(seed=5)
    produce_file(tmp_path, topic, [json.dumps(e) for e in events])
    argv = [*run_argv(topic, "redis://127.0.0.1:1/0", group)[1:-2], "--redis-retry-seconds", "0"]
    argv += ["--max-records", str(len(events))]  # the run must read them all, however slow the start
    with pytest.raises(Exception, match=r"Redis at redis://127\.0\.0\.1:1/0 unreachable"):
        run(parse_options(argv))
    assert committed(group, topic) == {}

    assert main(run_argv(topic, redis_url, group)) == 0
    assert f"replayed {len(events):,} events" in capsys.readouterr().out


def test_unreachable_broker_or_missing_topic_is_one_line(broker, redis_url, capsys):
    assert main(["produce", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t", "--users", "1"]) == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in capsys.readouterr().err
    assert main(run_argv("no-such-topic", redis_url, "g")) == 2
    assert "no-such-topic do not exist" in capsys.readouterr().err


def test_created_topics_keep_old_events(broker):
    # Records carry their events' times: retention by age would delete a replayed topic.
    topic = f"clicks-{uuid.uuid4().hex[:8]}"
    assert ensure_topic(BOOTSTRAP, topic, 1)
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
    finally:
        admin.close()
    assert configs["retention.ms"]["value"] == "-1" and configs["retention.bytes"]["value"] == str(2**30)
