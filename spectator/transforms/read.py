"""ReadClickEvents: the one source transform; it picks file replay or Kafka from the options."""

from __future__ import annotations

import apache_beam as beam

from spectator.io.files import ReadEventLines


class ReadClickEvents(beam.PTransform):
    """Raw events as (origin, payload) pairs, from `input` files."""

    def __init__(self, input_pattern: str | None):
        super().__init__()
        self.input_pattern = input_pattern

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        if not self.input_pattern:
            raise ValueError("no input: pass --input FILE.jsonl")
        return pbegin | "ReadEventLines" >> ReadEventLines(self.input_pattern)
