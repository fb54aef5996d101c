"""Shared fixtures. Integration tests use the real Redis that run_tests.sh starts."""

from __future__ import annotations

import os

import pytest
import redis

from spectator.store import SessionStore

REDIS_URL = os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0")


@pytest.fixture
def redis_url() -> str:
    """A clean database of the real Redis; an unreachable Redis is an error, never a skip."""
    url = REDIS_URL.rsplit("/", 1)[0] + "/1"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.ConnectionError as e:
        pytest.fail(f"Redis at {url} is not running; start it with scripts/services.sh up redis ({e})")
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def store(redis_url: str) -> SessionStore:
    return SessionStore(redis.Redis.from_url(redis_url))
