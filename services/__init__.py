"""The local services the project runs on loopback: Redis, Kafka and Flink. `python3 -m services`
(or `scripts/services.sh`) starts, stops and reports them; the tests' session fixtures use the same
classes. Each service's folder holds its build files next to its code."""

from __future__ import annotations

from services.flink.cluster import FlinkCluster
from services.kafka.broker import KafkaBroker
from services.kafka.cluster import KafkaCluster
from services.redis import RedisServer
from services.redis_cluster import RedisCluster

__all__ = ["SERVICES", "FlinkCluster", "KafkaBroker", "KafkaCluster", "RedisCluster", "RedisServer", "environment"]

SERVICES = {
    "redis": RedisServer,
    "redis-cluster": RedisCluster,
    "kafka": KafkaBroker,
    "kafka-cluster": KafkaCluster,
    "flink": FlinkCluster,
}


def environment(*names: str) -> dict[str, str]:
    """What `eval "$(scripts/services.sh env NAME...)"` exports: the addresses, jars and files the
    options and the tests read. Fetches nothing."""
    env: dict[str, str] = {}
    for name in names or SERVICES:
        env.update(SERVICES[name]().env())
    return env
