"""Scaling benchmark: the project's file replay and the plain-Python pass over 100k, 1M and 5M events,
to show that time and peak memory grow linearly with the input (docs/scaling.png).

    scripts/bench_env.sh   # makes .cache/bench-venv (the project and matplotlib)
    .cache/bench-venv/bin/python -m bench.scaling

Each size and variant runs in its own process through bench/replay.py, so its peak memory (max RSS)
is its own. Exits non-zero if the 1M-event project replay peaks over 1 GB, or if a variant's time
per event at the largest size is over 1.5x its time per event at 1M. Needs the Redis of
scripts/services.sh (the project's variant writes to it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import redis

from bench.common import run_child
from spectator.core.generate import generate, write_jsonl

RSS_LIMIT_MB = 1024
MAX_SLOWDOWN = 1.5
REFERENCE = 1_000_000


def input_file(n: int) -> str:
    """The n-event input as bench/replay.py makes it; kept between runs, as 5M events take a while to generate."""
    path = f"/tmp/spectator-scaling-{n}.jsonl"
    if os.path.exists(path):
        with open(path, "rb") as f:
            if sum(1 for _ in f) == n:
                return path
    events = generate(max(n // 20, 1), seed=1)
    if write_jsonl(path, (e for _, e in zip(range(n), events))) != n:
        sys.exit(f"the generator made fewer than {n:,} events")
    return path


def print_table(results: list[dict], cores: int, load: float) -> None:
    smallest = {r["variant"]: r for r in results if r["events"] == min(x["events"] for x in results)}
    print(f"file replay scaling, {cores} cores, load average {load:.2f} at the end")
    print(f"{'events':>10}  {'variant':<9}{'seconds':>9}{'events/s':>11}{'peak MB':>9}{'s/1M':>8}{'MB/1M above':>13}")
    for r in results:
        base = smallest[r["variant"]]
        extra = r["events"] - base["events"]
        growth = f"{(r['peak_mb'] - base['peak_mb']) / extra * 1e6:13.0f}" if extra else f"{'-':>13}"
        print(
            f"{r['events']:>10,}  {r['variant']:<9}{r['seconds']:>9.1f}{r['events'] / r['seconds']:>11,.0f}"
            f"{r['peak_mb']:>9.0f}{r['seconds'] / r['events'] * 1e6:>8.1f}{growth}"
        )


def plot(results: list[dict], path: str, cores: int, load: float) -> None:
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4.5))
    for variant in dict.fromkeys(r["variant"] for r in results):
        rows = [r for r in results if r["variant"] == variant]
        sizes = [r["events"] for r in rows]
        speed.plot(sizes, [r["events"] / r["seconds"] for r in rows], "o-", label=variant)
        memory.plot(sizes, [r["peak_mb"] for r in rows], "o-", label=variant)
    memory.axhline(RSS_LIMIT_MB, color="grey", linestyle="--", label="1 GB limit (at 1M events)")
    sizes = sorted({r["events"] for r in results})
    for ax, ylabel in ((speed, "events/s"), (memory, "peak RSS (MB)")):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("input size (events)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"File replay scaling: {cores} cores, load average {load:.2f}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def failures(results: list[dict]) -> list[str]:
    def find(n: int, variant: str) -> dict | None:
        return next((r for r in results if r["events"] == n and r["variant"] == variant), None)

    sizes = sorted({r["events"] for r in results})
    problems = []
    project = find(REFERENCE, "project")
    if project and project["peak_mb"] > RSS_LIMIT_MB:
        problems.append(f"the 1M-event project replay peaked at {project['peak_mb']:.0f} MB (> {RSS_LIMIT_MB})")
    # Without 1M in --sizes (small test runs), compare against the second-largest size instead.
    reference = REFERENCE if REFERENCE in sizes else sizes[-2] if len(sizes) > 1 else None
    if reference is None or reference == sizes[-1]:
        return problems
    for variant in dict.fromkeys(r["variant"] for r in results):
        big, ref = find(sizes[-1], variant), find(reference, variant)
        slowdown = (big["seconds"] / big["events"]) / (ref["seconds"] / ref["events"])
        if slowdown > MAX_SLOWDOWN:
            problems.append(f"{variant} takes {slowdown:.2f}x the time per event at {sizes[-1]:,} as at {reference:,}")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000,5000000", help="event counts, comma-separated")
    ap.add_argument("--variants", default="project,plain", help="variants of bench/replay.py")
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    ap.add_argument("--plot", default="docs/scaling.png")
    ap.add_argument("--json", default="/tmp/spectator-scaling.json")
    args = ap.parse_args()

    client = redis.Redis.from_url(args.redis_url)
    results = []
    for n in sorted(int(s) for s in args.sizes.split(",")):
        path = input_file(n)
        for variant in args.variants.split(","):
            r = run_child("bench.replay", variant, ["--path", path, "--redis-url", args.redis_url], client.flushdb)
            results.append({"events": n, "variant": variant, **r})

    cores, load = os.cpu_count() or 0, os.getloadavg()[0]
    print_table(results, cores, load)
    with open(args.json, "w") as f:
        json.dump({"cores": cores, "load_average": load, "results": results}, f, indent=1)
    plot(results, args.plot, cores, load)
    print(f"wrote {args.json} and {args.plot}")
    if problems := failures(results):
        sys.exit("; ".join(problems))


if __name__ == "__main__":
    main()
