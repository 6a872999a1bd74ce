"""MLoop's benchmarks: `python -m bench` runs them all, `python -m bench <name>` one of them."""


class BenchmarkFailed(Exception):
    """The benchmark could not measure what it measures (as opposed to missing a target)."""
