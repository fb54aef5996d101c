"""The `spectator` command against the real Redis: its outputs, and a Redis that comes, goes, or wants TLS."""

import json
import threading
import time

from services import RedisServer
from spectator.cli import main
from spectator.io.redis.write import _UpsertSessionsDoFn
from tests.support.cli import one_line_error
from tests.support.data import rec
from tests.support.ports import free_port
from tests.support.redis import redis_server
from tests.support.secure_kafka import self_signed


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


def test_writes_wait_for_redis_to_come_back(tmp_path):
    """Redis is down when the batch is flushed and starts a second later: nothing is lost."""
    port = free_port()
    fn = _UpsertSessionsDoFn(f"redis://127.0.0.1:{port}/0", "p:", batch_size=10, retry_seconds=30, ttl_seconds=0)
    fn.setup()
    fn.start_bundle()
    fn.process(rec(1, 2, 2))
    server = RedisServer(port, home=tmp_path)

    def start_later():
        time.sleep(1.0)
        server.up()

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        fn.finish_bundle()
        assert fn.client.hget("p:sessions:u", "1") is not None
    finally:
        thread.join()
        fn.teardown()
        server.down()


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
