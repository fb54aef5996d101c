"""The baselines' statistics: SessionStats built one event at a time, as a first version would."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from spectator.core.model import ClickEvent
from spectator.core.stats import SessionStats, check_bot, point


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
