import os
import random
import subprocess
import sys
from collections import Counter, defaultdict

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from spectator.core.model import ClickEvent
from spectator.core.stats import (
    BOT_WINDOW_MS,
    SessionStats,
    chains,
    merge,
    point,
    precombine,
    stats_of_sorted,
)
from spectator.transforms.sessionize import (
    BUCKETS,
    FoldSessions,
    SessionWindows,
    bucket_of,
    pack_points,
    unpack_points,
)
from spectator.transforms.stats import SessionStatsFn
from tests.support.pipelines import local_pipeline
from tests.support.reference import reference_sessions

GAP = 50_000


def ev(t, page=None, user="u", kind="page_view"):
    return ClickEvent(user_id=user, timestamp_ms=t, event_type=kind, page=page)


def stats_of(events, bot_threshold):
    """The stats by brute force from their definition: the oracle the fast paths are checked against."""
    points = pts(events)
    stats = SessionStats()
    stats.count, stats.first, stats.last = len(points), min(points), max(points)
    stats.pages = {page for _, page, _ in points if page}
    stats.types = dict(Counter(kind for _, _, kind in points))
    times = sorted(t for t, _, _ in points)
    n = bot_threshold
    stats.is_bot = any(times[i + n] - times[i] < BOT_WINDOW_MS for i in range(len(times) - n))
    stats.times = [] if stats.is_bot else times
    return stats


def pts(events):
    return [point(e) for e in events]


def summary(stats):
    return (
        stats.count,
        stats.start_ms,
        stats.end_ms,
        stats.entry_page,
        stats.exit_page,
        sorted(stats.pages),
        sorted(stats.types.items()),
        stats.is_bot,
    )


def test_stats_of_events():
    stats = stats_of([ev(30, "/b", kind="click"), ev(10, "/a"), ev(20, "/a"), ev(20)], bot_threshold=100)
    assert summary(stats) == (4, 10, 30, "/a", "/b", ["/a", "/b"], [("click", 1), ("page_view", 3)], False)


def test_entry_and_exit_ties_break_by_page():
    stats = stats_of([ev(10, "/z"), ev(10, "/a"), ev(20, "/m"), ev(20, "/n")], bot_threshold=100)
    assert (stats.entry_page, stats.exit_page) == ("/a", "/n")


def test_merge_in_any_order_equals_one_pass():
    rng = random.Random(3)
    events = [ev(rng.randrange(0, 500_000), rng.choice(["/a", "/b", None]), kind=rng.choice("xy")) for _ in range(300)]
    whole = summary(stats_of(events, bot_threshold=20))
    fn = SessionStatsFn(bot_threshold=20)
    for _ in range(20):
        rng.shuffle(events)
        cuts = sorted(rng.sample(range(1, len(events)), 7))
        parts = [stats_of(events[a:b], 20) for a, b in zip([0, *cuts], [*cuts, len(events)])]
        rng.shuffle(parts)
        acc = fn.add_input(fn.create_accumulator(), parts[0])
        acc = fn.merge_accumulators([acc, *parts[1:]])
        assert summary(fn.extract_output(acc)) == whole


def test_one_pass_over_sorted_points_equals_adding_events_one_by_one():
    rng = random.Random(5)
    for _ in range(50):
        events = [
            ev(rng.randrange(0, 200_000), rng.choice(["/a", "/b", None]), kind=rng.choice("xy")) for _ in range(40)
        ]
        assert summary(stats_of_sorted(sorted(pts(events)), 10)) == summary(stats_of(events, 10))


def test_stats_survive_their_bytes_and_still_merge():
    left = stats_of([ev(0, "/a"), ev(2000)], bot_threshold=3)
    right = SessionStats.from_bytes(stats_of([ev(1000), ev(3000, "/b")], bot_threshold=3).to_bytes())
    assert summary(SessionStats.from_bytes(left.to_bytes())) == summary(left)
    assert merge(SessionStats.from_bytes(left.to_bytes()), right, bot_threshold=3).is_bot


def test_bot_is_more_than_threshold_events_within_60s():
    assert not stats_of([ev(t) for t in (0, 1000, 2000)], bot_threshold=3).is_bot
    assert stats_of([ev(t) for t in (0, 1000, 2000, 59_999)], bot_threshold=3).is_bot
    assert not stats_of([ev(t) for t in (0, 1000, 2000, 60_000)], bot_threshold=3).is_bot


def test_bot_found_only_across_a_merge():
    left = stats_of([ev(0), ev(2000)], bot_threshold=3)
    right = stats_of([ev(1000), ev(3000)], bot_threshold=3)
    assert not left.is_bot and not right.is_bot
    assert merge(left, right, bot_threshold=3).is_bot


def test_chains_split_at_exactly_gap():
    assert chains([0, 10, GAP + 10, 2 * GAP + 9, 3 * GAP + 9], GAP) == [(0, 2), (2, 4), (4, 5)]


def test_precombine_emits_stats_once_per_chain():
    out = list(precombine("u", pts([ev(2 * GAP - 2), ev(0), ev(4 * GAP), ev(GAP - 1)]), GAP, bot_threshold=100))
    assert [(first, last, s.count) for first, last, (_, s) in out] == [(0, 2 * GAP - 2, 3), (4 * GAP, 4 * GAP, 1)]


SESSIONIZE = {
    "sessions": lambda: SessionWindows(GAP / 1000, allowed_lateness_seconds=0, early_firing_seconds=0, bot_threshold=5),
    "fold": lambda: FoldSessions(GAP / 1000, bot_threshold=5),
}


@pytest.mark.parametrize("windowing", SESSIONIZE)
def test_sessionize_batch_matches_reference(windowing):
    rng = random.Random(11)
    raw = []
    for user in ["a", "b:*", "ü"]:
        t = 0
        for _ in range(60):
            t += rng.choice([1, GAP - 1, GAP, GAP + 1, 1000, 0])
            raw.append({"user_id": user, "timestamp": t, "page": rng.choice(["/x", "/y"])})
    expected = reference_sessions(raw, GAP, bot_threshold=5)
    events = [ev(r["timestamp"], r["page"], r["user_id"]) for r in raw]
    with local_pipeline() as p:
        records = (
            p
            | beam.Create(events, reshuffle=False)
            | beam.Reshuffle()  # several bundles, so partials of one session meet only downstream
            | beam.Map(lambda e: beam.window.TimestampedValue(e, e.timestamp_ms / 1000))
            | SESSIONIZE[windowing]()
            | beam.Map(lambda r: {k: getattr(r, k) for k in expected[0]})
        )
        assert_that(records, equal_to(expected))


def join_by_gap(partials, gap_ms, bot_threshold):
    """What Sessions(gap) windows do with the partials that meet in them: partials less than the
    gap apart merge (SessionStatsFn)."""
    sessions = []
    for part in sorted(partials, key=lambda s: s.start_ms):
        if sessions and part.start_ms - sessions[-1].end_ms < gap_ms:
            merge(sessions[-1], part, bot_threshold)
        else:
            sessions.append(part)
    return sessions


def test_partials_from_any_bundle_split_merge_into_the_same_sessions():
    rng = random.Random(9)
    t, events = 0, []
    for _ in range(300):
        t += rng.choice([0, 1, GAP - 1, GAP, GAP + 1, 5000])
        events.append(ev(t, rng.choice(["/a", "/b"])))
    whole = [summary(s) for s in join_by_gap([s for _, _, (_, s) in precombine("u", pts(events), GAP, 10)], GAP, 10)]
    assert len(whole) > 10
    for _ in range(20):
        rng.shuffle(events)
        cuts = sorted(rng.sample(range(1, len(events)), 9))
        partials = [
            stats
            for a, b in zip([0, *cuts], [*cuts, len(events)])
            for _, _, (_, stats) in precombine("u", pts(events[a:b]), GAP, 10)
        ]
        assert [summary(s) for s in join_by_gap(partials, GAP, 10)] == whole


def test_points_packed_from_any_bundle_split_meet_whole_in_their_bucket():
    """A bounded input's bundles each pack their users' points by bucket; whatever the split, a
    bucket's packed elements hold all the points of its users, so the sessions are the whole's."""
    rng = random.Random(9)
    users = [f"user-{i}" for i in range(40)] + ["b:*", "ü", "{g1}"]
    t, events = 0, []
    for _ in range(600):
        t += rng.choice([0, 1, GAP - 1, GAP, GAP + 1, 5000])
        events.append(ev(t, rng.choice(["/a", "/b", None]), user=rng.choice(users)))

    def sessions(points_by_user):
        return {u: [summary(s) for _, _, (_, s) in precombine(u, p, GAP, 10)] for u, p in points_by_user.items()}

    whole = sessions({u: pts([e for e in events if e.user_id == u]) for u in users})
    for _ in range(20):
        rng.shuffle(events)
        cuts = sorted(rng.sample(range(1, len(events)), 9))
        packed = defaultdict(list)
        for a, b in zip([0, *cuts], [*cuts, len(events)]):
            bundle = {}
            for e in events[a:b]:
                bundle.setdefault(e.user_id, []).append(point(e))
            for bucket, data in pack_points(bundle):
                packed[bucket].append(data)
        joined = {}
        for bucket, data in packed.items():
            for user, points in unpack_points(data).items():
                assert bucket_of(user) == bucket and user not in joined
                joined[user] = points
        assert sessions(joined) == whole


def test_a_users_bucket_is_the_same_in_every_process():
    """Worker processes hash strings with seeds of their own: the bucket must not depend on it."""
    users = ["u", "user-000001", "ü", "b:*", "x" * 1000]
    code = f"from spectator.transforms.sessionize import bucket_of; print([bucket_of(u) for u in {users!r}])"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        assert out.stdout.strip() == str([bucket_of(u) for u in users])
    assert all(0 <= bucket_of(u) < BUCKETS for u in users)
