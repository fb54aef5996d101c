"""The errors every layer may raise and the CLI reports as one line."""


class UsageError(ValueError):
    """A wrong flag or value, reported as one line (exit 2)."""


class ServiceError(RuntimeError):
    """A service's API (Flink's REST, Dataflow's) refused or failed a request: one line (exit 1)."""


def extra_missing(extra: str, error: ImportError) -> UsageError:
    """A command whose optional dependencies (setup.py's extras) are not installed."""
    return UsageError(f"{error.name} is not installed: pip install 'session-spectator[{extra}]'")
