"""WriteSessionsToRedis and WriteDeadLettersToRedis: batched, atomic, idempotent writes."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import apache_beam as beam
import redis
from apache_beam.metrics import Metrics

from spectator.model import DeadLetter, SessionRecord
from spectator.store import DEFAULT_PREFIX, Keys, connect, redact

log = logging.getLogger(__name__)
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.ReadOnlyError)
DEADLETTER_MARKER_TTL_S = 7 * 24 * 3600
PANES_MAX_LEN = 10_000  # the stream of latest writes (spectator recent)


class RedisUnavailable(RuntimeError):
    pass


def upsert_args(keys: Keys, record: SessionRecord, ttl_ms: int = 0) -> tuple[list[str], list]:
    """KEYS and ARGV of upsert_session.lua for one pane."""
    user = record.user_id
    return (
        [keys.sessions(user), keys.history(user), keys.users, keys.top, keys.stats, keys.panes],
        [user, record.start_ms, record.window_end_ms, record.to_json(), ttl_ms, PANES_MAX_LEN],
    )


class _BatchingRedisDoFn(beam.DoFn):
    """Buffers elements, writes each batch in one pipeline, retries it while Redis is away.

    Every command in a batch is an idempotent Lua call, so replaying a whole batch after a
    failure, or a bundle after a worker retry, writes nothing twice.
    """

    script_name = ""

    def __init__(self, redis_url: str, prefix: str, batch_size: int, retry_seconds: float):
        self.redis_url = redis_url
        self.keys = Keys(prefix)
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.written = Metrics.counter("spectator", f"{self.script_name}_written")
        self.unchanged = Metrics.counter("spectator", f"{self.script_name}_unchanged")
        self.retries = Metrics.counter("spectator", "redis_retries")
        self.conflicts = Metrics.counter("spectator", f"{self.script_name}_conflicts")

    def setup(self) -> None:
        self.client = connect(self.redis_url)
        self.script = self.client.register_script(files("spectator.io").joinpath(f"{self.script_name}.lua").read_text())
        self.batch: list[Any] = []

    def start_bundle(self) -> None:
        self.batch = []

    def process(self, element: Any) -> None:
        self.batch.append(element)
        if len(self.batch) >= self.batch_size:
            self._flush()

    def finish_bundle(self) -> None:
        if self.batch:
            self._flush()

    def teardown(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def _call(self, pipe: redis.client.Pipeline, element: Any) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        results = self._with_retry(self._write_batch)
        for element, result in zip(self.batch, results):
            if result in (1, 2):
                self.written.inc()
            elif result == 0:
                self.unchanged.inc()
            else:
                self.conflicts.inc()
                log.warning("not written: it would replace a stored session it does not contain: %s", element)
        self.batch = []

    def _write_batch(self) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for element in self.batch:
            self._call(pipe, element)
        return pipe.execute()

    def _with_retry(self, write: Callable[[], list[Any]]) -> list[Any]:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.1
        while True:
            try:
                return write()
            except TRANSIENT as e:
                if time.monotonic() + delay > deadline:
                    raise RedisUnavailable(
                        f"Redis at {redact(self.redis_url)} unreachable for {self.retry_seconds:g}s: {e}"
                    ) from e
                self.retries.inc()
                log.warning("Redis write failed (%s); retrying in %.1fs", e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)


class _UpsertSessionsDoFn(_BatchingRedisDoFn):
    script_name = "upsert_session"

    def __init__(self, redis_url: str, prefix: str, batch_size: int, retry_seconds: float, ttl_seconds: int):
        super().__init__(redis_url, prefix, batch_size, retry_seconds)
        self.ttl_ms = ttl_seconds * 1000

    def _call(self, pipe: redis.client.Pipeline, record: SessionRecord) -> None:
        keys, args = upsert_args(self.keys, record, self.ttl_ms)
        self.script(keys=keys, args=args, client=pipe)


class _AddDeadLettersDoFn(_BatchingRedisDoFn):
    script_name = "add_deadletter"

    def __init__(self, redis_url: str, prefix: str, batch_size: int, retry_seconds: float, max_len: int):
        super().__init__(redis_url, prefix, batch_size, retry_seconds)
        self.max_len = max_len

    def _call(self, pipe: redis.client.Pipeline, dead: DeadLetter) -> None:
        digest = hashlib.sha1(f"{dead.origin}\n{dead.payload}".encode()).hexdigest()
        self.script(
            keys=[self.keys.deadletter_seen(digest), self.keys.deadletters, self.keys.deadletters_total],
            args=[DEADLETTER_MARKER_TTL_S, self.max_len, dead.payload, dead.reason, dead.code, dead.origin],
            client=pipe,
        )


class WriteSessionsToRedis(beam.PTransform):
    """Merge-safe upsert of every SessionRecord pane (see upsert_session.lua)."""

    def __init__(
        self,
        redis_url: str,
        prefix: str = DEFAULT_PREFIX,
        batch_size: int = 500,
        retry_seconds: float = 60.0,
        ttl_seconds: int = 0,
    ):
        super().__init__()
        self.dofn = _UpsertSessionsDoFn(redis_url, prefix, batch_size, retry_seconds, ttl_seconds)

    def expand(self, records: beam.PCollection[SessionRecord]) -> beam.PCollection:
        return records | "UpsertSessions" >> beam.ParDo(self.dofn)


class WriteDeadLettersToRedis(beam.PTransform):
    """Appends dead letters to a capped Redis stream, once each, and counts them."""

    def __init__(
        self,
        redis_url: str,
        prefix: str = DEFAULT_PREFIX,
        batch_size: int = 500,
        retry_seconds: float = 60.0,
        max_len: int = 100_000,
    ):
        super().__init__()
        self.dofn = _AddDeadLettersDoFn(redis_url, prefix, batch_size, retry_seconds, max_len)

    def expand(self, dead: beam.PCollection[DeadLetter]) -> beam.PCollection:
        return dead | "AddDeadLetters" >> beam.ParDo(self.dofn)
