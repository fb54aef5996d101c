"""services/kafka against a real broker of its own, on free ports: what it acknowledged survives a kill."""

from __future__ import annotations

import os
import signal

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services import KafkaBroker
from services.base import port_open
from tests.support.ports import free_port
from tests.support.streams import wait_until


def broker_port() -> int:
    """A free port whose next one, the controller's, is free too."""
    while True:
        port = free_port()
        if port < 65535 and not port_open(port + 1):
            return port


def test_a_broker_killed_and_started_again_keeps_its_topics(tmp_path):
    broker = KafkaBroker(broker_port(), home=tmp_path / "kafka")
    broker.up()
    try:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        producer.send("kept", b"acknowledged").get(timeout=60)
        producer.close()
        pid = broker.process.pid()
        assert broker.status().startswith(f"kafka: running, pid {pid}, bootstrap {broker.bootstrap}")
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: not broker.running(), 30, "the killed server to be gone", every_s=0.05)
        broker.up()
        assert broker.process.pid() != pid
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        kept = TopicPartition("kept", 0)
        consumer.assign([kept])
        consumer.seek_to_beginning()
        records = consumer.poll(timeout_ms=60_000, max_records=1)
        consumer.close()
        assert [r.value for r in records.get(kept, [])] == [b"acknowledged"]
    finally:
        broker.down()
    assert not broker.running() and broker.status() == f"kafka: stopped (port {broker.port})"


def test_storage_takes_a_cluster_id_that_starts_with_a_dash(tmp_path):
    """One random id in 64 does; `-t -XIG…` made the format fail (a flake of the secured broker's tests)."""
    broker = KafkaBroker(broker_port(), home=tmp_path / "kafka")
    broker.write_config()
    broker.format_storage("-XIGLM3ZQ0WnWmKj_KRjCg")
    assert "cluster.id=-XIGLM3ZQ0WnWmKj_KRjCg" in (broker.data / "meta.properties").read_text()
