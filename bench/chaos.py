"""Chaos on the streaming Flink job: a live stream with catch-ups, and on a seeded random schedule
the kill and restart of each piece the job depends on. At the end Redis must equal the reference
sessionization of everything sent, with the leaderboard and totals equal to the sums over the
stored sessions, and no late element dropped.

    scripts/services.sh up redis kafka flink
    eval "$(scripts/kafka.sh env)"; eval "$(scripts/flink.sh env)"
    .cache/venv/bin/python -m bench.chaos --minutes 20

The stream: generated users (sessions of ~8 events, 60 s gaps) moved onto the wall clock 20 times
faster (gap 3 s), some events swapped or held back a gap; every 40-80 s the producer pauses 5-15 s
and then sends what piled up at once (a catch-up). The faults, in a seeded order at seeded times:

  taskmanager   kill -9 of the TaskManager, started again 3 s later (as a supervisor would)
  workers       kill -9 of the Python worker pool and its SDK workers, started again
  jobmanager    kill -9 of the JobManager, started again; it knows no jobs (no HA), so the job is
                submitted again and resumes from its folder of checkpoints
  redis         Redis stopped for 20 s (its AOF keeps what it acknowledged)
  kafka         kill -9 of the Kafka broker, started again 5 s later

Recovery: from the fault until the job runs again with a new completed checkpoint. Each fault
waits for the previous one's recovery. tests/integration/flink/test_chaos.py runs 3 minutes of it in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis

from services import FlinkCluster, KafkaBroker, RedisServer
from spectator.core.generate import generate
from spectator.flink.rest import FlinkRest
from spectator.io.kafka.admin import ensure_topic
from spectator.io.kafka.produce import disorder, live, produce
from spectator.io.redis.store import SessionStore
from tests.support.reference import reference_sessions

FAULTS = ("taskmanager", "workers", "jobmanager", "redis", "kafka")
GAP_S = 3  # the generator's 60 s gaps, 20 times faster
SPEEDUP = 20
PANE_FIELDS = ("pane", "updated_at_ms", "window_end_ms", "pane_index")


@dataclass
class Chaos:
    bootstrap: str
    master: str
    redis_url: str
    minutes: float
    seed: int = 1
    parallelism: int = 2
    partitions: int = 4
    faults: tuple[str, ...] = FAULTS
    users_per_minute: int = 20
    topic: str = field(default_factory=lambda: f"chaos-{uuid.uuid4().hex[:8]}")
    group: str = field(default_factory=lambda: f"chaos-{uuid.uuid4().hex[:8]}")
    sent: list[dict] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    producer_error: Exception | None = None

    @property
    def prefix(self) -> str:
        return f"{self.group}:"

    def say(self, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {text}"
        self.log.append(line)
        print(line, file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ the job
    def submit(self) -> str:
        argv = [sys.executable, "-m", "spectator.cli", "run", "--runner", "FlinkRunner", "--bootstrap-servers",
                self.bootstrap, "--topic", self.topic, "--consumer-group", self.group, "--redis-url", self.redis_url,
                "--key-prefix", self.prefix, "--gap-seconds", str(GAP_S), "--allowed-lateness-seconds", "300",
                "--early-firing-seconds", "1", "--checkpointing-interval", "2000", "--parallelism",
                str(self.parallelism), "--detach"]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"submitting the job failed: {done.stderr.strip()[-2000:]}")
        return done.stdout.split()[-1]

    def job(self, rest: FlinkRest) -> str:
        return next(j["jid"] for j in rest.jobs() if j["name"] == f"spectator-{self.group}")

    def recovered(self, rest: FlinkRest, since_ms: float) -> bool:
        """The job runs, and a checkpoint completed after `since_ms`."""
        try:
            job = self.job(rest)
            if rest.job(job)["state"] != "RUNNING":
                return False
            latest = (rest.checkpoints(job).get("latest") or {}).get("completed") or {}
            return latest.get("latest_ack_timestamp", 0) > since_ms
        except (ConnectionError, RuntimeError, StopIteration, KeyError):
            return False

    # ------------------------------------------------------------------ the stream
    def stream(self, until: float) -> None:
        users = max(int(self.minutes * self.users_per_minute), 10)
        events = generate(users, seed=self.seed, span_s=self.minutes * 60 * SPEEDUP, gap_s=60,
                          seconds_between=15, bot_share=0)  # fmt: skip
        records = live(disorder(events, seed=self.seed, out_of_order=0.02, late=0.01, late_by_ms=60_000), SPEEDUP)
        rng = random.Random(self.seed)

        def paced():
            next_pause = time.monotonic() + rng.uniform(40, 80)
            for key, payload, t_ms in records:
                if time.monotonic() > until:
                    return
                if time.monotonic() > next_pause:
                    pause = rng.uniform(5, 15)
                    self.say(f"producer paused {pause:.0f} s, then catches up")
                    time.sleep(pause)
                    next_pause = time.monotonic() + rng.uniform(40, 80)
                self.sent.append(json.loads(payload))
                yield key, payload, t_ms

        try:
            produce(self.bootstrap, self.topic, paced())
        except Exception as e:  # raised again by run(): events the broker refused are not in the reference
            self.producer_error = e

    # ------------------------------------------------------------------ the faults
    def inject(self, fault: str, rest: FlinkRest) -> None:
        if fault in ("taskmanager", "workers", "jobmanager"):
            flink = FlinkCluster()
            os.killpg(flink.process(fault).pid(), signal.SIGKILL)  # with the worker pool's SDK workers
            time.sleep(3)
            flink.up()
            if fault == "jobmanager":
                self.submit()
        elif fault == "redis":
            RedisServer().down()
            time.sleep(20)
            RedisServer().up()
        elif fault == "kafka":
            broker = KafkaBroker()
            os.killpg(broker.process.pid(), signal.SIGKILL)
            time.sleep(5)
            broker.up()

    def run(self) -> dict:
        """Runs the stream and the faults, checks Redis, and cancels the job, whatever happened."""
        rest = FlinkRest(self.master)
        ensure_topic(self.bootstrap, self.topic, self.partitions)
        self.submit()
        try:
            return self.faults_and_check(rest)
        finally:
            try:
                rest.cancel(self.job(rest))
            except Exception as e:  # the job is gone already, or the cluster is down: say so, keep the error
                self.say(f"could not cancel the job: {e}")

    def faults_and_check(self, rest: FlinkRest) -> dict:
        start = time.monotonic()
        until = start + self.minutes * 60
        producer = threading.Thread(target=self.stream, args=(until,), daemon=True)
        producer.start()
        rng = random.Random(self.seed)
        order = rng.sample(self.faults, len(self.faults))
        # Seeded times over the middle of the run, each fault after the previous one's recovery.
        span = self.minutes * 60
        times = sorted(rng.uniform(0.1 * span, 0.75 * span) for _ in order)
        rows = []
        for fault, at in zip(order, times):
            _wait(lambda at=at: time.monotonic() - start >= at, span, "the fault's time")
            _wait(lambda: self.recovered(rest, 0), 300, "the job to run with a checkpoint")
            self.say(f"fault: {fault}")
            began, began_ms = time.monotonic(), time.time() * 1000
            self.inject(fault, rest)
            _wait(lambda since=began_ms: self.recovered(rest, since), 300, f"recovery from {fault}")
            recovery_s = round(time.monotonic() - began, 1)
            rows.append({"fault": fault, "at_s": round(began - start), "recovery_s": recovery_s})
            self.say(f"recovered from {fault} in {recovery_s} s")
        producer.join()
        if self.producer_error:
            raise self.producer_error
        return self.check(rest, rows, time.monotonic() - start)

    def check(self, rest: FlinkRest, rows: list[dict], ran_s: float) -> dict:
        store = SessionStore(redis.Redis.from_url(self.redis_url), self.prefix)
        expected = reference_sessions(self.sent, GAP_S * 1000, bot_threshold=100)

        def stored() -> list[dict]:
            return [{k: v for k, v in json.loads(r.to_json()).items() if k not in PANE_FIELDS}
                    for r in store.all_sessions()]  # fmt: skip

        deadline = time.monotonic() + 300
        while (now := stored()) != expected and time.monotonic() < deadline:
            time.sleep(1)
        totals: dict[str, int] = {}
        for r in now:
            totals[r["user_id"]] = totals.get(r["user_id"], 0) + r["event_count"]
        stats = store.stats()
        job = self.job(rest)
        return {
            "minutes": round(ran_s / 60, 1),
            "events": len(self.sent),
            "sessions": len(expected),
            "equal": now == expected,
            "stored_events": sum(totals.values()),
            "consistent": dict(store.top(1_000_000)) == totals
            and (stats["sessions"], stats["events"]) == (len(now), sum(totals.values())),
            "late_dropped": int(rest.job_metrics(job).get("late_elements_dropped", 0)),
            "faults": rows,
        }


def _wait(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.5)


def table(result: dict) -> str:
    lines = ["| fault | at (s) | recovery (s) |", "| --- | ---: | ---: |"]
    lines += [f"| {r['fault']} | {r['at_s']} | {r['recovery_s']} |" for r in result["faults"]]
    lines.append("")
    lines.append(
        f"{result['minutes']} min, {result['events']:,} events, {result['sessions']:,} sessions: "
        f"{'equal to' if result['equal'] else 'NOT equal to'} the reference ({result['stored_events']:,} events "
        f"stored); leaderboard and totals {'equal' if result['consistent'] else 'NOT equal'} to the sums; "
        f"late elements dropped {result['late_dropped']}"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--redis-url", default=os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0"))
    args = ap.parse_args()
    chaos = Chaos(
        bootstrap=os.environ.get("SPECTATOR_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        master=os.environ.get("SPECTATOR_FLINK_MASTER", "127.0.0.1:8081"),
        redis_url=args.redis_url,
        minutes=args.minutes,
        seed=args.seed,
        parallelism=args.parallelism,
        faults=tuple(args.faults.split(",")),
    )
    result = chaos.run()
    print(table(result))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
