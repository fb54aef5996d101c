"""The small measurements behind choices in the code, each against its baseline in the same run.

    .cache/venv/bin/python -m bench.micro

- parse: the event parser's JSON step, orjson against json, over generated event lines; and
  parse_event (the whole contract) beside them.
- stored form: SessionRecord.to_stored_json (orjson) against to_json (json), the form Redis holds.
- imports: what `spectator top` imports against Beam, each in a fresh interpreter.
- collector: the objects Beam's modules leave, and a full collection before and after gc.freeze().
Best of 5 repeats each (imports: of 3), so a busy moment on the machine counts less.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import timeit

import orjson

from spectator.core.generate import generate
from spectator.core.model import SessionRecord, parse_event

LINES = 200_000
RECORDS = 23_000
COLLECTOR_PROBE = """
import gc, time, apache_beam
def full():
    t = time.perf_counter(); gc.collect(); return time.perf_counter() - t
full(); objects, before = len(gc.get_objects()), full()
gc.freeze(); after = full()
print(objects, before, after)
"""


def best(work, repeat: int = 5) -> float:
    return min(timeit.repeat(work, number=1, repeat=repeat))


def ratio(name: str, seconds: float, base_name: str, base_seconds: float) -> None:
    print(f"  {name:<38}{seconds:9.4f} s  {base_seconds / seconds:6.1f}x of {base_name} ({base_seconds:.4f} s)")


def fresh(code: str) -> float:
    return best(lambda: subprocess.run([sys.executable, "-c", code], check=True, capture_output=True), repeat=3)


def main() -> None:
    lines = [json.dumps(e).encode() for e, _ in zip(generate(LINES // 8, seed=7), range(LINES))]
    print(f"{len(lines):,} event lines, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    stdlib = best(lambda: [json.loads(line) for line in lines])
    ratio("orjson.loads", best(lambda: [orjson.loads(line) for line in lines]), "json.loads", stdlib)
    ratio("parse_event (the whole contract)", best(lambda: [parse_event(line) for line in lines]), "json.loads", stdlib)

    record = SessionRecord("user-1", 0, 60_000, 60_000, 8, 5, "/", "/cart", {"page_view": 7, "click": 1},
                           False, False, "ON_TIME", 0, 1_860_000, 0)  # fmt: skip
    records = [record] * RECORDS
    print(f"{RECORDS:,} session records")
    stored = best(lambda: [r.to_stored_json() for r in records])
    ratio("to_stored_json (orjson)", stored, "to_json", best(lambda: [r.to_json() for r in records]))

    print("imports, each in a fresh interpreter")
    beam = fresh("import apache_beam")
    ratio("import spectator.cli (read commands)", fresh("import spectator.cli"), "import apache_beam", beam)

    objects, before, after = subprocess.run(
        [sys.executable, "-c", COLLECTOR_PROBE], check=True, capture_output=True, text=True
    ).stdout.split()
    print(f"after import apache_beam: {int(objects):,} tracked objects")
    print(f"  a full collection: {float(before):.4f} s, and {float(after):.4f} s after gc.freeze()")


if __name__ == "__main__":
    main()
