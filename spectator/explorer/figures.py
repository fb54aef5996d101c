"""Percentiles and a histogram of session durations."""

from __future__ import annotations

import math

NICE_STEPS_MS = [1000 * s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200)]


def percentile(sorted_values: list[int], q: float) -> int | None:
    """Nearest-rank percentile: a value that really occurred, not an interpolation."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram(sorted_values: list[int], bins: int = 20) -> tuple[list[int], list[int]]:
    """Bin edges (ms, one more than counts) on a round step, and the count in each bin."""
    if not sorted_values:
        return [0, NICE_STEPS_MS[0]], [0]
    top = sorted_values[-1]
    step = next((s for s in NICE_STEPS_MS if s * bins > top), None)
    if step is None:
        step = math.ceil((top + 1) / bins / 86_400_000) * 86_400_000
    n = top // step + 1
    counts = [0] * n
    for v in sorted_values:
        counts[v // step] += 1
    return [i * step for i in range(n + 1)], counts
