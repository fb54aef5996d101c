"""ClickEvents -> SessionRecords, two ways: SessionWindows (Beam's Sessions windows, panes and
lateness) for any input, and FoldSessions (the gap rule without windows) for a bounded one."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from spectator.core.model import PANE_NAMES, ClickEvent, SessionRecord, parse_fields
from spectator.core.stats import Point, SessionStats, join_partials, point, precombine
from spectator.io.files import LineRange, range_lines
from spectator.transforms.parse import DEAD_LETTERS, GLOBAL_WINDOWS, ParseDoFn
from spectator.transforms.stats import SessionStatsFn

# A partial between the steps of a bounded input, its stats pickled as a plain tuple: Beam's coder
# falls back to pickling each object, which is slower (BENCHMARKS.md, "Figures behind the code").
EncodedPartial = tuple[str, bytes]
# Events one PreCombine holds before it emits their partials: it bounds a replay's memory.
MAX_BUFFERED_EVENTS = 100_000


class _PreCombineDoFn(beam.DoFn):
    """Folds a bundle's events per user so that fewer elements reach the merging GroupByKey.

    With `windowed`, each chain's stats go out in the session window of its events (the input is
    session-windowed); otherwise in the global window, encoded (EncodedPartial) for JoinSessions.
    """

    def __init__(self, gap_ms: int, bot_threshold: int, windowed: bool):
        self.gap_ms = gap_ms
        self.bot_threshold = bot_threshold
        self.windowed = windowed

    def start_bundle(self) -> None:
        self.buffer: dict[str, list[Point]] = {}
        self.buffered = 0

    def process(self, event: ClickEvent) -> list[WindowedValue] | None:
        return self.add(event.user_id, point(event))

    def add(self, user_id: str, at: Point) -> list[WindowedValue] | None:
        self.buffer.setdefault(user_id, []).append(at)
        self.buffered += 1
        # A bounded replay is one bundle: without a cap the whole input would wait here.
        return self._flush() if self.buffered >= MAX_BUFFERED_EVENTS else None

    def finish_bundle(self) -> list[WindowedValue]:
        return self._flush()

    def _flush(self) -> list[WindowedValue]:
        out = []
        for user, points in self.buffer.items():
            for first_ms, last_ms, partial in precombine(user, points, self.gap_ms, self.bot_threshold):
                start = Timestamp(micros=first_ms * 1000)
                if self.windowed:
                    windows = (window.IntervalWindow(start, Timestamp(micros=(last_ms + self.gap_ms) * 1000)),)
                    out.append(WindowedValue(partial, start, windows))
                else:
                    out.append(WindowedValue((user, partial[1].to_bytes()), start, GLOBAL_WINDOWS))
        self.buffer, self.buffered = {}, 0
        return out


class _ParseAndPreCombineDoFn(beam.DoFn):
    """A file range of a bounded replay, parsed and folded per user in one step.

    The same work as ParseEvents then PreCombine, but events never pass from one step to the
    next one at a time: on the DirectRunner those two passes cost about as much as the parsing.
    """

    def __init__(self, progress_every: int, gap_ms: int, bot_threshold: int):
        self.parser = ParseDoFn(progress_every)
        self.fold = _PreCombineDoFn(gap_ms, bot_threshold, windowed=False)

    def setup(self) -> None:
        # Beam's modules leave many objects for the collector, and each full collection walks them
        # all; a replay allocates enough for several. A one-shot batch worker keeps
        # them for its whole life, so they leave the collector's walks.
        gc.freeze()

    def start_bundle(self) -> None:
        self.parser.start_bundle()
        self.fold.start_bundle()

    def process(self, line_range: LineRange) -> Iterator[WindowedValue | TaggedOutput]:
        for origin, payload in range_lines(line_range):
            # The fields, not a ClickEvent: the fold needs three of them, and building a frozen
            # ClickEvent a line costs a fifth of what parsing the line does.
            fields = self.parser.parse(origin, payload, parse_fields)
            if type(fields) is TaggedOutput:
                yield fields
            else:
                user_id, timestamp_ms, event_type, page, _, _ = fields
                yield from self.fold.add(user_id, (timestamp_ms, page or "", event_type)) or ()

    def finish_bundle(self) -> list[WindowedValue]:
        return self.fold.finish_bundle()


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

    def process(self, element: tuple[str, Iterable[bytes]]) -> Iterator[SessionRecord]:
        user_id, partials = element
        for stats in join_partials([SessionStats.from_bytes(p) for p in partials], self.gap_ms, self.bot_threshold):
            yield to_record(user_id, stats, stats.end_ms + self.gap_ms, "ON_TIME", 0)


class JoinSessions(beam.PTransform):
    """A bounded input's partials, grouped once per user in the global window and joined by the
    gap rule: one ON_TIME SessionRecord per session."""

    def __init__(self, gap_ms: int, bot_threshold: int):
        super().__init__()
        self.gap_ms = gap_ms
        self.bot_threshold = bot_threshold

    def expand(self, partials: beam.PCollection[EncodedPartial]) -> beam.PCollection[SessionRecord]:
        return (
            partials
            | "GroupByUser" >> beam.GroupByKey()
            | "JoinPartials" >> beam.ParDo(_JoinSessionsDoFn(self.gap_ms, self.bot_threshold))
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
        fold = _ParseAndPreCombineDoFn(self.progress_every, self.gap_ms, self.bot_threshold)
        folded = ranges | "ParseAndPreCombine" >> beam.ParDo(fold).with_outputs(DEAD_LETTERS, main="partials")
        sessions = folded.partials | "JoinSessions" >> JoinSessions(self.gap_ms, self.bot_threshold)
        return {"sessions": sessions, DEAD_LETTERS: folded[DEAD_LETTERS]}


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
            | "PreCombine" >> beam.ParDo(_PreCombineDoFn(self.gap_ms, self.bot_threshold, windowed=False))
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
            | "PreCombine" >> beam.ParDo(_PreCombineDoFn(gap_ms, self.bot_threshold, windowed=True))
            | "SessionStats" >> beam.CombinePerKey(SessionStatsFn(self.bot_threshold))
            | "ToSessionRecord" >> beam.ParDo(ToRecordDoFn())
        )
