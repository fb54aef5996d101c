"""Shared by the benchmarks: each variant runs in a child process, so its peak memory is its own."""

from __future__ import annotations

import glob
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants (worker processes), from /proc."""
    parents, rss = {}, {}
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in open(status).read().splitlines() if ":" in line)
        except OSError:  # the process ended meanwhile
            continue
        pid = int(fields["Pid"])
        parents[pid] = int(fields["PPid"])
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024

    def in_tree(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parents.get(pid, 0)
        return False

    return sum(mb for pid, mb in rss.items() if in_tree(pid))


def measure(work: Callable[[], object]) -> None:
    """Run in the child: time `work` and print seconds and peak RSS as one JSON line.

    Peak RSS counts worker processes too: their sum, sampled every 0.2 s, when above the
    child's own peak."""
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss_mb(os.getpid()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": max(own, peak[0])}))


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
