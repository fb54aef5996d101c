"""TestStream: early, on-time, late-but-allowed, dropped and merging panes, per window, then in Redis."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from spectator.core.model import ClickEvent
from spectator.io.redis.write import WriteSessionsToRedis
from spectator.transforms.sessionize import SessionWindows


def at(user, seconds, page="/"):
    return TimestampedValue(ClickEvent(user, seconds * 1000, page=page), seconds)


def stream():
    return (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at("u", 10, "/home"), at("u", 20, "/cart")])
        .advance_processing_time(6)  # early pane while the session is open
        .advance_watermark_to(75)  # on time: [10, 70) closes
        .add_elements([at("u", 100), at("v", 130)])
        .advance_watermark_to(200)  # on time: [100, 150) and [130, 180)
        # Late but allowed (lateness 100): 60 bridges u's two sessions; 140 extends v's.
        .add_elements([at("u", 60, "/help"), at("v", 140)])
        .advance_watermark_to(500)
        .add_elements([at("u", 5)])  # [5, 55) expired at 155 < 500: dropped
        .advance_watermark_to_infinity()
    )


def sessionize(p):
    return (
        p
        | stream()
        | SessionWindows(gap_seconds=50, allowed_lateness_seconds=100, early_firing_seconds=5, bot_threshold=100)
    )


def options():
    opts = PipelineOptions()
    opts.view_as(StandardOptions).streaming = True
    return opts


def test_panes_per_window():
    with TestPipeline(options=options()) as p:
        panes = sessionize(p) | beam.Map(
            lambda r: (r.user_id, r.start_ms // 1000, r.window_end_ms // 1000, r.pane, r.event_count, r.entry_page)
        )
        assert_that(
            panes,
            equal_to(
                [
                    ("u", 10, 70, "EARLY", 2, "/home"),
                    ("u", 10, 70, "ON_TIME", 2, "/home"),
                    ("u", 100, 150, "ON_TIME", 1, "/"),
                    ("v", 130, 180, "ON_TIME", 1, "/"),
                    ("u", 10, 150, "LATE", 4, "/home"),
                    ("v", 130, 190, "LATE", 2, "/"),
                ]
            ),
        )


def test_panes_land_in_redis_as_one_record_per_session(redis_url, store):
    with TestPipeline(options=options()) as p:
        _ = sessionize(p) | WriteSessionsToRedis(redis_url, batch_size=1)
    got = [(r.user_id, r.start_ms, r.end_ms, r.event_count, r.pane, r.exit_page) for r in store.all_sessions()]
    assert got == [("u", 10_000, 100_000, 4, "LATE", "/"), ("v", 130_000, 140_000, 2, "LATE", "/")]
    assert store.top() == [("u", 4), ("v", 2)]
    assert store.stats()["sessions"] == 2 and store.stats()["events"] == 6
