"""The streaming job on Flink against real clusters: writing to a Redis Cluster (3 masters, 3
replicas), the reference result, and a master killed with kill -9 mid-stream loses and doubles
nothing; reading a Kafka cluster (3 brokers, replication factor 3), one broker killed mid-stream."""

from __future__ import annotations

import json
import os
import random
import signal
import time

from kafka import KafkaAdminClient

from spectator.io.kafka.produce import produce, read_jsonl
from spectator.io.redis.store import SessionStore, connect
from tests.support.data import BAD_LINES, GAP_S, edge_case_events
from tests.support.reference import reference_sessions
from tests.support.streams import (
    BOOTSTRAP,
    assert_consistent,
    flink_run,
    group_name,
    new_topic,
    sessions,
    stream_with_fault,
    wait_for,
)


def test_a_stream_into_the_cluster_equals_the_reference(rest, cluster_url, capsys, tmp_path):
    store = SessionStore(connect(cluster_url))
    topic, group = new_topic(partitions=2), group_name()
    events = edge_case_events(seed=6, base_ms=int(time.time() * 1000) - 50 * 60_000)
    flink_run(capsys, topic, cluster_url, group, "--gap-seconds", str(GAP_S), "--bot-threshold", "50",
              "--allowed-lateness-seconds", "7200")  # fmt: skip
    lines = [json.dumps(e, ensure_ascii=False) for e in events] + BAD_LINES
    random.Random(2).shuffle(lines)
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    produce(BOOTSTRAP, topic, read_jsonl(str(tmp_path / "events.jsonl")))
    expected = reference_sessions(events, GAP_S * 1000, bot_threshold=50)
    wait_for(lambda: sessions(store), expected, 180, "the export to equal the reference")
    wait_for(lambda: store.deadletter_total(), len(BAD_LINES), 60, "every dead letter")
    assert_consistent(store)


def test_a_master_killed_mid_stream(rest, redis_cluster_service, cluster_url, capsys):
    store = SessionStore(connect(cluster_url))

    def kill_master(job, topic, group):
        victim = redis_cluster_service.masters()[0]
        os.killpg(redis_cluster_service.node(victim).process.pid(), signal.SIGKILL)
        time.sleep(5)  # its replica takes over meanwhile
        redis_cluster_service.up()  # the killed node rejoins, as a replica

    print("redis cluster master kill -9:", stream_with_fault(rest, store, capsys, cluster_url, kill_master))


def test_a_kafka_broker_killed_mid_stream(rest, redis_url, store, kafka_cluster_service, capsys):
    bootstrap = kafka_cluster_service.bootstrap

    def kill_a_leader(job, topic, group):
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        leader = admin.describe_topics([topic])[0]["partitions"][0]["leader_id"]
        admin.close()
        os.killpg(kafka_cluster_service.nodes[leader - 1].process.pid(), signal.SIGKILL)  # node ids are 1, 2, 3
        time.sleep(5)
        kafka_cluster_service.up()  # the node rejoins and catches up

    figures = stream_with_fault(rest, store, capsys, redis_url, kill_a_leader, bootstrap=bootstrap)
    print("kafka cluster, a partition leader kill -9:", figures)
