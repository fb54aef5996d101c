"""TestStream: early, on-time, late-but-allowed, dropped and merging panes, per window."""

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from tests.support.pipelines import local_pipeline
from tests.support.windowing import sessionize, streaming_options


def test_panes_per_window():
    with local_pipeline(streaming_options()) as p:
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
