"""TestStream's panes (tests/support/windowing.py) in Redis: one record per session."""

from spectator.io.redis.write import WriteSessionsToRedis
from tests.support.pipelines import local_pipeline
from tests.support.windowing import sessionize, streaming_options


def test_panes_land_in_redis_as_one_record_per_session(redis_url, store):
    with local_pipeline(streaming_options()) as p:
        _ = sessionize(p) | WriteSessionsToRedis(redis_url, batch_size=1)
    got = [(r.user_id, r.start_ms, r.end_ms, r.event_count, r.pane, r.exit_page) for r in store.all_sessions()]
    assert got == [("u", 10_000, 100_000, 4, "LATE", "/"), ("v", 130_000, 140_000, 2, "LATE", "/")]
    assert store.top() == [("u", 4), ("v", 2)]
    assert store.stats()["sessions"] == 2 and store.stats()["events"] == 6
