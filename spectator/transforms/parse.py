"""ParseEvents: raw payloads -> ClickEvents stamped with event time, and dead letters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from spectator.core.model import BadEvent, DeadLetter, parse_event

DEAD_LETTERS = "dead_letters"
# A raw event and where it came from ("file.jsonl:12", "topic/partition@offset").
RawEvent = tuple[str, bytes | str]
log = logging.getLogger(__name__)
T = TypeVar("T")
GLOBAL_WINDOWS = (beam.window.GlobalWindow(),)  # made once: GlobalWindow() is slow to construct


MAX_DEAD_LETTER_CHARS = 16_384  # of a payload kept in the dead letters: the stream stays small


def _text(payload: bytes | str | None) -> str:
    """A payload as text for the dead letters: undecodable bytes escaped, long ones cut short."""
    if payload is None:
        return ""
    text = payload.decode("utf-8", errors="backslashreplace") if isinstance(payload, bytes) else payload
    if len(text) > MAX_DEAD_LETTER_CHARS:
        return f"{text[:MAX_DEAD_LETTER_CHARS]}…[{len(text):,} characters in all]"
    # Lone surrogates (from JSON escapes) cannot be written to Redis as UTF-8.
    return text.encode("utf-8", errors="backslashreplace").decode()


class ParseDoFn(beam.DoFn):
    def __init__(self, progress_every: int):
        self.progress_every = progress_every
        self.parsed = Metrics.counter("spectator", "events_parsed")
        self.dead = Metrics.counter("spectator", "dead_letters")

    def start_bundle(self) -> None:
        self.seen = 0
        self.good = 0

    def finish_bundle(self) -> None:
        # Counted once a bundle, not once an event: a counter's inc() looks up the step's
        # metrics container each time, which cost about a tenth of a replay's parsing.
        self.parsed.inc(self.good)
        self.good = 0

    def process(self, element: RawEvent) -> Iterator[WindowedValue | TaggedOutput]:
        event = self.parse(*element)
        if type(event) is TaggedOutput:
            yield event
        else:
            # Raw events come straight from a source, in the global window. A TimestampedValue would
            # have its window assigned again, which costs more than the parsing.
            yield WindowedValue(event, Timestamp(micros=event.timestamp_ms * 1000), GLOBAL_WINDOWS)

    def parse(
        self, origin: str, payload: bytes | str, parser: Callable[[bytes | str], T] = parse_event
    ) -> T | TaggedOutput:
        """The event (or what `parser` makes of it), or its dead letter as a tagged output;
        counted and logged either way."""
        self.seen += 1
        if self.progress_every and self.seen % self.progress_every == 0:
            log.info("parsed %d events in this bundle (last from %s)", self.seen, origin)
        try:
            event = parser(payload)
        except BadEvent as e:
            self.dead.inc()
            Metrics.counter("spectator.dead_letters", e.code).inc()
            return TaggedOutput(DEAD_LETTERS, DeadLetter(_text(payload), str(e), e.code, origin))
        self.good += 1
        return event


class ParseEvents(beam.PTransform):
    """(origin, payload) -> main output of ClickEvents, tagged output `dead_letters`."""

    def __init__(self, progress_every: int = 0):
        super().__init__()
        self.progress_every = progress_every

    def expand(self, raw: beam.PCollection[RawEvent]) -> beam.pvalue.DoOutputsTuple:
        return raw | "Parse" >> beam.ParDo(ParseDoFn(self.progress_every)).with_outputs(DEAD_LETTERS, main="events")
