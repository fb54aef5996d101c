import pytest


@pytest.fixture(scope="session", autouse=True)
def _redis(redis_service):
    """Every test here reads or writes the real Redis (the module-wide explorer databases too)."""
