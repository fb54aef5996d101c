"""The Lua upsert against a real Redis: replays, out-of-order panes, merges, odd ids, TTL."""

import dataclasses

import apache_beam as beam
import pytest

from spectator.core.model import DeadLetter
from spectator.io.redis.write import (
    RedisUnavailable,
    WriteDeadLettersToRedis,
    _UpsertSessionsDoFn,
)
from tests.support.data import ODD_IDS, rec
from tests.support.pipelines import local_pipeline
from tests.support.redis import write

GAP = 50


def upsert_one_by_one(redis_url, records):
    fn = _UpsertSessionsDoFn(redis_url, "spectator:", batch_size=1, retry_seconds=1, ttl_seconds=0)
    fn.setup()
    for record in records:
        fn.start_bundle()
        fn.process(record)
        fn.finish_bundle()
    fn.teardown()


def state(store, user="u"):
    return [(r.start_ms, r.end_ms, r.event_count, r.pane) for r in store.sessions(user)]


def assert_consistent(store):
    """Leaderboard and stats equal the sums over the current sessions."""
    sessions = store.all_sessions()
    totals = {}
    for r in sessions:
        totals[r.user_id] = totals.get(r.user_id, 0) + r.event_count
    assert dict(store.top(10_000)) == totals
    stats = store.stats()
    assert stats["sessions"] == len(sessions)
    assert stats["events"] == sum(totals.values())
    assert stats["bounces"] == sum(r.is_bounce for r in sessions)
    assert stats["bots"] == sum(r.is_bot for r in sessions)
    assert stats["duration_ms"] == sum(r.duration_ms for r in sessions)


def test_panes_in_order_keep_the_newest(redis_url, store):
    upsert_one_by_one(redis_url, [rec(10, 20, 2, "EARLY"), rec(10, 30, 3, "ON_TIME"), rec(10, 40, 4, "LATE")])
    assert state(store) == [(10, 40, 4, "LATE")]
    assert_consistent(store)


def test_replayed_pane_changes_nothing(redis_url, store):
    panes = [rec(10, 20, 2, "EARLY"), rec(10, 30, 3, "ON_TIME"), rec(100, 100, 1)]
    upsert_one_by_one(redis_url, panes)
    before = store.client.dump(store.keys.sessions("u")), store.top(), store.stats()
    upsert_one_by_one(redis_url, panes + panes[::-1])
    assert (store.client.dump(store.keys.sessions("u")), store.top(), store.stats()) == before
    assert state(store) == [(10, 30, 3, "ON_TIME"), (100, 100, 1, "ON_TIME")]


def test_older_pane_after_newer_changes_nothing(redis_url, store):
    upsert_one_by_one(redis_url, [rec(10, 30, 3, "ON_TIME"), rec(10, 20, 2, "EARLY")])
    assert state(store) == [(10, 30, 3, "ON_TIME")]
    upsert_one_by_one(redis_url, [rec(10, 30, 3, "EARLY")])  # same count, less final
    assert state(store) == [(10, 30, 3, "ON_TIME")]
    assert_consistent(store)


def test_on_time_pane_with_no_new_events_replaces_early(redis_url, store):
    upsert_one_by_one(redis_url, [rec(10, 30, 3, "EARLY"), rec(10, 30, 3, "ON_TIME")])
    assert state(store) == [(10, 30, 3, "ON_TIME")]


def test_closing_late_pane_with_no_new_events_changes_nothing(redis_url, store):
    # Flink fires every window once more when it expires: a LATE pane equal to the last one.
    upsert_one_by_one(redis_url, [rec(10, 30, 3, "EARLY"), rec(10, 30, 3, "ON_TIME")])
    before = store.client.dump(store.keys.sessions("u")), store.top(), store.stats(), store.latest_writes()
    upsert_one_by_one(redis_url, [rec(10, 30, 3, "LATE")])
    assert (store.client.dump(store.keys.sessions("u")), store.top(), store.stats(), store.latest_writes()) == before
    assert state(store) == [(10, 30, 3, "ON_TIME")]
    upsert_one_by_one(redis_url, [rec(10, 40, 4, "LATE")])  # a real late event still updates it
    assert state(store) == [(10, 40, 4, "LATE")]
    assert_consistent(store)
    # Each write, and only a write, is listed newest first for `spectator recent`.
    assert [(w["pane"], w["event_count"]) for w in store.latest_writes()] == [
        ("LATE", "4"),
        ("ON_TIME", "3"),
        ("EARLY", "3"),
    ]


def test_bridging_pane_merges_two_stored_sessions(redis_url, store):
    # The design's case: [10,70) and [100,150) stored, a late event at 60 merges them.
    upsert_one_by_one(redis_url, [rec(10, 20, 2, "EARLY"), rec(10, 20, 2), rec(100, 100, 1), rec(300, 300, 1)])
    upsert_one_by_one(redis_url, [rec(10, 100, 4, "LATE")])
    assert state(store) == [(10, 100, 4, "LATE"), (300, 300, 1, "ON_TIME")]
    assert_consistent(store)
    # Either part of the merged session arriving again, late, is stale now.
    upsert_one_by_one(redis_url, [rec(100, 100, 1), rec(10, 20, 2)])
    assert state(store) == [(10, 100, 4, "LATE"), (300, 300, 1, "ON_TIME")]
    assert_consistent(store)


def test_odd_user_ids_never_touch_each_other(redis_url, store):
    records = [rec(10 * i, 10 * i, i + 1, user=u) for i, u in enumerate(ODD_IDS)]
    write(redis_url, records)
    for i, u in enumerate(ODD_IDS):
        assert state(store, u) == [(10 * i, 10 * i, i + 1, "ON_TIME")]
    assert sorted(store.users()) == sorted(ODD_IDS)
    assert all("*" not in k and "?" not in k and "[" not in k for k in map(bytes.decode, store.client.keys()))
    assert_consistent(store)


def test_batched_write_with_prefix_and_ttl(redis_url, store):
    write(
        redis_url,
        [rec(i * 1000, i * 1000 + 5, 2, user=f"u{i % 7}") for i in range(1200)],
        prefix="other:",
        batch_size=100,
        ttl_seconds=3600,
    )
    assert store.user_count() == 0  # nothing under the default prefix
    store.keys = dataclasses.replace(store.keys, prefix="other:")
    assert store.stats()["sessions"] == 1200 and store.user_count() == 7
    assert 0 < store.client.ttl(store.keys.sessions("u3")) <= 3600
    assert_consistent(store)


def test_unreachable_redis_fails_after_bounded_retries():
    fn = _UpsertSessionsDoFn("redis://127.0.0.1:1/0", "p:", batch_size=10, retry_seconds=0.5, ttl_seconds=0)
    fn.setup()
    fn.start_bundle()
    fn.process(rec(1, 2, 2))
    with pytest.raises(RedisUnavailable, match=r"Redis at redis://127.0.0.1:1/0 unreachable for 0.5s"):
        fn.finish_bundle()


def test_dead_letters_are_written_once(redis_url, store):
    dead = [DeadLetter("{bad", "not valid JSON", "invalid_json", f"f.jsonl:{i}") for i in range(3)]
    for _ in range(2):
        with local_pipeline() as p:
            _ = p | beam.Create(dead) | WriteDeadLettersToRedis(redis_url)
    assert store.deadletter_total() == 3
    assert sorted(d["origin"] for d in store.deadletters()) == ["f.jsonl:0", "f.jsonl:1", "f.jsonl:2"]


def test_pane_without_the_stored_events_is_kept_beside_them(redis_url, store):
    """A later bounded run that reads only a late event must not delete what an earlier run stored."""
    upsert_one_by_one(redis_url, [rec(100, 200, 5)])
    upsert_one_by_one(redis_url, [rec(90, 90, 1, "ON_TIME")])  # window [90, 140) covers start 100
    assert state(store) == [(90, 90, 1, "ON_TIME"), (100, 200, 5, "ON_TIME")]
    assert_consistent(store)
    upsert_one_by_one(redis_url, [rec(100, 250, 2)])  # same start, fewer events, not contained: refused
    assert state(store) == [(90, 90, 1, "ON_TIME"), (100, 200, 5, "ON_TIME")]
    assert_consistent(store)


def test_dead_letter_stream_stays_capped(redis_url, store):
    letters = [DeadLetter(f"bad {i}", "not valid UTF-8 JSON", "invalid_json", f"f:{i}") for i in range(3000)]
    with local_pipeline() as p:
        _ = p | beam.Create(letters, reshuffle=False) | WriteDeadLettersToRedis(redis_url, max_len=200)
    # Redis trims whole nodes of its stream ("MAXLEN ~"): a little over the cap, never 3,000.
    assert 200 <= store.deadletters_retained() < 400
    assert store.deadletter_total() == 3000
    assert store.deadletters(1)[0]["payload"] == "bad 2999"
