"""Redis for the tests: the real server's URL, throwaway servers, and writing and reading through the product."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import apache_beam as beam
import pytest
import redis

from services import RedisServer
from spectator.cli import main
from spectator.io.redis.write import WriteSessionsToRedis
from tests.support.pipelines import local_pipeline

REDIS_URL = os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0")
# The database the integration tests use, flushed before and after each user of it.
TEST_DB_URL = REDIS_URL.rsplit("/", 1)[0] + "/1"


@contextmanager
def redis_server(tmp_path, port: int, *flags):
    """A throwaway real redis-server on loopback with extra flags, listening on `port` (plain or
    TLS, as the flags say) before the block runs."""
    server = RedisServer(port, home=tmp_path, flags=flags)
    server.up()
    try:
        yield
    finally:
        server.down()


def write(redis_url, records, prefix="spectator:", **kwargs):
    with local_pipeline() as p:
        _ = p | beam.Create(records, reshuffle=False) | WriteSessionsToRedis(redis_url, prefix, **kwargs)


def export(redis_url, capsys):
    capsys.readouterr()
    assert main(["export", "--redis-url", redis_url]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@contextmanager
def flushed_database() -> Iterator[str]:
    """TEST_DB_URL, empty, for as long as the block runs; an unreachable Redis fails, never skips."""
    client = redis.Redis.from_url(TEST_DB_URL)
    try:
        client.flushdb()
    except redis.ConnectionError as e:
        pytest.fail(f"Redis at {TEST_DB_URL} is not running; the redis_service fixture starts it ({e})")
    try:
        yield TEST_DB_URL
    finally:
        client.flushdb()
        client.close()


@contextmanager
def flushed_cluster(url: str) -> Iterator[str]:
    """The Redis Cluster at `url`, empty on every master, for as long as the block runs."""

    def flush() -> None:
        client = redis.RedisCluster.from_url(url)  # new: the masters may have changed (a test kills one)
        try:
            client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        finally:
            client.close()

    flush()
    try:
        yield url
    finally:
        flush()
