"""ClickEvents -> SessionRecords, two ways: SessionWindows (Beam's Sessions windows, panes and
lateness) for any input, and FoldSessions (the gap rule without windows) for a bounded one."""

from __future__ import annotations

import gc
import time
import zlib
from collections.abc import Iterable, Iterator

import apache_beam as beam
import orjson
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from spectator.core.model import PANE_NAMES, ClickEvent, SessionRecord, parse_fields
from spectator.core.stats import Point, SessionStats, point, precombine
from spectator.io.files import LineRange, range_lines
from spectator.transforms.parse import DEAD_LETTERS, GLOBAL_WINDOWS, ParseDoFn
from spectator.transforms.stats import SessionStatsFn

# Events one PreCombine or GatherPoints holds before it emits them: it bounds a replay's memory.
MAX_BUFFERED_EVENTS = 100_000
# A bounded input's events cross the shuffle as their points, a flush's users packed into one element
# for each of BUCKETS groups of users (EncodedPoints). Beam's cost per element on the DirectRunner
# (coding, and between processes the data plane) is then paid per bucket, not per user or per session:
# a shuffled input holds about one event per user in each flush, so one partial per user cost more
# than the fold saved (BENCHMARKS.md, "File replay").
BUCKETS = 64
# (bucket, JSON [users, their point counts, times, pages, event types]): a column a field, which
# orjson writes and reads about three times as fast as pickle does the points (200k: 0.13 s, 0.36 s).
# Exact: times are integers below 10**14, and the strings were checked to be valid Unicode.
EncodedPoints = tuple[int, bytes]


def bucket_of(user_id: str) -> int:
    """The user's bucket. Not hash(): string hashes differ between processes, and every worker
    must send a user's points to the same bucket."""
    return zlib.crc32(user_id.encode()) % BUCKETS


def pack_points(points_by_user: dict[str, list[Point]]) -> list[EncodedPoints]:
    """Users' points, one encoded element per bucket that holds any of them."""
    buckets: dict[int, dict[str, list[Point]]] = {}
    for user, points in points_by_user.items():
        buckets.setdefault(bucket_of(user), {})[user] = points
    return [(bucket, orjson.dumps(_columns(users))) for bucket, users in buckets.items()]


def _columns(points_by_user: dict[str, list[Point]]) -> list[list]:
    counts, times, pages, types = [], [], [], []
    for points in points_by_user.values():
        counts.append(len(points))
        user_times, user_pages, user_types = zip(*points)
        times += user_times
        pages += user_pages
        types += user_types
    return [list(points_by_user), counts, times, pages, types]


def unpack_points(packed: Iterable[bytes]) -> dict[str, list[Point]]:
    """Every user's points from one bucket's packed elements, in no particular order."""
    points_by_user: dict[str, list[Point]] = {}
    for data in packed:
        users, counts, times, pages, types = orjson.loads(data)
        end = 0
        for user, count in zip(users, counts):
            start, end = end, end + count
            points = list(zip(times[start:end], pages[start:end], types[start:end]))
            mine = points_by_user.get(user)
            if mine is None:
                points_by_user[user] = points
            else:
                mine.extend(points)
    return points_by_user


class _PerUserBuffer(beam.DoFn):
    """Buffers a bundle's points per user; `emit` makes the elements of a full or finished buffer."""

    def start_bundle(self) -> None:
        self.buffer: dict[str, list[Point]] = {}
        self.buffered = 0

    def add(self, user_id: str, at: Point) -> list[WindowedValue] | None:
        self.buffer.setdefault(user_id, []).append(at)
        self.buffered += 1
        # A bounded replay is one bundle: without a cap the whole input would wait here.
        return self._flush() if self.buffered >= MAX_BUFFERED_EVENTS else None

    def finish_bundle(self) -> list[WindowedValue]:
        return self._flush()

    def _flush(self) -> list[WindowedValue]:
        out = self.emit(self.buffer)
        self.buffer, self.buffered = {}, 0
        return out

    def emit(self, points_by_user: dict[str, list[Point]]) -> list[WindowedValue]:
        raise NotImplementedError


class _PreCombineDoFn(_PerUserBuffer):
    """Folds a bundle's session-windowed events per user so that fewer elements reach the merging
    GroupByKey: each chain's stats go out in the session window of its events."""

    def __init__(self, gap_ms: int, bot_threshold: int):
        self.gap_ms = gap_ms
        self.bot_threshold = bot_threshold

    def process(self, event: ClickEvent) -> list[WindowedValue] | None:
        return self.add(event.user_id, point(event))

    def emit(self, points_by_user: dict[str, list[Point]]) -> list[WindowedValue]:
        out = []
        for user, points in points_by_user.items():
            for first_ms, last_ms, partial in precombine(user, points, self.gap_ms, self.bot_threshold):
                start = Timestamp(micros=first_ms * 1000)
                windows = (window.IntervalWindow(start, Timestamp(micros=(last_ms + self.gap_ms) * 1000)),)
                out.append(WindowedValue(partial, start, windows))
        return out


class _GatherPointsDoFn(_PerUserBuffer):
    """Emits a bounded input's points packed by bucket (EncodedPoints), in the global window, for
    JoinSessions. No stats yet: JoinSessions makes each session's once, from all its points."""

    def process(self, event: ClickEvent) -> list[WindowedValue] | None:
        return self.add(event.user_id, point(event))

    def emit(self, points_by_user: dict[str, list[Point]]) -> list[WindowedValue]:
        # The global window's elements carry no event time that anything downstream reads.
        return [WindowedValue(packed, MIN_TIMESTAMP, GLOBAL_WINDOWS) for packed in pack_points(points_by_user)]


class _ParseAndGatherDoFn(beam.DoFn):
    """A file range of a bounded replay, parsed and gathered per user in one step.

    The same work as ParseEvents then GatherPoints, but events never pass from one step to the
    next one at a time: on the DirectRunner those two passes cost about as much as the parsing.
    """

    def __init__(self, progress_every: int):
        self.parser = ParseDoFn(progress_every)
        self.gather = _GatherPointsDoFn()

    def setup(self) -> None:
        # Beam's modules leave many objects for the collector, and each full collection walks them
        # all; a replay allocates enough for several. A one-shot batch worker keeps
        # them for its whole life, so they leave the collector's walks.
        gc.freeze()

    def start_bundle(self) -> None:
        self.parser.start_bundle()
        self.gather.start_bundle()

    def process(self, line_range: LineRange) -> Iterator[WindowedValue | TaggedOutput]:
        for origin, payload in range_lines(line_range):
            # The fields, not a ClickEvent: the stats need three of them, and building a frozen
            # ClickEvent a line costs a fifth of what parsing the line does.
            fields = self.parser.parse(origin, payload, parse_fields)
            if type(fields) is TaggedOutput:
                yield fields
            else:
                user_id, timestamp_ms, event_type, page, _, _ = fields
                yield from self.gather.add(user_id, (timestamp_ms, page or "", event_type)) or ()

    def finish_bundle(self) -> list[WindowedValue]:
        self.parser.finish_bundle()
        return self.gather.finish_bundle()


def to_record(user_id: str, stats: SessionStats, window_end_ms: int, pane: str, pane_index: int) -> SessionRecord:
    return SessionRecord(
        user_id=user_id,
        start_ms=stats.start_ms,
        end_ms=stats.end_ms,
        duration_ms=stats.end_ms - stats.start_ms,
        event_count=stats.count,
        distinct_pages=len(stats.pages),
        entry_page=stats.entry_page,
        exit_page=stats.exit_page,
        event_types=dict(sorted(stats.types.items())),
        is_bounce=stats.count == 1,
        is_bot=stats.is_bot,
        pane=pane,
        updated_at_ms=int(time.time() * 1000),
        window_end_ms=window_end_ms,
        pane_index=pane_index,
    )


class ToRecordDoFn(beam.DoFn):
    def process(
        self,
        element: tuple[str, SessionStats],
        win=beam.DoFn.WindowParam,
        pane=beam.DoFn.PaneInfoParam,
    ) -> Iterator[SessionRecord]:
        user_id, stats = element
        # Batch runners report UNKNOWN timing for the single final pane: that pane is on time.
        name = PANE_NAMES[pane.timing] if pane.timing < len(PANE_NAMES) else "ON_TIME"
        yield to_record(user_id, stats, win.end.micros // 1000, name, pane.index)


class _JoinSessionsDoFn(beam.DoFn):
    def __init__(self, gap_ms: int, bot_threshold: int):
        self.gap_ms = gap_ms
        self.bot_threshold = bot_threshold

    def process(self, element: tuple[int, Iterable[bytes]]) -> Iterator[SessionRecord]:
        _, packed = element
        for user_id, points in unpack_points(packed).items():
            for _, _, (_, stats) in precombine(user_id, points, self.gap_ms, self.bot_threshold):
                yield to_record(user_id, stats, stats.end_ms + self.gap_ms, "ON_TIME", 0)


class JoinSessions(beam.PTransform):
    """A bounded input's points, grouped once per bucket of users in the global window, split into
    sessions by the gap rule: one ON_TIME SessionRecord per session."""

    def __init__(self, gap_ms: int, bot_threshold: int):
        super().__init__()
        self.gap_ms = gap_ms
        self.bot_threshold = bot_threshold

    def expand(self, packed: beam.PCollection[EncodedPoints]) -> beam.PCollection[SessionRecord]:
        return (
            packed
            | "GroupByBucket" >> beam.GroupByKey()
            | "JoinPoints" >> beam.ParDo(_JoinSessionsDoFn(self.gap_ms, self.bot_threshold))
        )


class SessionizeRanges(beam.PTransform):
    """A bounded replay of files: LineRanges -> {"sessions": SessionRecords, "dead_letters": ...},
    the same records as ParseEvents then FoldSessions, in fewer steps."""

    def __init__(self, gap_seconds: float, bot_threshold: int, progress_every: int = 0):
        super().__init__()
        self.gap_ms = round(gap_seconds * 1000)
        self.bot_threshold = bot_threshold
        self.progress_every = progress_every

    def expand(self, ranges: beam.PCollection[LineRange]) -> dict[str, beam.PCollection]:
        gather = _ParseAndGatherDoFn(self.progress_every)
        gathered = ranges | "ParseAndGather" >> beam.ParDo(gather).with_outputs(DEAD_LETTERS, main="points")
        sessions = gathered.points | "JoinSessions" >> JoinSessions(self.gap_ms, self.bot_threshold)
        return {"sessions": sessions, DEAD_LETTERS: gathered[DEAD_LETTERS]}


class FoldSessions(beam.PTransform):
    """A bounded input's sessions without windows: each user's events folded by the gap rule.

    Every event of a finished input is on time, so there is one ON_TIME pane a session, the same
    records SessionWindows gives on that input, without the merging GroupByKey, whose per-window
    trigger bookkeeping on the DirectRunner costs milliseconds a session. No lateness, no early
    panes: they mean nothing here.
    """

    def __init__(self, gap_seconds: float, bot_threshold: int):
        super().__init__()
        self.gap_ms = round(gap_seconds * 1000)
        self.bot_threshold = bot_threshold

    def expand(self, events: beam.PCollection[ClickEvent]) -> beam.PCollection[SessionRecord]:
        return (
            events
            | "GatherPoints" >> beam.ParDo(_GatherPointsDoFn())
            | "JoinSessions" >> JoinSessions(self.gap_ms, self.bot_threshold)
        )


class SessionWindows(beam.PTransform):
    """Sessions(gap) windows with early, on-time and late accumulating panes, as SessionRecords.

    The step names inside are part of a Flink savepoint (they name its operators' state): keep them.
    """

    def __init__(
        self,
        gap_seconds: float,
        allowed_lateness_seconds: float,
        early_firing_seconds: int,
        bot_threshold: int,
    ):
        super().__init__()
        self.gap_seconds = gap_seconds
        self.allowed_lateness_seconds = allowed_lateness_seconds
        self.early_firing_seconds = early_firing_seconds
        self.bot_threshold = bot_threshold

    def expand(self, events: beam.PCollection[ClickEvent]) -> beam.PCollection[SessionRecord]:
        gap_ms = round(self.gap_seconds * 1000)
        early = trigger.AfterProcessingTime(self.early_firing_seconds) if self.early_firing_seconds > 0 else None
        return (
            events
            | "SessionWindows"
            >> beam.WindowInto(
                window.Sessions(self.gap_seconds),
                trigger=trigger.AfterWatermark(early=early, late=trigger.AfterCount(1)),
                allowed_lateness=self.allowed_lateness_seconds,
                accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
            )
            | "PreCombine" >> beam.ParDo(_PreCombineDoFn(gap_ms, self.bot_threshold))
            | "SessionStats" >> beam.CombinePerKey(SessionStatsFn(self.bot_threshold))
            | "ToSessionRecord" >> beam.ParDo(ToRecordDoFn())
        )
