"""The real services the integration tests run against, started through services/ as the scripts
start them: up and ready before the first test that needs one, and stopped after the session only
if the session started it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services import FlinkCluster, KafkaBroker, KafkaCluster, RedisCluster, RedisServer

Service = RedisServer | RedisCluster | KafkaBroker | KafkaCluster | FlinkCluster


@contextmanager
def running(service: Service) -> Iterator[Service]:
    was_running = service.running()
    service.up()  # also starts the missing pieces of a partly running Flink
    try:
        yield service
    finally:
        if not was_running:
            service.down()
