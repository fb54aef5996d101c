import pytest


@pytest.fixture(scope="session", autouse=True)
def _kafka(kafka_service, redis_service):
    """Every test here reads or writes the real broker."""
