import pytest


@pytest.fixture(scope="session", autouse=True)
def _flink(kafka_service, redis_service, flink_service):
    """Every test here runs a job on the real cluster, reading Kafka and writing Redis."""
