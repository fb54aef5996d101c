"""SessionStatsFn: the CombineFn over partial SessionStats (spectator/core/stats.py)."""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam

# SessionStats is imported here, not only used: window state in savepoints taken before the core
# moved out holds accumulators pickled as spectator.transforms.stats.SessionStats.
from spectator.core.stats import SessionStats, merge


class SessionStatsFn(beam.CombineFn):
    """Combines partial SessionStats (transforms/sessionize.py folds a bundle's events into them)."""

    def __init__(self, bot_threshold: int):
        self.bot_threshold = bot_threshold

    def create_accumulator(self) -> SessionStats:
        return SessionStats()

    def add_input(self, acc: SessionStats, partial: SessionStats) -> SessionStats:
        return merge(acc, partial, self.bot_threshold)

    def merge_accumulators(self, accumulators: Iterable[SessionStats]) -> SessionStats:
        it = iter(accumulators)
        acc = next(it)
        for other in it:
            merge(acc, other, self.bot_threshold)
        return acc

    def extract_output(self, acc: SessionStats) -> SessionStats:
        return acc
