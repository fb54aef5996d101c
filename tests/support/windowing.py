"""A TestStream clickstream with early, on-time, late-but-allowed, dropped and merging panes."""

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

from spectator.core.model import ClickEvent
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


def streaming_options():
    opts = PipelineOptions()
    opts.view_as(StandardOptions).streaming = True
    return opts
