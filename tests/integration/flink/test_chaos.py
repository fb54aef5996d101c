"""Three minutes of bench/chaos.py: a live stream with catch-ups while the TaskManager, the worker
pool, the JobManager, Redis and the Kafka broker are each killed (or stopped) and started again,
in a seeded order. Redis must end equal to the reference, with nothing dropped as late."""

from __future__ import annotations

from bench.chaos import Chaos, table
from tests.support.streams import BOOTSTRAP, MASTER


def test_three_minutes_of_chaos(rest, redis_url):
    result = Chaos(BOOTSTRAP, MASTER, redis_url, minutes=3, seed=3).run()
    print(table(result))
    assert result["equal"], table(result)
    assert result["consistent"] and result["late_dropped"] == 0, table(result)
    assert [r["fault"] for r in result["faults"]] and len(result["faults"]) == 5
