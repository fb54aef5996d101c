"""The `spectator` command: its outputs, and one-line errors for wrong flags or an absent Redis."""

import json
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest

from spectator.cli import main
from spectator.io.redis.write import _UpsertSessionsDoFn
from tests.secure_kafka import self_signed
from tests.test_upsert import rec

DEAD_URL = "redis://:secret@127.0.0.1:1/0"


def one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--input", "x.jsonl", "--gap-secs", "5"], "unrecognized arguments: --gap-secs"),
        (["run", "--gap-seconds", "-3"], "--gap_seconds"),
        (["top", "--nope"], "unrecognized arguments: --nope"),
        (["sessions"], "user_id"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_wrong_flags_give_one_line(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in one_line_error(capsys)


@pytest.mark.parametrize("command", [["export"], ["top"], ["sessions", "u"], ["deadletters"], ["summary"], ["recent"]])
def test_unreachable_redis_gives_one_line_without_password(command, capsys):
    assert main([*command, "--redis-url", DEAD_URL]) == 1
    err = one_line_error(capsys)
    assert "cannot reach Redis at redis://***@127.0.0.1:1/0" in err and "secret" not in err


def test_run_with_unreachable_redis_fails_before_running(tmp_path, capsys):
    (tmp_path / "e.jsonl").write_text('{"user_id": "u", "timestamp": 1}\n')
    assert main(["run", "--input", str(tmp_path / "e.jsonl"), "--redis-url", DEAD_URL]) == 1
    assert "cannot reach Redis" in one_line_error(capsys)


def test_missing_input_file(tmp_path, redis_url, capsys):
    assert main(["run", "--input", str(tmp_path / "none.jsonl"), "--redis-url", redis_url]) == 1
    assert "none.jsonl" in one_line_error(capsys)


def test_generate_then_read_commands(tmp_path, redis_url, capsys):
    path = tmp_path / "g.jsonl"
    assert main(["generate", "--users", "30", "--output", str(path)]) == 0
    lines = path.read_text().splitlines()
    assert len(lines) > 30 and all(json.loads(line)["user_id"].startswith("user-") for line in lines)
    with open(path, "a") as f:
        f.write("not json at all\n")
    assert main(["run", "--input", str(path), "--redis-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert f"replayed {len(lines)} events" in out and "1 dead letters" in out
    assert main(["top", "-n", "3", "--redis-url", redis_url]) == 0
    top = capsys.readouterr().out.splitlines()
    assert top[0].split() == ["rank", "user", "events"] and len(top) == 5
    user = top[2].split()[1]
    assert main(["sessions", user, "--redis-url", redis_url]) == 0
    assert f"user '{user}':" in capsys.readouterr().out
    assert main(["deadletters", "--redis-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert "1 dead letters in all" in out and "g.jsonl:" in out and "invalid_json" in out
    assert main(["sessions", "nobody", "--redis-url", redis_url]) == 1
    capsys.readouterr()
    assert main(["recent", "-n", "4", "--redis-url", redis_url]) == 0
    recent = capsys.readouterr().out.splitlines()
    assert "users with events in the 1800s of event time" in recent[0]
    assert recent[1].startswith("the last ") and recent[1].endswith("writes: ON_TIME " + recent[1].split()[-1])
    assert recent[2].split() == ["user", "start", "(UTC)", "end", "events", "pane", "written"] and len(recent) == 8
    assert all(" ON_TIME " in row for row in recent[4:])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_writes_wait_for_redis_to_come_back(tmp_path):
    """Redis is down when the batch is flushed and starts a second later: nothing is lost."""
    port = free_port()
    fn = _UpsertSessionsDoFn(f"redis://127.0.0.1:{port}/0", "p:", batch_size=10, retry_seconds=30, ttl_seconds=0)
    fn.setup()
    fn.start_bundle()
    fn.process(rec(1, 2, 2))
    server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    proc = None

    def start_later():
        nonlocal proc
        time.sleep(1.0)
        proc = subprocess.Popen(server, stdout=subprocess.DEVNULL)

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        fn.finish_bundle()
        assert fn.client.hget("p:sessions:u", "1") is not None
    finally:
        thread.join()
        fn.teardown()
        proc.terminate()
        proc.wait()


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


def write_one(url):
    fn = _UpsertSessionsDoFn(url, "p:", batch_size=10, retry_seconds=10, ttl_seconds=0)
    fn.setup()
    fn.start_bundle()
    fn.process(rec(1, 2, 2))
    fn.finish_bundle()
    score = fn.client.zscore("p:top", "u")
    fn.teardown()
    return score


def test_password_url(tmp_path):
    port = free_port()
    with redis_server(tmp_path, port, "--port", str(port), "--requirepass", "s3cret"):
        assert write_one(f"redis://:s3cret@127.0.0.1:{port}/0") == 2


def test_tls_url(tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    tls = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    tls += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    with redis_server(tmp_path, port, *tls):
        assert write_one(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}&ssl_cert_reqs=required") == 2
