"""Shared by the benchmarks: each variant runs in a child process, so its peak memory is its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from spectator.core.generate import generate
from spectator.io.kafka.produce import produce


class PeakRss:
    """The peak resident memory of a process tree, sampled every 0.25 s.

    The peak is that of the tree's total (the sum of VmRSS at each sample), but never below
    one process's own peak (VmHWM), which may fall between samples. The sum of every
    process's own peak overstates it, as the peaks come at different times; it is kept too.
    """

    def __init__(self, root: int, include_root: bool = True):
        self.root, self.include_root = root, include_root
        self.peaks: dict[int, int] = {}  # pid -> its own peak, kB
        self.total_peak = 0  # kB
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _tree(self) -> list[int]:
        children = defaultdict(list)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry))
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree if self.include_root else tree[1:]

    def _run(self) -> None:
        while not self.done.is_set():
            total = 0
            for pid in self._tree():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peaks[pid] = max(self.peaks.get(pid, 0), int(line.split()[1]))
                    elif line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            self.total_peak = max(self.total_peak, total)
            self.done.wait(0.25)

    def stop(self) -> float:
        """The peak, in MB."""
        self.done.set()
        self.thread.join()
        return max(self.total_peak, *self.peaks.values(), 0) / 1024

    @property
    def sum_of_peaks_mb(self) -> float:
        return sum(self.peaks.values()) / 1024


class PaneWrites:
    """Follows the stream of pane writes on a thread (it is capped, so it is read as it grows) and
    calls on_write(written_ms, fields) for each, until stop()."""

    def __init__(self, client, on_write: Callable[[int, dict], None]):
        self.client, self.on_write = client, on_write
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        last = "0"
        while not self.done.is_set():
            for _, entries in self.client.xread({"spectator:panes": last}, block=500, count=10_000) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    self.on_write(int(entry_id.split(b"-")[0]), fields)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def measure(work: Callable[[], object]) -> None:
    """Run in the child: time `work` and print seconds and peak RSS (PeakRss of the child and the
    worker processes it starts) as one JSON line."""
    rss = PeakRss(os.getpid())
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": rss.stop(), "sum_of_peaks_mb": rss.sum_of_peaks_mb}))


def run_child(module: str, variant: str, args: list[str], before: Callable[[], None] = lambda: None) -> dict:
    before()
    cmd = [sys.executable, "-m", module, "--child", variant, *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_process(cmd: list[str], before: Callable[[], None] = lambda: None) -> dict:
    """Run `cmd` as a user would and time it from spawn to exit: the whole process, its imports,
    start-up and shutdown included. Returns seconds, peak_mb (PeakRss of its tree) and its stdout."""
    before()
    started = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rss = PeakRss(child.pid)
    out, err = child.communicate()
    seconds = time.perf_counter() - started
    peak_mb = rss.stop()
    if child.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({child.returncode}):\n{err[-3000:]}")
    return {"seconds": seconds, "peak_mb": peak_mb, "stdout": out}


def print_table(title: str, events: int, results: dict[str, dict], base: str) -> None:
    load = os.getloadavg()[0]
    print(f"{events:,} events, {os.cpu_count()} cores, load average {load:.2f} at the end; {title}")
    print(f"{'variant':<14}{'seconds':>10}{'events/s':>12}{'peak MB':>10}{f'vs {base}':>18}")
    for variant, r in results.items():
        ratio = results[base]["seconds"] / r["seconds"] if base in results else float("nan")
        print(f"{variant:<14}{r['seconds']:>10.1f}{events / r['seconds']:>12,.0f}{r['peak_mb']:>10.0f}{ratio:>17.1f}x")


def live_stream(bootstrap: str, topic: str, rate: float, seconds: float, sent: list, users: int) -> int:
    """Events of `users` users at a steady rate for `seconds`, each stamped with its send time;
    appended to `sent` as records. Returns how many were sent."""
    source = generate(max(users, 1), seed=2)

    def records():
        started = time.time()
        for i, e in enumerate(source):
            ahead = started + i / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
            if time.time() - started > seconds:
                return
            e["timestamp"] = int(time.time() * 1000)
            record = (e["user_id"], json.dumps(e).encode(), e["timestamp"])
            sent.append(record)
            yield record

    return produce(bootstrap, topic, records())
