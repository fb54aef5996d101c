"""services/redis.py against a real redis-server of its own, on a free port."""

from __future__ import annotations

import os
import signal
import socket

import pytest
import redis

from services import RedisServer
from services.base import ServiceError
from tests.support.ports import free_port
from tests.support.streams import wait_until


def test_up_is_ready_reused_and_keeps_acknowledged_writes_through_a_kill(tmp_path):
    server = RedisServer(free_port(), home=tmp_path)
    server.up()
    try:
        client = redis.Redis(port=server.port)
        client.set("k", "acknowledged")
        pid = server.process.pid()
        server.up()  # already running: the same process
        assert server.process.pid() == pid and server.status() == f"redis: running, pid {pid}, {server.url}"
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: not server.running(), 30, "the killed server to be gone", every_s=0.05)
        client.close()
        server.up()  # what a supervisor would do
        assert server.process.pid() != pid
        assert redis.Redis(port=server.port).get("k") == b"acknowledged"  # append-only file
    finally:
        server.down()
    assert not server.running() and server.status() == "redis: stopped"


def test_a_port_taken_by_another_process_is_refused_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = RedisServer(port, home=tmp_path)
        with pytest.raises(
            ServiceError, match=rf"^port {port} \(redis\) is taken by another process.*set SPECTATOR_REDIS_PORT$"
        ):
            server.up()
        assert not server.running()
