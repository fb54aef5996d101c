"""services/ without any service: process groups, pid files, locks, the pins, the config it writes,
and its command line. The real servers are started in tests/integration/*/test_service.py."""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import apache_beam
import pytest

from services import base
from services.base import Process, ServiceError, locked, wait_ready
from services.kafka.broker import KafkaBroker
from services.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECTATOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def group_members(pgid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_stop_ends_the_whole_process_group(tmp_path):
    process = Process("sleepers", tmp_path / "s.pid")
    pid = process.start(["sh", "-c", "sleep 300 & sleep 300"], tmp_path / "s.log")
    assert process.pid() == pid
    deadline = time.monotonic() + 10
    while len(group_members(pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(group_members(pid)) == 3  # the shell and both sleeps
    assert process.stop(grace_s=5) is True
    assert group_members(pid) == [] and not process.alive() and not (tmp_path / "s.pid").exists()
    assert process.stop() is False


def test_a_killed_server_is_not_alive_though_this_process_started_it(tmp_path):
    process = Process("sleeper", tmp_path / "s.pid")
    pid = process.start(["sleep", "300"], tmp_path / "s.log")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.alive()


def test_a_pid_that_now_belongs_to_another_process_is_not_ours(tmp_path):
    pidfile = tmp_path / "s.pid"
    pidfile.write_text(f"{os.getpid()} 1\n")  # this process, but not started at clock tick 1
    assert Process("other", pidfile).pid() is None
    pidfile.write_text("not a pid\n")
    assert Process("other", pidfile).pid() is None


def test_a_lock_held_by_another_process_times_out_with_its_path(cache):
    holder = subprocess.Popen(
        [sys.executable, "-c", "from services.base import locked; import time\nwith locked('x'):\n"
         " print('held', flush=True); time.sleep(30)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "SPECTATOR_CACHE": str(cache)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ServiceError, match=r"timed out after 0.5 s waiting for .*\.x\.lock"), locked("x", 0.5):
            pass
    finally:
        holder.kill()
        holder.wait()
    with locked("x", 5):  # free again once its holder is gone
        pass


def test_wait_ready_fails_at_once_when_the_server_exits():
    readiness_checks = []

    def ready() -> bool:
        readiness_checks.append(1)
        return False

    with pytest.raises(ServiceError, match="exited during start-up:\nbind: address in use"):
        wait_ready("the thing", ready, lambda: False, 60, lambda: "bind: address in use")
    assert len(readiness_checks) == 1  # no waiting out the 60 s once the process is gone


def test_ports_must_be_numbers(monkeypatch):
    monkeypatch.setenv("SPECTATOR_KAFKA_PORT", "90x2")
    with pytest.raises(ServiceError, match="SPECTATOR_KAFKA_PORT must be a port number, not '90x2'"):
        KafkaBroker()


def test_beam_is_pinned_once_and_the_sdk_matches_it():
    assert base.beam_version() == apache_beam.__version__
    poms = sorted((ROOT / "services").rglob("pom.xml"))
    assert len(poms) == 3
    pinned = re.compile(r"<(beam|kafka|flink|job\.service)\.version>")
    assert [pom for pom in poms if pinned.search(pom.read_text())] == []


def test_the_broker_listens_on_loopback_only(tmp_path):
    broker = KafkaBroker(port=19092, home=tmp_path / "kafka")
    broker.write_config()
    props = dict(
        line.split("=", 1) for line in broker.properties.read_text().splitlines() if line and not line.startswith("#")
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")
    assert broker.env()["SPECTATOR_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092"


def test_redis_binds_loopback_and_takes_extra_flags_last(tmp_path):
    command = RedisServer(16390, home=tmp_path, flags=["--requirepass", "pw"]).command()
    assert command[command.index("--bind") + 1] == "127.0.0.1" and command[-2:] == ["--requirepass", "pw"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The module as scripts/services.sh runs it: the system's python3, outside the project's venv
    (-E: no PYTHONPATH either), so it must need the standard library only."""
    argv = ["/usr/bin/python3", "-E", "-s", "-m", "services", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_command_line_needs_no_venv_and_says_what_is_wrong(monkeypatch):
    monkeypatch.setenv("SPECTATOR_REDIS_PORT", "16390")
    done = run_cli("env", "redis")
    assert (done.returncode, done.stdout) == (0, "export SPECTATOR_REDIS_URL=redis://127.0.0.1:16390/0\n")
    done = run_cli("status", "redis", "flink")
    assert done.returncode == 0 and done.stdout.startswith("redis: stopped\nflink jobmanager: stopped")
    for args, message in [
        (
            ("up", "mongodb"),
            "usage: python3 -m services up|down|status|env [redis] [redis-cluster] [kafka] [kafka-cluster] [flink] "
            "(not 'mongodb')",
        ),
        (("kafka", "explode"), "usage: kafka up|down|status|env|reset|fetch|jar|logs (see python3 -m services --help)"),
        (("restart",), "unknown command 'restart'; see python3 -m services --help"),
    ]:
        done = run_cli(*args)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", message + "\n")


def test_the_metadata_probe_reads_every_broker_of_a_response():
    from services.kafka import metadata

    def broker(node_id: int, host: bytes, rack: bytes | None) -> bytes:
        rack_part = struct.pack(">h", -1) if rack is None else struct.pack(">h", len(rack)) + rack
        return struct.pack(">ih", node_id, len(host)) + host + struct.pack(">i", 9192) + rack_part

    brokers = broker(1, b"127.0.0.1", None) + broker(3, b"localhost", b"rack-a") + broker(2, b"h", None)
    response = struct.pack(">iii", 7, 0, 3) + brokers + b"cluster id, controller, topics: not read"
    assert metadata.broker_ids(response, 7) == {1, 2, 3}
    with pytest.raises(ValueError, match="request 7, not 8"):
        metadata.broker_ids(response, 8)
    sent = metadata.request(7)
    assert struct.unpack(">ihhi", sent[:12]) == (len(sent) - 4, 3, 4, 7)  # length, Metadata, v4, correlation
