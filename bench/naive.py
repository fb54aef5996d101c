"""The baselines: SessionStats built one event at a time, as a first version would; and over a file,
the naive Beam pipeline and the plain-Python single pass, each runnable as a process of its own:

    .cache/venv/bin/python -m bench.naive naive-default FILE

prints the seconds of its work (after the imports) as one JSON line. Beam is imported only by the
naive pipeline: the peers' apps import this module where Beam is not installed, and the plain pass
would otherwise pay for an import it does not use.
"""

from __future__ import annotations

import argparse
import json
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable

from spectator.core.model import ClickEvent, parse_event
from spectator.core.stats import SessionStats, chains, check_bot, merge, point

GAP_S = 1800
BOT_THRESHOLD = 100


def add_event(stats: SessionStats, event: ClickEvent, bot_threshold: int) -> SessionStats:
    at_point = point(event)
    stats.count += 1
    if stats.first is None or at_point < stats.first:
        stats.first = at_point
    if stats.last is None or at_point > stats.last:
        stats.last = at_point
    if event.page:
        stats.pages.add(event.page)
    stats.types[event.event_type] = stats.types.get(event.event_type, 0) + 1
    if not stats.is_bot:
        at = bisect_right(stats.times, event.timestamp_ms)
        stats.times.insert(at, event.timestamp_ms)  # events mostly come in order: an append
        check_bot(stats, bot_threshold, at - bot_threshold, at + 1)
    return stats


def stats_of(events: Iterable[ClickEvent], bot_threshold: int) -> SessionStats:
    stats = SessionStats()
    for event in events:
        add_event(stats, event, bot_threshold)
    return stats


def naive(path: str, full_trigger: bool = True) -> int:
    """Raw events -> Sessions -> CombinePerKey; with the project's trigger, or Beam's default one."""
    import apache_beam as beam
    from apache_beam.transforms import trigger, window

    class RawStatsFn(beam.CombineFn):
        """The naive combine: one raw event at a time into the same statistics."""

        def create_accumulator(self):
            return SessionStats()

        def add_input(self, acc, event):
            return add_event(acc, event, BOT_THRESHOLD)

        def merge_accumulators(self, accs):
            accs = list(accs)
            for other in accs[1:]:
                merge(accs[0], other, BOT_THRESHOLD)
            return accs[0]

        def extract_output(self, acc):
            return acc.count

    def stamp(line):
        event = parse_event(line)
        return beam.window.TimestampedValue((event.user_id, event), event.timestamp_ms / 1000)

    windowing = beam.WindowInto(window.Sessions(GAP_S))
    if full_trigger:
        windowing = beam.WindowInto(
            window.Sessions(GAP_S),
            trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
            allowed_lateness=3600,
            accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        )
    with beam.Pipeline() as p:
        (
            p
            | beam.io.ReadFromText(path)
            | beam.Map(stamp)
            | windowing
            | beam.CombinePerKey(RawStatsFn())
            | beam.Map(lambda kv: None)
        )
    return 0


def plain_sessions(path: str) -> list[tuple[str, SessionStats]]:
    """A single Python pass: parse, group by user, sort, split at the gap, compute the same stats."""
    by_user = defaultdict(list)
    with open(path, "rb") as f:
        for line in f:
            event = parse_event(line)
            by_user[event.user_id].append(event)
    sessions = []
    for user, events in by_user.items():
        events.sort(key=lambda e: e.timestamp_ms)
        for begin, end in chains([e.timestamp_ms for e in events], GAP_S * 1000):
            sessions.append((user, stats_of(events[begin:end], BOT_THRESHOLD)))
    return sessions


def plain(path: str) -> int:
    return len(plain_sessions(path))


VARIANTS = {
    "naive": lambda path: naive(path),
    "naive-default": lambda path: naive(path, full_trigger=False),
    "plain": plain,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variant", choices=sorted(VARIANTS))
    ap.add_argument("input")
    args = ap.parse_args()
    started = time.perf_counter()
    VARIANTS[args.variant](args.input)
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
