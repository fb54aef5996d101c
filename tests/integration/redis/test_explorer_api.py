"""The explorer's JSON API against the real Redis, filled by a real replay."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from spectator.cli import main
from spectator.explorer import app as explorer_app
from spectator.explorer import create_app, reads
from spectator.explorer.figures import percentile
from spectator.io.redis.store import DEFAULT_PREFIX, SessionStore
from tests.support.explorer import (
    BAD_LINES,
    PAGER,
    PAGER_SESSIONS,
    PATH_SAFE,
    T0,
    USERS,
    closed_port,
    expected_sessions,
    replay,
    replayed_database,
    running_server,
)
from tests.support.redis import TEST_DB_URL


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with replayed_database(tmp_path_factory.mktemp("explorer")) as url:
        yield url


@pytest.fixture(scope="module")
def client(filled: str) -> TestClient:
    return TestClient(create_app(filled, DEFAULT_PREFIX))


@pytest.fixture(scope="module")
def live(filled: str) -> Iterator[httpx.Client]:
    # Starlette's TestClient percent-decodes the path twice (`%2541` arrives as `A`): ids go
    # through a real server and a real HTTP client.
    with running_server(filled) as base, httpx.Client(base_url=base) as http:
        yield http


@pytest.fixture(scope="module")
def ref(filled: str) -> SessionStore:
    return SessionStore(redis.Redis.from_url(filled))


@pytest.mark.parametrize("user", PATH_SAFE)
def test_path_form_round_trips_odd_ids(live: httpx.Client, ref: SessionStore, user: str) -> None:
    page = live.get(f"/api/users/{quote(user, safe='')}/sessions").json()
    assert page["user_id"] == user and page["total"] == expected_sessions(user)
    assert [s["start_ms"] for s in page["sessions"]] == sorted((s.start_ms for s in ref.sessions(user)), reverse=True)
    assert {s["user_id"] for s in page["sessions"]} == {user}
    start = page["sessions"][-1]["start_ms"]
    one = live.get(f"/api/users/{quote(user, safe='')}/sessions/{start}")
    assert one.status_code == 200 and one.json() == page["sessions"][-1]


@pytest.mark.parametrize("user", USERS)
def test_query_form_round_trips_every_id(live: httpx.Client, client: TestClient, user: str) -> None:
    for http in (live, client):
        page = http.get("/api/sessions", params={"user_id": user, "limit": 500}).json()
        assert page["user_id"] == user and page["total"] == len(page["sessions"]) == expected_sessions(user)
        first = page["sessions"][0]
        got = http.get("/api/session", params={"user_id": user, "start_ms": first["start_ms"]}).json()
        assert got == first


def test_unencoded_slashes_in_the_path(live: httpx.Client) -> None:
    assert live.get("/api/users/a/b/sessions").json()["user_id"] == "a/b"
    page = live.get("/api/users/a/sessions/1/sessions").json()
    assert page["user_id"] == "a/sessions/1" and page["total"] == expected_sessions("a/sessions/1")
    start = page["sessions"][0]["start_ms"]
    assert live.get(f"/api/users/a/sessions/1/sessions/{start}").json()["user_id"] == "a/sessions/1"


def test_paging_newest_first(client: TestClient, ref: SessionStore) -> None:
    pages = [client.get(f"/api/users/{PAGER}/sessions", params={"offset": o, "limit": 50}).json() for o in (0, 50, 100)]
    assert [p["total"] for p in pages] == [PAGER_SESSIONS] * 3
    starts = [s["start_ms"] for p in pages for s in p["sessions"]]
    assert starts == [T0 + s * 120_000 for s in reversed(range(PAGER_SESSIONS))]
    beyond = client.get(f"/api/users/{PAGER}/sessions", params={"offset": 1000}).json()
    assert beyond["sessions"] == [] and beyond["total"] == PAGER_SESSIONS
    assert len(client.get(f"/api/users/{PAGER}/sessions", params={"limit": 500}).json()["sessions"]) == PAGER_SESSIONS


@pytest.mark.parametrize(
    "path",
    ["/api/users/pager/sessions", "/api/sessions?user_id=pager", "/api/top", "/api/deadletters", "/api/users"],
)
@pytest.mark.parametrize("query, status", [("limit=500", 200), ("limit=501", 422), ("limit=0", 422), ("limit=x", 422)])
def test_limits_are_capped(client: TestClient, path: str, query: str, status: int) -> None:
    response = client.get(path + ("&" if "?" in path else "?") + query)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    "url, status",
    [
        ("/api/users/nobody/sessions", 404),
        ("/api/sessions?user_id=nobody", 404),
        (f"/api/users/{PAGER}/sessions/1", 404),
        (f"/api/session?user_id={PAGER}&start_ms=1", 404),
        ("/api/users/nobody/sessions/1", 404),
        (f"/api/users/{PAGER}/sessions/soon", 422),
        (f"/api/users/{PAGER}/sessions?offset=-1", 422),
        (f"/api/users/{PAGER}/sessions?offset=1000000001", 422),
        (f"/api/session?user_id={PAGER}&start_ms=-5", 422),
        ("/api/sessions?user_id=", 422),
        ("/api/sessions", 422),
        (f"/api/sessions?user_id={'u' * 1025}", 422),
    ],
)
def test_bad_requests(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status and "detail" in response.json()


def test_top_summary_and_deadletters(client: TestClient, ref: SessionStore) -> None:
    leaders = client.get("/api/top", params={"limit": 7}).json()["leaders"]
    assert [(r["user_id"], r["events"]) for r in leaders] == ref.top(7)
    assert [r["rank"] for r in leaders] == list(range(1, 8))

    summary = client.get("/api/summary").json()
    stats = ref.stats()
    assert {k: summary[k] for k in ("users", "sessions", "events", "bounces", "bots")} == {
        k: stats[k] for k in ("users", "sessions", "events", "bounces", "bots")
    }
    assert summary["deadletters"] == len(BAD_LINES)
    assert (summary["late_dropped"], summary["late_unreachable"]) == (None, [])  # a replay: no streaming job
    durations = sorted(r.duration_ms for r in ref.all_sessions())
    d = summary["durations"]
    assert d["complete"] and d["sampled_sessions"] == stats["sessions"] == len(durations)
    assert (d["p50_ms"], d["p90_ms"], d["p99_ms"]) == tuple(percentile(durations, q) for q in (50, 90, 99))
    assert sum(d["histogram_counts"]) == len(durations)
    assert (
        len(d["histogram_edges_ms"]) == len(d["histogram_counts"]) + 1 and d["histogram_edges_ms"][-1] > durations[-1]
    )

    letters = client.get("/api/deadletters", params={"limit": 2}).json()
    assert letters["total"] == letters["retained"] == len(BAD_LINES) and len(letters["letters"]) == 2
    everything = client.get("/api/deadletters").json()["letters"]
    assert {d["payload"] for d in everything} == set(BAD_LINES) and all(d["reason"] for d in everything)


def test_summary_work_is_bounded(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "SAMPLE_MAX_USERS", 5)
    monkeypatch.setattr(reads, "SAMPLE_PER_USER", 2)
    d = client.get("/api/summary").json()["durations"]
    assert not d["complete"] and d["sampled_users"] == 5 and 5 <= d["sampled_sessions"] <= 10


@pytest.mark.parametrize("prefix", ["*", "[x]", "user?", "a", "a:", "ünï", "%", "", "zzz-nobody"])
def test_search_is_a_literal_prefix(client: TestClient, ref: SessionStore, prefix: str) -> None:
    found = client.get("/api/users", params={"prefix": prefix, "limit": 500}).json()
    assert found["complete"] and found["scanned"] == ref.user_count()
    assert sorted(u["user_id"] for u in found["users"]) == [u for u in ref.users() if u.startswith(prefix)]
    if prefix in ref.users():
        assert found["users"][0]["user_id"] == prefix


def test_search_walk_is_bounded(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "SEARCH_CHUNK", 4)
    monkeypatch.setattr(reads, "SEARCH_MAX_SCANNED", 8)
    found = client.get("/api/users", params={"prefix": "nobody-has-this"}).json()
    assert found == {"prefix": "nobody-has-this", "users": [], "scanned": 8, "complete": False}
    # An exact id is found however far down the index it is.
    assert client.get("/api/users", params={"prefix": "with space"}).json()["users"][0]["user_id"] == "with space"


def test_other_prefixes_stay_out_of_reach(filled: str, tmp_path: Path) -> None:
    replay(tmp_path / "other.jsonl", filled, [{"user_id": "secret", "timestamp": T0}], prefix="other:")
    ours, theirs = TestClient(create_app(filled, DEFAULT_PREFIX)), TestClient(create_app(filled, "other:"))
    assert ours.get("/api/sessions", params={"user_id": "secret"}).status_code == 404
    assert "secret" not in {u["user_id"] for u in ours.get("/api/users", params={"limit": 500}).json()["users"]}
    assert theirs.get("/api/summary").json()["users"] == 1
    # Ids that spell other keys, or a path back out of the prefix, are only ever ids.
    for user in ["../other:sessions:secret", "other:sessions:secret", "x/../../other:"]:
        assert ours.get("/api/sessions", params={"user_id": user}).status_code == 404


def test_no_pattern_scans_and_no_key_outside_the_prefix(filled: str, live: httpx.Client) -> None:
    """Watches every command Redis runs (MONITOR) while the whole API is exercised."""
    commands: list[list[str]] = []
    ready, stop = threading.Event(), threading.Event()

    def watch() -> None:
        client = redis.Redis.from_url(filled, socket_timeout=0.5)
        with client.monitor() as monitor:
            ready.set()
            while not stop.is_set():
                try:
                    entry = monitor.next_command()
                except redis.TimeoutError:
                    continue
                if entry["db"] == 1:
                    args = re.findall(r'"((?:[^"\\]|\\.)*)"', entry["command"])
                    commands.append(args or entry["command"].split())
        client.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(5)
    for user in [*PATH_SAFE, "*", "nobody"]:
        live.get(f"/api/users/{quote(user, safe='')}/sessions")
        live.get(f"/api/users/{quote(user, safe='')}/sessions/{T0}")
        live.get("/api/users", params={"prefix": user})
    for url in ["/api/summary", "/api/top", "/api/deadletters", "/api/health", "/api/sessions?user_id=..", "/"]:
        assert live.get(url).status_code == 200
    live.get("/api/health")  # a marker: MONITOR shows commands in order, so this PING is the last
    for _ in range(100):
        if sum(c[0].upper() == "PING" for c in commands) >= 2:
            break
        watcher.join(0.05)
    stop.set()
    watcher.join(5)

    names = {c[0].upper() for c in commands}
    assert {"ZREVRANGE", "HMGET", "HGET", "ZSCORE", "XREVRANGE"} <= names
    assert not names & {"KEYS", "SCAN", "HSCAN", "ZSCAN", "SSCAN"}
    keyless = {"PING", "CLIENT", "SELECT", "HELLO", "INFO", "MULTI", "EXEC"}
    keys = [c[1] for c in commands if c[0].upper() not in keyless]
    assert keys and all(k.startswith(DEFAULT_PREFIX) for k in keys), [
        k for k in keys if not k.startswith(DEFAULT_PREFIX)
    ]


def test_redis_down_is_503_with_a_message() -> None:
    with closed_port() as port:
        down = TestClient(create_app(f"redis://:hunter2@127.0.0.1:{port}/0", DEFAULT_PREFIX))
        urls = ["/api/health", "/api/summary", "/api/top", "/api/deadletters", "/api/users?prefix=a"]
        urls += ["/api/users/a:b/sessions", "/api/users/a:b/sessions/5", "/api/sessions?user_id=x"]
        for url in urls:
            response = down.get(url)
            assert response.status_code == 503, url
            detail = response.json()["detail"]
            assert "Redis is unavailable" in detail and str(port) in detail and "hunter2" not in detail
        assert down.get("/").status_code == 200  # the page itself still loads, and says what is wrong


def test_serve_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    calls = []
    monkeypatch.setattr(explorer_app.uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    with closed_port() as port:
        explorer_app.serve(f"redis://:pw@127.0.0.1:{port}/0", "p:")
    [(app, kw)] = calls
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8000 and app.state.store.keys.prefix == "p:"
    assert "http://127.0.0.1:8000/" in capsys.readouterr().out


def test_openapi_and_static_assets(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        "/api/users/{user_id}/sessions",
        "/api/users/{user_id}/sessions/{start_ms}",
        "/api/sessions",
        "/api/session",
        "/api/top",
        "/api/summary",
        "/api/deadletters",
        "/api/users",
        "/api/health",
    } == set(spec["paths"])
    page = client.get("/")
    assert page.status_code == 200 and "/static/vendor/chart.umd.min.js" in page.text
    chart = client.get("/static/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart.js v4" in chart.text[:200]
    assert client.get("/static/vendor/chart.js.LICENSE.md").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/docs").status_code == 404  # Swagger UI would need a CDN


# Built at import (the app reaches Redis only per request): schemathesis' lazy from_fixture
# loader reads a pytest internal that pytest 9 removed.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(TEST_DB_URL, DEFAULT_PREFIX))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(filled: str, case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_a_token_guards_every_request(filled):
    client = TestClient(create_app(filled, DEFAULT_PREFIX, token="s3cret"))
    for path in ["/", "/api/summary", "/openapi.json", "/static/explorer.js"]:
        denied = client.get(path)
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/summary", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/summary", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    # A link with the token opens the page and leaves a cookie for its own requests.
    assert client.get("/?token=s3cret").status_code == 200
    assert client.get("/api/summary").status_code == 200 and client.get("/static/explorer.js").status_code == 200


def test_serving_beyond_loopback_needs_a_token(capsys, monkeypatch):
    monkeypatch.delenv("SPECTATOR_EXPLORER_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "pass --token" in capsys.readouterr().err
