"""Shared by the benchmarks: each variant runs in a child process, so its peak memory is its own."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable


def measure(work: Callable[[], object]) -> None:
    """Run in the child: time `work` and print seconds and peak RSS as one JSON line."""
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(module: str, variant: str, args: list[str], before: Callable[[], None] = lambda: None) -> dict:
    before()
    cmd = [sys.executable, "-m", module, "--child", variant, *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(title: str, events: int, results: dict[str, dict], base: str) -> None:
    load = os.getloadavg()[0]
    print(f"{events:,} events, {os.cpu_count()} cores, load average {load:.2f} at the end; {title}")
    print(f"{'variant':<14}{'seconds':>10}{'events/s':>12}{'peak MB':>10}{f'vs {base}':>18}")
    for variant, r in results.items():
        ratio = results[base]["seconds"] / r["seconds"] if base in results else float("nan")
        print(f"{variant:<14}{r['seconds']:>10.1f}{events / r['seconds']:>12,.0f}{r['peak_mb']:>10.0f}{ratio:>17.1f}x")
