"""The explorer's tests' data and servers: a replay with odd ids, the app on a free port, a closed port."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from spectator.cli import main
from spectator.core.generate import generate
from spectator.explorer import create_app
from spectator.io.redis.store import DEFAULT_PREFIX
from tests.support.data import ODD_IDS
from tests.support.redis import flushed_database

# Beyond ODD_IDS: ids that only a careful URL scheme keeps whole.
EXTRA_IDS = [".", "..", "a/b", "a/sessions/1", "/lead", "trail/", "100%", "%2F", "x#y?z=1&w", "a+b", "sp ace/../x"]
USERS = [*ODD_IDS, *EXTRA_IDS]
# `.` and `..` as a whole path segment are rewritten by every URL client; the query form serves them.
PATH_SAFE = [u for u in USERS if u not in (".", "..")]
T0 = 1_767_225_600_000
BAD_LINES = ["{not json", '{"user_id": "x"}', '{"user_id": "x", "timestamp": 1, "extra": true}']
PAGER, PAGER_SESSIONS = "pager", 120


def expected_sessions(user: str) -> int:
    return USERS.index(user) % 4 + 1


def replay_events() -> list[dict]:
    """Generated traffic, plus odd ids with known session counts (3 events, 10 s, 10 min apart)."""
    events = list(generate(40, seed=3, gap_s=60))  # seed 3 has a bot among its users
    for i, user in enumerate(USERS):
        for s in range(expected_sessions(user)):
            events += [
                {"user_id": user, "timestamp": T0 + s * 600_000 + e * 5000 + i, "page": f"/p{e}"} for e in range(3)
            ]
    events += [{"user_id": PAGER, "timestamp": T0 + s * 120_000} for s in range(PAGER_SESSIONS)]
    return events


def replay(
    path: Path, redis_url: str, events: list[dict], bad: Sequence[str] = (), prefix: str = DEFAULT_PREFIX
) -> None:
    lines = [json.dumps(e, ensure_ascii=False) for e in events] + list(bad)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["run", "--input", str(path), "--redis-url", redis_url, "--gap-seconds", "60", "--key-prefix", prefix]
    assert main(argv) == 0


@contextmanager
def running_server(redis_url: str, prefix: str = DEFAULT_PREFIX) -> Iterator[str]:
    """The real server on a free 127.0.0.1 port, in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound before the thread starts, so no other process takes the port
    config = uvicorn.Config(create_app(redis_url, prefix), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "the explorer did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def closed_port() -> Iterator[int]:
    """A port that refuses connections: bound while we hold it, never listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextmanager
def replayed_database(folder: Path) -> Iterator[str]:
    """Database 1, flushed and filled by a real replay of replay_events(), for a whole module."""
    with flushed_database() as url:
        replay(folder / "events.jsonl", url, replay_events(), BAD_LINES)
        yield url
