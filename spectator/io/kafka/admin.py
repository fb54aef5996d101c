"""Small Kafka admin helpers (kafka-python) that turn broker trouble into one-line errors."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, NodeNotReadyError, TopicAlreadyExistsError, UnknownBrokerIdError

from spectator.io.kafka.config import python_client_args

BOOTSTRAP_TIMEOUT_MS = 10_000
RETENTION_BYTES = 2**30  # a partition
VISIBLE_WAIT_S = 5.0


class BrokerUnavailable(ConnectionError):
    pass


class _LastCause(logging.Handler):
    """kafka-python logs why a connection failed (a refused password, a TLS handshake) and then
    raises only a bootstrap timeout; this keeps the logged cause, an authentication failure first."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.cause = ""

    def emit(self, record: logging.LogRecord) -> None:
        found = re.findall(r"(\w+Error): ([^()]+?)\)?$", record.getMessage())
        if found and "Authentication" not in self.cause:
            kind, text = found[-1]
            self.cause = text if text.startswith(kind) else f"{kind}: {text}"


@contextlib.contextmanager
def connecting(bootstrap: str) -> Iterator[None]:
    """A failed connection as BrokerUnavailable, with the cause kafka-python only logged."""
    seen, logger = _LastCause(), logging.getLogger("kafka")
    saved = logger.level, logger.propagate
    if logger.getEffectiveLevel() > logging.ERROR:  # the CLI's quiet default: hear the cause, print nothing
        logger.setLevel(logging.ERROR)
        logger.propagate = False
    logger.addHandler(seen)
    try:
        yield
    except KafkaError as e:
        cause = f" (last error: {seen.cause})" if seen.cause and seen.cause not in str(e) else ""
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap}: {e}{cause}") from None
    finally:
        logger.removeHandler(seen)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _admin(bootstrap: str, config: dict[str, str] | None) -> KafkaAdminClient:
    with connecting(bootstrap):
        return KafkaAdminClient(
            bootstrap_servers=bootstrap,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            client_id="spectator-admin",
            **python_client_args(config or {}),
        )


def ensure_topic(bootstrap: str, topic: str, partitions: int, config: dict[str, str] | None = None) -> bool:
    """Creates the topic if it is missing, and returns once the brokers serve it; True if it was created."""
    deadline = time.monotonic() + VISIBLE_WAIT_S
    while True:
        try:
            return _ensure_topic(bootstrap, topic, partitions, config)
        except (UnknownBrokerIdError, NodeNotReadyError):
            # A cluster that just started may name, as the broker to ask, one its metadata does not
            # list yet (seen in CI: UnknownBrokerIdError 3); a new client reads the metadata again.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _ensure_topic(bootstrap: str, topic: str, partitions: int, config: dict[str, str] | None) -> bool:
    admin = _admin(bootstrap, config)
    try:
        if topic in admin.list_topics():
            return False
        # Records are stamped with their events' times, which may be older than any retention by
        # age: keep this topic's records by size instead.
        configs = {"retention.ms": "-1", "retention.bytes": str(RETENTION_BYTES)}
        # The brokers' own default.replication.factor (-1, Kafka 2.4+): 3 on the project's cluster, where
        # with min.insync.replicas 2 and acks=all a written record survives the loss of a broker. Not
        # the brokers alive now: a topic made while one is down would keep one copy fewer for good.
        new = NewTopic(topic, num_partitions=partitions, replication_factor=-1, topic_configs=configs)
        admin.create_topics([new])
        _wait_until_listed(admin, [topic])
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()


def _wait_until_listed(admin: KafkaAdminClient, topics: list[str], wait_s: float = VISIBLE_WAIT_S) -> list[str]:
    """The topics still missing from the metadata after up to `wait_s`. On a cluster, a topic just
    created is missing for a moment from what the other brokers answer (measured: 6 times in 10)."""
    deadline = time.monotonic() + wait_s
    while True:
        listed = set(admin.list_topics())
        missing = [t for t in topics if t not in listed]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.2)


def missing_topics(bootstrap: str, topics: list[str], config: dict[str, str] | None = None) -> list[str]:
    """The topics the brokers do not serve, asked again for a few seconds: another tool may have just
    created one."""
    admin = _admin(bootstrap, config)
    try:
        return _wait_until_listed(admin, topics)
    finally:
        admin.close()
