"""Shared fixtures: the real Redis, Kafka and Flink, started through services/ when a test first
needs one (tests/integration/kafka and flink ask for theirs in their own conftest)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from services import FlinkCluster, KafkaBroker, KafkaCluster, RedisCluster, RedisServer, environment

# What `eval "$(scripts/services.sh env redis kafka flink)"` would export, unless it was: the options
# and the support modules below read these.
for _name, _value in environment().items():
    os.environ.setdefault(_name, _value)

from spectator.flink.rest import FlinkRest  # noqa: E402
from spectator.io.redis.store import SessionStore  # noqa: E402
from tests.support.redis import flushed_cluster, flushed_database  # noqa: E402
from tests.support.services import running  # noqa: E402
from tests.support.streams import MASTER, cancel_active, flink_up  # noqa: E402


@pytest.fixture(scope="session")
def redis_service() -> Iterator[RedisServer]:
    with running(RedisServer()) as service:
        yield service


@pytest.fixture(scope="session")
def redis_cluster_service() -> Iterator[RedisCluster]:
    with running(RedisCluster()) as service:
        yield service


@pytest.fixture
def cluster_url(redis_cluster_service: RedisCluster) -> Iterator[str]:
    """The real Redis Cluster (3 masters, 3 replicas), empty."""
    with flushed_cluster(redis_cluster_service.url) as url:
        yield url


@pytest.fixture(scope="session")
def kafka_service() -> Iterator[KafkaBroker]:
    with running(KafkaBroker()) as service:
        yield service


@pytest.fixture(scope="session")
def kafka_cluster_service() -> Iterator[KafkaCluster]:
    with running(KafkaCluster()) as service:
        yield service


@pytest.fixture(scope="session")
def flink_service() -> Iterator[FlinkCluster]:
    with running(FlinkCluster()) as service:
        yield service


@pytest.fixture
def redis_url(redis_service) -> Iterator[str]:
    """A clean database of the real Redis."""
    with flushed_database() as url:
        yield url


@pytest.fixture
def store(redis_url: str) -> SessionStore:
    return SessionStore(redis.Redis.from_url(redis_url))


@pytest.fixture
def rest(flink_service):
    """The REST client of the cluster; afterwards, no job of ours runs and any piece a test stopped
    runs again."""
    client = FlinkRest(MASTER)
    yield client
    flink_up()
    cancel_active(client)
