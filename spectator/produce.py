"""`spectator produce`: a seeded clickstream (or a JSONL file) into a Kafka topic, keyed by user."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Iterable, Iterator

from kafka import KafkaProducer
from kafka.errors import KafkaError

from spectator.kafka_admin import BOOTSTRAP_TIMEOUT_MS, BrokerUnavailable

log = logging.getLogger(__name__)
MALFORMED = [b"{not json", b'{"user_id": "x"}', b'{"user_id": "", "timestamp": 1}', b"[]", b"\xff\xfe"]


def disorder(
    events: Iterable[dict],
    seed: int,
    out_of_order: float = 0.0,
    late: float = 0.0,
    late_by_ms: int = 3_600_000,
    malformed: float = 0.0,
) -> Iterator[tuple[str, bytes]]:
    """(key, payload) pairs: some events swapped with the next, some held back and sent
    `late_by_ms` of event time later, some replaced by malformed payloads (keeping the event too)."""
    rng = random.Random(seed)
    held: list[tuple[int, dict]] = []  # late events, released once the stream is late_by_ms past them
    previous: dict | None = None
    for event in events:
        if malformed and rng.random() < malformed:
            yield "bad", rng.choice(MALFORMED)
        if late and rng.random() < late:
            held.append((event["timestamp"] + late_by_ms, event))
            continue
        while held and held[0][0] <= event["timestamp"]:
            yield _pair(held.pop(0)[1])
        if previous is None and out_of_order and rng.random() < out_of_order:
            previous = event
            continue
        yield _pair(event)
        if previous is not None:
            yield _pair(previous)
            previous = None
    if previous is not None:
        yield _pair(previous)
    for _, event in held:
        yield _pair(event)


def _pair(event: dict) -> tuple[str, bytes]:
    return str(event["user_id"]), json.dumps(event, ensure_ascii=False).encode()


class _Failures:
    def __init__(self) -> None:
        self.count = 0
        self.first: Exception | None = None

    def __call__(self, error: Exception) -> None:
        self.count += 1
        self.first = self.first or error


def read_jsonl(path: str) -> Iterator[tuple[str, bytes]]:
    """Lines of a file as-is, keyed by their user id when they have one (bad lines included)."""
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                key = str(json.loads(line).get("user_id", ""))
            except (ValueError, AttributeError):
                key = ""
            yield key, line


def produce(bootstrap: str, topic: str, pairs: Iterable[tuple[str, bytes]], rate: float = 0) -> int:
    """Sends every pair, at most `rate` a second (0: as fast as possible); returns the count."""
    try:
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            acks="all",
            enable_idempotence=True,  # a retried send is not written twice
            linger_ms=20,
            request_timeout_ms=15_000,
        )
    except KafkaError as e:
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap}: {e}") from None
    started = last_report = time.monotonic()
    sent = 0
    failures = _Failures()
    try:
        for key, payload in pairs:
            producer.send(topic, key=key.encode(), value=payload).add_errback(failures)
            sent += 1
            now = time.monotonic()
            if rate:
                ahead = sent / rate - (now - started)
                if ahead > 0:
                    time.sleep(ahead)
            if now - last_report >= 2:
                print(f"produced {sent:,} events ({sent / (now - started):,.0f}/s)", file=sys.stderr)
                last_report = now
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    if failures.count:
        raise BrokerUnavailable(f"{failures.count:,} of {sent:,} events were not written to {topic}: {failures.first}")
    return sent
