"""Per-session statistics as pure, mergeable accumulators, and the gap rule that joins them."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

from spectator.core.model import ClickEvent

BOT_WINDOW_MS = 60_000
# One event as the statistics need it: (timestamp_ms, page or "", event_type). A tuple of
# strings and ints is untracked by the garbage collector, so buffering many costs no GC passes.
Point = tuple[int, str, str]
Partial = tuple[str, "SessionStats"]


class SessionStats:
    """Everything a SessionRecord needs from its events, mergeable in any order.

    Entry and exit pages break ties on equal timestamps by page name, so the result does not
    depend on the order in which partial accumulators merge.
    """

    __slots__ = ("count", "first", "is_bot", "last", "pages", "times", "types")

    def __init__(self) -> None:
        self.count = 0
        self.first: Point | None = None
        self.last: Point | None = None
        self.pages: set[str] = set()
        self.types: dict[str, int] = {}
        self.is_bot = False
        # Sorted event times, kept until the session is known to be a bot (then it stays one).
        self.times: list[int] = []

    def __getstate__(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state) -> None:
        for name, value in zip(self.__slots__, state):
            setattr(self, name, value)

    def to_bytes(self) -> bytes:
        return pickle.dumps(self.__getstate__(), pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionStats:
        stats = cls.__new__(cls)
        stats.__setstate__(pickle.loads(data))
        return stats

    @property
    def start_ms(self) -> int:
        return self.first[0]

    @property
    def end_ms(self) -> int:
        return self.last[0]

    @property
    def entry_page(self) -> str | None:
        return self.first[1] or None

    @property
    def exit_page(self) -> str | None:
        return self.last[1] or None


def point(event: ClickEvent) -> Point:
    return (event.timestamp_ms, event.page or "", event.event_type)


def stats_of_sorted(points: list[Point], bot_threshold: int) -> SessionStats:
    """The stats of sorted, non-empty points, in one pass over each field."""
    stats = SessionStats()
    stats.count = len(points)
    stats.first, stats.last = points[0], points[-1]
    stats.pages = {page for _, page, _ in points if page}
    types = stats.types
    for _, _, kind in points:
        types[kind] = types.get(kind, 0) + 1
    stats.times = [t for t, _, _ in points]
    check_bot(stats, bot_threshold, 0, len(points))
    return stats


def merge(stats: SessionStats, other: SessionStats, bot_threshold: int) -> SessionStats:
    """Fold `other` into `stats` (which it mutates and returns)."""
    if other.count == 0:
        return stats
    stats.count += other.count
    if stats.first is None or other.first < stats.first:
        stats.first = other.first
    if stats.last is None or other.last > stats.last:
        stats.last = other.last
    stats.pages |= other.pages
    for name, n in other.types.items():
        stats.types[name] = stats.types.get(name, 0) + n
    if stats.is_bot or other.is_bot:
        stats.is_bot, stats.times = True, []
        return stats
    first, second = stats.times, other.times
    if first and second and second[0] < first[-1]:
        first, second = second, first  # the earlier run of times first, if they do not interleave
    if not first or not second or first[-1] <= second[0]:
        # Only the windows across the seam are new: the others were checked before.
        stats.times = first + second
        check_bot(stats, bot_threshold, len(first) - bot_threshold, len(first))
    else:
        stats.times = sorted(first + second)
        check_bot(stats, bot_threshold, 0, len(stats.times))
    return stats


def check_bot(stats: SessionStats, bot_threshold: int, lo: int, hi: int) -> None:
    """A bot has more than `bot_threshold` events within some 60 s: looks at the windows of
    bot_threshold + 1 sorted times that start at indexes lo to hi - 1."""
    times, n = stats.times, bot_threshold
    for i in range(max(lo, 0), min(hi, len(times) - n)):
        if times[i + n] - times[i] < BOT_WINDOW_MS:
            stats.is_bot, stats.times = True, []
            return


def chains(times_ms: list[int], gap_ms: int) -> list[tuple[int, int]]:
    """Split sorted times into runs where each step is strictly less than the gap: [(i, j), ...]."""
    runs, begin = [], 0
    for i in range(1, len(times_ms)):
        if times_ms[i] - times_ms[i - 1] >= gap_ms:
            runs.append((begin, i))
            begin = i
    if times_ms:
        runs.append((begin, len(times_ms)))
    return runs


def precombine(user: str, points: list[Point], gap_ms: int, bot_threshold: int) -> Iterator[tuple[int, int, Partial]]:
    """One user's points -> (first_ms, last_ms, (user, stats)) per chain of points less than the gap apart.

    Sessions(gap) merges a chain's events into the window [first, last + gap), so that window,
    given to the chain's stats, merges with the rest of the session exactly as its events would.
    """
    points = sorted(points)
    for begin, end in chains([t for t, _, _ in points], gap_ms):
        chain = points[begin:end]
        yield chain[0][0], chain[-1][0], (user, stats_of_sorted(chain, bot_threshold))
