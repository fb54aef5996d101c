"""Redis for the tests: the real server's URL, throwaway servers, and writing and reading through the product."""

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import apache_beam as beam
import pytest
import redis

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
    server = [shutil.which("redis-server"), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path), *flags]
    proc = subprocess.Popen(server, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"redis-server {' '.join(flags)} exited with {proc.returncode}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"redis-server did not listen on {port} within 30 s"
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait()


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
        pytest.fail(f"Redis at {TEST_DB_URL} is not running; start it with scripts/services.sh up redis ({e})")
    try:
        yield TEST_DB_URL
    finally:
        client.flushdb()
        client.close()
