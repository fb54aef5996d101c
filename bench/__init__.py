"""Benchmarks; importing spectator first applies its warning filters here too."""

import spectator  # noqa: F401
