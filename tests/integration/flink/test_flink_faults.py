"""The fault matrix on the streaming Flink job: a steady live stream with out-of-order and late
events, one fault a third of the way in, and at the end the Redis export equal to the reference for
the whole stream, with the leaderboard and totals equal to the sums over the stored sessions.

Each case runs on its own, e.g. `pytest tests/integration/flink/test_flink_faults.py -k redis -s`
(-s prints its figures, which docs/reliability.md records)."""

from __future__ import annotations

import os
import signal
import time

import redis

from services import FlinkCluster, KafkaBroker, RedisServer
from tests.support.proxy import Proxy
from tests.support.streams import STREAM_ARGS, failed_over, flink_run, flink_up, stream_with_fault, wait_until


def kill(piece: str, cluster: FlinkCluster | None = None) -> None:
    """kill -9 one piece of the cluster, with every process of its group (the worker pool's SDK
    workers, the start-up shells of Flink's scripts)."""
    cluster = cluster or FlinkCluster()
    pid = cluster.process(piece).pid()
    assert pid, f"the Flink {piece} is not running"
    os.killpg(pid, signal.SIGKILL)


def test_redis_stopped_for_30s(rest, redis_url, store, capsys):
    def stop_redis(job, topic, group):
        # The project's Redis runs with AOF on: what it acknowledged survives the stop.
        RedisServer().down()
        time.sleep(30)
        RedisServer().up()

    print("redis stopped 30 s:", stream_with_fault(rest, store, capsys, redis_url, stop_redis))


def test_kafka_broker_restarted(rest, redis_url, store, capsys):
    def restart_kafka(job, topic, group):
        KafkaBroker().down()
        time.sleep(5)
        KafkaBroker().up()

    print("kafka restarted:", stream_with_fault(rest, store, capsys, redis_url, restart_kafka))


def test_taskmanager_killed(rest, redis_url, store, capsys):
    def kill_taskmanager(job, topic, group):
        kill("taskmanager")
        wait_until(lambda: failed_over(rest, job), 60, "Flink to notice the lost TaskManager")
        time.sleep(3)
        flink_up()  # what a supervisor would do: start the TaskManager again

    print("taskmanager kill -9:", stream_with_fault(rest, store, capsys, redis_url, kill_taskmanager))


def test_one_of_two_taskmanagers_killed(rest, redis_url, store, capsys):
    two = FlinkCluster(taskmanagers=2)
    two.up()

    def kill_one(job, topic, group):
        spread = {s["taskmanager-id"] for v in rest.job(job)["vertices"]
                  for s in rest.get(f"/jobs/{job}/vertices/{v['id']}")["subtasks"]}  # fmt: skip
        assert len(spread) == 2, f"the job's subtasks run on {spread}, not on both TaskManagers"
        kill("taskmanager-2", two)
        wait_until(lambda: failed_over(rest, job), 60, "Flink to notice the lost TaskManager")
        # Not started again: the job restarts from its checkpoint on the TaskManager that is left.

    try:
        figures = stream_with_fault(rest, store, capsys, redis_url, kill_one, "--parallelism", "4", partitions=4)
        print("one of two taskmanagers kill -9 (parallelism 4):", figures)
    finally:
        two.down("taskmanager-2")


def test_python_worker_pool_killed(rest, redis_url, store, capsys):
    def kill_workers(job, topic, group):
        kill("workers")  # the pool and its SDK workers
        wait_until(lambda: failed_over(rest, job), 60, "the job to fail over")
        time.sleep(3)
        flink_up()

    print("worker pool kill -9:", stream_with_fault(rest, store, capsys, redis_url, kill_workers))


def test_jobmanager_restarted_and_job_resumed(rest, redis_url, store, capsys):
    def restart_jobmanager(job, topic, group):
        kill("jobmanager")
        time.sleep(3)
        flink_up()  # a new JobManager knows no jobs: the job is submitted again, and resumes from
        flink_run(capsys, topic, redis_url, group, *STREAM_ARGS)  # its folder of checkpoints
        resumed = next(j["jid"] for j in rest.jobs() if j["name"] == f"spectator-{group}")
        restored = rest.checkpoints(resumed)["latest"]["restored"]["external_path"]
        assert f"/spectator-{group}/{job}/chk-" in restored

    print("jobmanager kill -9:", stream_with_fault(rest, store, capsys, redis_url, restart_jobmanager))


def test_slow_and_cut_connections_to_redis(rest, redis_url, store, capsys):
    port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]
    proxy = Proxy(port)
    via_proxy = redis_url.replace(f":{port}/", f":{proxy.port}/")

    def bad_network(job, topic, group):
        proxy.delay_s = 0.3  # every packet 300 ms late, for 20 s
        time.sleep(10)
        proxy.cut()
        time.sleep(10)
        proxy.cut()
        proxy.delay_s = 0

    try:
        print("redis link slow and cut:", stream_with_fault(rest, store, capsys, via_proxy, bad_network))
    finally:
        proxy.close()
