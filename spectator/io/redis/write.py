"""WriteSessionsToRedis and WriteDeadLettersToRedis: batched, atomic, idempotent writes."""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from spectator.io.redis.calls import (
    DEADLETTER_MARKER_TTL_S,
    TRANSIENT,
    NotReplicated,
    refresh_topology,
    replicas_to_wait_for,
    run_calls,
    upsert,
)
from spectator.io.redis.store import DEFAULT_PREFIX, Client, connect, is_cluster, redact, script, store_keys

log = logging.getLogger(__name__)


class RedisUnavailable(RuntimeError):
    pass


class _BatchingRedisDoFn(beam.DoFn):
    """Buffers elements, writes each batch in one round trip, retries it while Redis is away.

    A batch is written from a thread while the next one fills: Redis runs the scripts on the
    other core meanwhile. One batch at a time is in flight, so batches land in order, and
    finish_bundle returns once the last one has landed.
    Every write is an idempotent Lua call, so replaying a whole batch after a failure, or a
    bundle after a worker retry, writes nothing twice.
    """

    script_name = ""

    def __init__(self, redis_url: str, prefix: str, batch_size: int, retry_seconds: float, min_replicas: int | None):
        self.redis_url = redis_url
        self.prefix = prefix
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.min_replicas = min_replicas
        self.written = Metrics.counter("spectator", f"{self.script_name}_written")
        self.unchanged = Metrics.counter("spectator", f"{self.script_name}_unchanged")
        self.retries = Metrics.counter("spectator", "redis_retries")
        self.conflicts = Metrics.counter("spectator", f"{self.script_name}_conflicts")

    def setup(self) -> None:
        self.client: Client | None = None  # connected by the first write, which may wait for Redis
        self.writer = ThreadPoolExecutor(1, thread_name_prefix=f"spectator-{self.script_name}")
        self.batch: list[Any] = []
        self.in_flight: tuple[list[Any], Future] | None = None

    def start_bundle(self) -> None:
        self.batch = []
        if self.in_flight is not None:  # left by a bundle that failed: it must not land after ours
            self.in_flight[1].exception()
            self.in_flight = None

    def process(self, element: Any) -> None:
        self.batch.append(element)
        if len(self.batch) >= self.batch_size:
            self._flush()

    def finish_bundle(self) -> None:
        if self.batch:
            self._flush()
        self._land()

    def teardown(self) -> None:
        if hasattr(self, "writer"):
            self.writer.shutdown(wait=False, cancel_futures=True)
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def _write_batch(self, batch: list[Any]) -> list[Any]:
        """Writes a batch; returns one script result per element."""
        raise NotImplementedError

    def _flush(self) -> None:
        batch, self.batch = self.batch, []
        self._land()
        self.in_flight = (batch, self.writer.submit(self._with_retry, batch))

    def _land(self) -> None:
        """Waits for the batch in flight; counts its results here, where Beam's metrics live."""
        if self.in_flight is None:
            return
        batch, future = self.in_flight
        self.in_flight = None
        results, retries = future.result()
        self.retries.inc(retries)
        for element, result in zip(batch, results):
            if result in (1, 2):
                self.written.inc()
            elif result == 0:
                self.unchanged.inc()
            else:
                self.conflicts.inc()
                log.warning("not written: it would replace a stored session it does not contain: %s", element)

    def _with_retry(self, batch: list[Any]) -> tuple[list[Any], int]:
        deadline = time.monotonic() + self.retry_seconds
        delay, retries = 0.1, 0
        while True:
            try:
                if self.client is None:
                    self._connect()
                return self._write_batch(batch), retries
            except TRANSIENT as e:
                if self.client is not None:
                    refresh_topology(self.client)
                if time.monotonic() + delay > deadline:
                    what = "kept too few replicas" if isinstance(e, NotReplicated) else "unreachable"
                    raise RedisUnavailable(
                        f"Redis at {redact(self.redis_url)} {what} for {self.retry_seconds:g}s: {e}"
                    ) from e
                retries += 1
                log.warning("Redis write failed (%s); retrying in %.1fs", e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _connect(self) -> None:
        """Whether the store is a cluster, its layout and its replicas: known only once it answers."""
        client = connect(self.redis_url)
        if not is_cluster(client):  # a cluster client exists only once its node answered
            client.ping()
        self.keys = store_keys(client, self.prefix)
        self.script = script(client, self.script_name)
        self.replicas = replicas_to_wait_for(client, self.min_replicas)
        self.client = client


class _UpsertSessionsDoFn(_BatchingRedisDoFn):
    script_name = "upsert_session"

    def __init__(self, redis_url: str, prefix: str, batch_size: int, retry_seconds: float, ttl_seconds: int,
                 min_replicas: int | None = None):  # fmt: skip
        super().__init__(redis_url, prefix, batch_size, retry_seconds, min_replicas)
        self.ttl_ms = ttl_seconds * 1000

    def _write_batch(self, batch: list[Any]) -> list[Any]:
        return upsert(self.client, self.script, self.keys, batch, self.ttl_ms, self.replicas)


class _AddDeadLettersDoFn(_BatchingRedisDoFn):
    script_name = "add_deadletter"

    def __init__(self, redis_url: str, prefix: str, batch_size: int, retry_seconds: float, max_len: int,
                 min_replicas: int | None = None):  # fmt: skip
        super().__init__(redis_url, prefix, batch_size, retry_seconds, min_replicas)
        self.max_len = max_len

    def _write_batch(self, batch: list[Any]) -> list[Any]:
        calls = []
        for dead in batch:
            digest = hashlib.sha1(f"{dead.origin}\n{dead.payload}".encode()).hexdigest()
            group = self.keys.deadletter_group(digest)
            keys = [self.keys.deadletter_seen(digest), self.keys.deadletters(group), self.keys.deadletters_total(group)]
            args = [DEADLETTER_MARKER_TTL_S, self.max_len, dead.payload, dead.reason, dead.code, dead.origin]
            calls.append((self.script, keys, args))
        return run_calls(self.client, calls, self.replicas)


class _WriteToRedis(beam.PTransform):
    """One of the writer DoFns above as a step of its own; `dofn` holds the connection settings."""

    step = ""

    def __init__(self, dofn: beam.DoFn):
        super().__init__()
        self.dofn = dofn

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | self.step >> beam.ParDo(self.dofn)


class WriteSessionsToRedis(_WriteToRedis):
    """Merge-safe upsert of every SessionRecord pane (see upsert_session.lua)."""

    step = "UpsertSessions"

    def __init__(self, redis_url: str, prefix: str = DEFAULT_PREFIX, batch_size: int = 500,
                 retry_seconds: float = 60.0, ttl_seconds: int = 0, min_replicas: int | None = None):  # fmt: skip
        super().__init__(_UpsertSessionsDoFn(redis_url, prefix, batch_size, retry_seconds, ttl_seconds, min_replicas))


class WriteDeadLettersToRedis(_WriteToRedis):
    """Appends dead letters to a capped Redis stream, once each, and counts them."""

    step = "AddDeadLetters"

    def __init__(self, redis_url: str, prefix: str = DEFAULT_PREFIX, batch_size: int = 500,
                 retry_seconds: float = 60.0, max_len: int = 100_000, min_replicas: int | None = None):  # fmt: skip
        super().__init__(_AddDeadLettersDoFn(redis_url, prefix, batch_size, retry_seconds, max_len, min_replicas))
