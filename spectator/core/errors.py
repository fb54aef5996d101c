"""The errors every layer may raise and the CLI reports as one line."""


class UsageError(ValueError):
    """A wrong flag or value, reported as one line."""
