"""Memory bounds of a file replay (DirectRunner) on two extreme inputs, each in a process of its own:

    .cache/venv/bin/python -m bench.bounds

- one user with 100,000 events in one session (an event a second: no bot);
- 1,000,000 distinct users with one event each.

Prints seconds and peak RSS, and fails when a bound is passed. Needs the Redis of
scripts/services.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import redis

from bench.common import measure, run_child
from spectator.io.redis.store import SessionStore

BOUNDS_MB = {"one-long-session": 400, "million-users": 1200}
T0 = 1_767_225_600_000


def write(path: str, scenario: str) -> int:
    with open(path, "w") as f:
        if scenario == "one-long-session":
            for i in range(100_000):
                f.write(json.dumps({"user_id": "marathon", "timestamp": T0 + i * 1000, "page": f"/p{i % 50}"}) + "\n")
            return 100_000
        for i in range(1_000_000):
            f.write(json.dumps({"user_id": f"u{i}", "timestamp": T0 + i}) + "\n")
        return 1_000_000


def replay(path: str, redis_url: str) -> None:
    from spectator.pipeline.build import run
    from spectator.pipeline.options import parse_options

    run(parse_options(["--input", path, "--redis-url", redis_url, "--gap-seconds", "1800", "--progress-every", "0"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    ap.add_argument("--path", default="/tmp/spectator-bounds.jsonl")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return measure(lambda: replay(args.path, args.redis_url))
    client = redis.Redis.from_url(args.redis_url)
    failed = False
    print(f"{'scenario':<18}{'events':>11}{'seconds':>9}{'peak MB':>9}{'bound MB':>10}  stored")
    for scenario, bound in BOUNDS_MB.items():
        n = write(args.path, scenario)
        result = run_child(
            "bench.bounds", "replay", ["--path", args.path, "--redis-url", args.redis_url], client.flushdb
        )
        stats = SessionStore(client).stats()
        stored = f"{stats['sessions']:,} sessions of {stats['events']:,} events"
        ok = result["peak_mb"] <= bound and stats["events"] == n
        failed |= not ok
        print(f"{scenario:<18}{n:>11,}{result['seconds']:>9.1f}{result['peak_mb']:>9.0f}{bound:>10}  {stored}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
