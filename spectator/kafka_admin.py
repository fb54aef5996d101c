"""Small Kafka admin helpers (kafka-python) that turn broker trouble into one-line errors."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

BOOTSTRAP_TIMEOUT_MS = 10_000
RETENTION_BYTES = 2**30  # a partition


class BrokerUnavailable(ConnectionError):
    pass


def _admin(bootstrap: str) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(
            bootstrap_servers=bootstrap, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, client_id="spectator-admin"
        )
    except KafkaError as e:
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap}: {e}") from None


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> bool:
    """Creates the topic if it is missing; True if it was created."""
    admin = _admin(bootstrap)
    try:
        if topic in admin.list_topics():
            return False
        # Records are stamped with their events' times, which may be older than any retention by
        # age: keep this topic's records by size instead.
        configs = {"retention.ms": "-1", "retention.bytes": str(RETENTION_BYTES)}
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1, topic_configs=configs)])
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()


def missing_topics(bootstrap: str, topics: list[str]) -> list[str]:
    admin = _admin(bootstrap)
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    return [t for t in topics if t not in existing]
