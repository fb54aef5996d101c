"""The bounded (DirectRunner) path under faults: Redis lost in the middle of a Kafka run, and Kafka
down at the start. Each ends with one line, commits nothing it did not finish, and loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import redis

from spectator.core.generate import generate
from tests.support.data import GAP_S
from tests.support.proxy import Proxy
from tests.support.reference import reference_sessions
from tests.support.streams import BOOTSTRAP, committed, new_topic, send, sessions, wait_until

JAR = os.environ.get("SPECTATOR_EXPANSION_JAR", "")


def run_argv(topic: str, redis_url: str, group: str, events: int) -> list[str]:
    return [sys.executable, "-m", "spectator.cli", "run", "--bootstrap-servers", BOOTSTRAP, "--topic", topic,
            "--consumer-group", group, "--redis-url", redis_url, "--gap-seconds", str(GAP_S), "--bot-threshold",
            "50", "--expansion-service", JAR, "--max-records", str(events), "--redis-batch-size", "5",
            "--redis-retry-seconds", "3"]  # fmt: skip


def test_redis_lost_mid_run_fails_in_one_line_commits_nothing_and_a_rerun_is_exact(redis_url, store):
    events = list(generate(300, seed=8, gap_s=GAP_S, seconds_between=10))  # about 800 sessions
    topic, group = new_topic(partitions=1), f"direct-{time.time_ns()}"
    send(topic, events)
    port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]
    proxy = Proxy(port)
    proxy.delay_s = 0.3  # slow enough to cut it in the middle of the writes
    run = subprocess.Popen(
        run_argv(topic, redis_url.replace(f":{port}/", f":{proxy.port}/"), group, len(events)),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: store.stats()["sessions"] > 0, 180, "the first sessions written")
    finally:
        proxy.close()  # Redis is gone for the run: refused from now on
    err = run.communicate(timeout=120)[1]
    assert run.returncode == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # after the retry warnings
    assert len(errors) == 1 and "unreachable for 3s" in errors[0] and err.rstrip().endswith(errors[0]), err[-2000:]
    assert committed(group, topic) == {}  # nothing committed: the rerun reads everything again

    rerun = subprocess.run(run_argv(topic, redis_url, group, len(events)), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    expected = reference_sessions(events, GAP_S * 1000, bot_threshold=50)
    assert sessions(store) == json.loads(json.dumps(expected))


def test_kafka_down_at_start_is_one_line_within_15s(redis_url):
    argv = [sys.executable, "-m", "spectator.cli", "run", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t",
            "--redis-url", redis_url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach Kafka at 127.0.0.1:1: ")
