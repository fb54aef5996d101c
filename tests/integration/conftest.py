"""Shared fixtures. Integration tests use the real Redis that run_tests.sh starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from spectator.flink.rest import FlinkRest
from spectator.io.redis.store import SessionStore
from tests.support.redis import flushed_database
from tests.support.streams import MASTER, cancel_active, flink_up


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A clean database of the real Redis; an unreachable Redis is an error, never a skip."""
    with flushed_database() as url:
        yield url


@pytest.fixture
def store(redis_url: str) -> SessionStore:
    return SessionStore(redis.Redis.from_url(redis_url))


@pytest.fixture
def rest():
    """The REST client of the cluster run_tests.sh started; afterwards, no job of ours runs and any
    piece a test stopped runs again."""
    client = FlinkRest(MASTER)
    try:
        client.overview()
    except ConnectionError as e:
        pytest.fail(f"no Flink cluster at {MASTER}; start it with scripts/services.sh up flink ({e})")
    yield client
    flink_up()
    cancel_active(client)
