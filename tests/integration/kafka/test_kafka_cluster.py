"""The project's clients against a real Kafka cluster (3 KRaft nodes, replication factor 3,
min.insync.replicas 2; services/kafka/cluster.py): a broker killed while records are produced loses
none of them and writes none twice."""

from __future__ import annotations

import os
import signal
import time
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from spectator.io.kafka.admin import ensure_topic
from spectator.io.kafka.produce import produce
from tests.support.streams import wait_until


def test_a_broker_killed_while_producing_loses_and_doubles_nothing(kafka_cluster_service):
    bootstrap, topic = kafka_cluster_service.bootstrap, f"cluster-{uuid.uuid4().hex[:8]}"
    assert ensure_topic(bootstrap, topic, 2)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    # The metadata a broker serves lags the topic's creation by a moment.
    partitions = wait_until(lambda: admin.describe_topics([topic])[0]["partitions"], 30, "the topic's partitions")
    admin.close()
    assert sorted(len(p["replica_nodes"]) for p in partitions) == [3, 3]

    victim = kafka_cluster_service.nodes[partitions[0]["leader_id"] - 1]  # node ids are 1, 2, 3
    count = 6000

    def records():
        for i in range(count):
            if i == count // 3:
                os.killpg(victim.process.pid(), signal.SIGKILL)  # a partition leader, mid-stream
            yield f"k{i % 50}", f'{{"n": {i}}}'.encode(), None
            if i % 100 == 0:
                time.sleep(0.01)

    assert produce(bootstrap, topic, records()) == count  # acks=all: every send acknowledged by 2 replicas
    kafka_cluster_service.up()  # the node rejoins and catches up

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in (0, 1)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    seen: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(seen) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=1000).values():
            seen.extend(r.value for r in batch)
    consumer.close()
    assert len(seen) == count and len(set(seen)) == count
