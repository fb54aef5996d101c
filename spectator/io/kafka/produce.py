"""`spectator produce`: a seeded clickstream (or a JSONL file) into a Kafka topic, keyed by user."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Iterable, Iterator

from kafka import KafkaProducer

from spectator.core.model import BadEvent, parse_timestamp
from spectator.io.kafka.admin import BOOTSTRAP_TIMEOUT_MS, BrokerUnavailable, connecting
from spectator.io.kafka.config import python_client_args

log = logging.getLogger(__name__)
MALFORMED = [b"{not json", b'{"user_id": "x"}', b'{"user_id": "", "timestamp": 1}', b"[]", b"\xff\xfe"]
# A Kafka record to send: key, value, and its timestamp (the event's time; None: the send time).
Record = tuple[str, bytes, int | None]


def disorder(
    events: Iterable[dict],
    seed: int,
    out_of_order: float = 0.0,
    late: float = 0.0,
    late_by_ms: int = 3_600_000,
    malformed: float = 0.0,
) -> Iterator[Record]:
    """Records: some events swapped with the next, some held back and sent
    `late_by_ms` of event time later, some replaced by malformed payloads (keeping the event too)."""
    rng = random.Random(seed)
    held: list[tuple[int, dict]] = []  # late events, released once the stream is late_by_ms past them
    previous: dict | None = None
    for event in events:
        if malformed and rng.random() < malformed:
            yield "bad", rng.choice(MALFORMED), None
        if late and rng.random() < late:
            held.append((event["timestamp"] + late_by_ms, event))
            continue
        while held and held[0][0] <= event["timestamp"]:
            yield _record(held.pop(0)[1])
        if previous is None and out_of_order and rng.random() < out_of_order:
            previous = event
            continue
        yield _record(event)
        if previous is not None:
            yield _record(previous)
            previous = None
    if previous is not None:
        yield _record(previous)
    for _, event in held:
        yield _record(event)


def _record(event: dict) -> Record:
    return str(event["user_id"]), json.dumps(event, ensure_ascii=False).encode(), event["timestamp"]


def live(records: Iterable[Record], speedup: float) -> Iterator[Record]:
    """Moves a generated stream onto the wall clock from now, `speedup` times faster, sending each
    event at its new time (held-back late and swapped events stay behind the others)."""
    start_ms, first_ms = time.time() * 1000, None
    for key, payload, t_ms in records:
        if t_ms is None:
            yield key, payload, None
            continue
        first_ms = t_ms if first_ms is None else first_ms
        now_ms = round(start_ms + (t_ms - first_ms) / speedup)
        ahead = now_ms / 1000 - time.time()
        if ahead > 0:
            time.sleep(ahead)
        event = json.loads(payload)
        event["timestamp"] = now_ms
        yield _record(event)


class _Failures:
    def __init__(self) -> None:
        self.count = 0
        self.first: Exception | None = None

    def __call__(self, error: Exception) -> None:
        self.count += 1
        self.first = self.first or error


def read_jsonl(path: str) -> Iterator[Record]:
    """Lines of a file as-is, keyed by their user id and stamped with their time when they have
    them (bad lines included)."""
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                key = str(obj.get("user_id", ""))
            except (ValueError, AttributeError):
                yield "", line, None
                continue
            try:
                t_ms = parse_timestamp(obj.get("timestamp"))
            except BadEvent:
                t_ms = None
            yield key, line, t_ms


def produce(
    bootstrap: str, topic: str, records: Iterable[Record], rate: float = 0, config: dict[str, str] | None = None
) -> int:
    """Sends every record, at most `rate` a second (0: as fast as possible); returns the count.

    Each record's Kafka timestamp is the event's time: a streaming read's watermark follows it."""
    with connecting(bootstrap):
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            acks="all",
            enable_idempotence=True,  # a retried send is not written twice
            linger_ms=20,
            request_timeout_ms=15_000,
            **python_client_args(config or {}),
        )
    started = last_report = time.monotonic()
    sent = 0
    failures = _Failures()
    try:
        for key, payload, t_ms in records:
            producer.send(topic, key=key.encode(), value=payload, timestamp_ms=t_ms).add_errback(failures)
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
