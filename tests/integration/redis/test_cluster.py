"""The store on a real Redis Cluster (3 masters, 3 replicas; services/redis_cluster.py): a replay
equals the reference, every read command and the explorer's API work on it, and a master killed
mid-run loses and doubles nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from fastapi.testclient import TestClient

from spectator.cli import main
from spectator.core.generate import generate
from spectator.explorer import create_app
from spectator.io.redis.store import GROUPS, SessionStore, connect
from tests.support.data import BAD_LINES, GAP_S, PANE_FIELDS, edge_case_events, write_lines
from tests.support.redis import export
from tests.support.reference import reference_sessions
from tests.support.streams import wait_until


def replay_file(tmp_path, events: list[dict], bad: list[str] = BAD_LINES):
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    for i, line in enumerate(bad):
        lines.insert(7 * i + 3, line)
    path = tmp_path / "events.jsonl"
    write_lines(path, lines)
    return path


def without_panes(stored: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in PANE_FIELDS} for r in stored]


def consistent(store: SessionStore, stored: list[dict]) -> bool:
    """The merged leaderboard and totals equal the sums over the stored sessions."""
    per_user: dict[str, int] = {}
    for r in stored:
        per_user[r["user_id"]] = per_user.get(r["user_id"], 0) + r["event_count"]
    stats = store.stats()
    return dict(store.top(1_000_000)) == per_user and (stats["sessions"], stats["events"]) == (
        len(stored),
        sum(per_user.values()),
    )


@pytest.mark.parametrize("windowing", ["fold", "sessions"])
def test_a_replay_equals_the_reference_and_every_read_works(tmp_path, cluster_url, capsys, windowing):
    events = edge_case_events()
    path = replay_file(tmp_path, events)
    argv = ["run", "--input", str(path), "--redis-url", cluster_url, "--gap-seconds", str(GAP_S)]
    assert main([*argv, "--bot-threshold", "50", "--windowing", windowing]) == 0
    stored = export(cluster_url, capsys)
    assert without_panes(stored) == reference_sessions(events, GAP_S * 1000, bot_threshold=50)

    client = connect(cluster_url)
    store = SessionStore(client)
    assert store.keys.groups == GROUPS and consistent(store, stored)
    assert store.user_count() == len({r["user_id"] for r in stored})
    assert store.deadletter_total() == store.deadletters_retained() == len(BAD_LINES)
    assert {d["payload"] for d in store.deadletters(100)} == set(BAD_LINES)
    groups_used = {store.keys.group_of(r["user_id"]) for r in stored}
    assert len(groups_used) > 1  # the users really are spread over slots of several masters
    masters = {client.get_node_from_key(store.keys.users(g)).name for g in groups_used}
    assert len(masters) > 1
    user = stored[0]["user_id"]
    for command in (["sessions", user], ["top"], ["summary"], ["recent"], ["deadletters"]):
        capsys.readouterr()
        assert main([*command, "--redis-url", cluster_url]) == 0, command
        assert capsys.readouterr().out
    assert [r.start_ms for r in store.sessions(user)] == [r["start_ms"] for r in stored if r["user_id"] == user]

    # A second replay changes nothing, dead letters included.
    assert main([*argv, "--bot-threshold", "50", "--windowing", windowing]) == 0
    assert export(cluster_url, capsys) == stored and store.deadletter_total() == len(BAD_LINES)


def test_the_explorer_serves_a_cluster(tmp_path, cluster_url, capsys):
    events = edge_case_events()
    assert main(["run", "--input", str(replay_file(tmp_path, events)), "--redis-url", cluster_url]) == 0
    stored = export(cluster_url, capsys)
    with TestClient(create_app(cluster_url, "spectator:")) as client:
        assert client.get("/api/health").json() == {"redis": "ok"}
        found = client.get("/api/users", params={"limit": 500}).json()
        assert found["complete"] and sorted(u["user_id"] for u in found["users"]) == sorted(
            {r["user_id"] for r in stored}
        )
        user = stored[-1]["user_id"]
        sessions = client.get("/api/sessions", params={"user_id": user}).json()
        assert [s["start_ms"] for s in sessions["sessions"]] == sorted(
            (r["start_ms"] for r in stored if r["user_id"] == user), reverse=True
        )
        summary = client.get("/api/summary").json()
        assert summary["sessions"] == len(stored) and summary["durations"]["complete"]
        letters = client.get("/api/deadletters").json()
        assert letters["total"] == letters["retained"] == len(BAD_LINES)


def test_a_master_killed_mid_replay_loses_and_doubles_nothing(tmp_path, redis_cluster_service, cluster_url, capsys):
    """Writes wait until a replica holds them (WAIT), so the replica that takes over has every
    acknowledged batch; what the dead master had not acknowledged is written again, harmlessly."""
    events = list(generate(1000, seed=5, gap_s=GAP_S, seconds_between=10))
    path = replay_file(tmp_path, events)
    argv = [sys.executable, "-m", "spectator.cli", "run", "--input", str(path), "--redis-url", cluster_url,
            "--gap-seconds", str(GAP_S), "--redis-batch-size", "10", "--windowing", "sessions"]  # fmt: skip
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = SessionStore(connect(cluster_url))
    try:
        wait_until(lambda: store.stats()["sessions"] > 0 or run.poll() is not None, 120, "the first writes")
        assert run.poll() is None, "the run ended before a master could be killed: give it more events"
        victim = redis_cluster_service.masters()[0]
        os.killpg(redis_cluster_service.node(victim).process.pid(), signal.SIGKILL)
        time.sleep(5)  # its replica takes over meanwhile (cluster-node-timeout 2 s)
        redis_cluster_service.up()  # what a supervisor does: the killed node rejoins, as a replica
        err = run.communicate(timeout=300)[1]
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err[-3000:]
    assert "Redis write failed" in err  # it did meet the dead master
    stored = export(cluster_url, capsys)
    assert without_panes(stored) == reference_sessions(events, GAP_S * 1000, bot_threshold=100)
    assert consistent(store, stored) and store.deadletter_total() == len(BAD_LINES)
    assert victim not in redis_cluster_service.masters()


def test_a_single_redis_store_migrates_into_the_cluster_once(tmp_path, redis_url, cluster_url, capsys):
    events = edge_case_events()
    assert main(["run", "--input", str(replay_file(tmp_path, events)), "--redis-url", redis_url]) == 0
    single = export(redis_url, capsys)
    migrating = ["migrate", "--redis-url", redis_url, "--to-url", cluster_url, "--batch-size", "7"]
    for new in (len(single), 0):  # a rerun finds everything there already
        capsys.readouterr()
        assert main(migrating) == 0
        users = len({r["user_id"] for r in single})
        assert capsys.readouterr().out == (
            f"migrated {len(single):,} sessions of {users:,} users ({new:,} new there) and {len(BAD_LINES)} dead "
            f"letters from {redis_url} to {cluster_url} (a Redis Cluster)\n"
        )
        migrated = export(cluster_url, capsys)
        assert migrated == single
        store = SessionStore(connect(cluster_url))
        assert consistent(store, migrated) and store.deadletter_total() == len(BAD_LINES)
        assert {d["payload"] for d in store.deadletters(100)} == set(BAD_LINES)


def test_dead_letters_a_capped_stream_dropped_are_counted_once_by_the_migration(tmp_path, redis_url, cluster_url):
    # XADD MAXLEN ~ trims whole stream nodes (100 entries), so only a long stream drops any.
    bad = [json.dumps({"user_id": f"u{i}"}) for i in range(300)]  # no timestamp: each a dead letter
    path = replay_file(tmp_path, edge_case_events(), bad)
    assert main(["run", "--input", str(path), "--redis-url", redis_url, "--deadletter-max-len", "10"]) == 0
    source = SessionStore(connect(redis_url))
    retained = source.deadletters_retained()
    assert source.deadletter_total() == len(bad) and retained < len(bad)
    for _ in range(2):  # a rerun counts the dropped ones no second time
        assert main(["migrate", "--redis-url", redis_url, "--to-url", cluster_url]) == 0
        target = SessionStore(connect(cluster_url))
        assert (target.deadletter_total(), target.deadletters_retained()) == (len(bad), retained)


def test_min_replicas_more_than_the_cluster_has_fails_in_one_line(tmp_path, cluster_url, capsys):
    path = replay_file(tmp_path, edge_case_events()[:20], bad=[])
    argv = ["run", "--input", str(path), "--redis-url", cluster_url, "--redis-min-replicas", "2"]
    assert main([*argv, "--redis-retry-seconds", "3"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: the pipeline failed: Redis at {cluster_url} kept too few replicas for 3s: 1 of 2 replicas "
        "acknowledged the batch within 5000 ms [while running 'WriteSessions/UpsertSessions']"
    ]


def test_a_single_redis_url_still_gets_a_single_redis_client(redis_url):
    assert isinstance(connect(redis_url), redis.Redis) and SessionStore(connect(redis_url)).keys.groups == 1
