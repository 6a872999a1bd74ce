"""Bounded summaries of a stream of values: a uniform sample, running moments, frequent values.

Each keeps a fixed amount of memory whatever the length of the stream, and says when what it
reports is approximate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from .arrow import indices


class Reservoir:
    """A uniform random sample of at most `size` values (algorithm R, a batch at a time)."""

    def __init__(self, size: int, dtype: type[np.generic], *, seed: int = 0) -> None:
        self._sample = np.empty(size, dtype=dtype)
        self._filled = 0
        self.seen = 0
        self._rng = np.random.default_rng(seed)

    @property
    def approximate(self) -> bool:
        return self.seen > self._sample.size

    @property
    def sample(self) -> np.ndarray:
        return self._sample[: self._filled]

    def add(self, values: np.ndarray) -> None:
        room = self._sample.size - self._filled
        head, rest = values[:room], values[room:]
        self._sample[self._filled : self._filled + head.size] = head
        self._filled += head.size
        self.seen += head.size
        if not rest.size:
            return
        # The value seen t-th (1-based) replaces slot j, drawn from [0, t), when j < size.
        seen_at = self.seen + 1 + np.arange(rest.size)
        slots = (self._rng.random(rest.size) * seen_at).astype(np.int64)
        chosen = slots < self._sample.size
        slots, rest = slots[chosen][::-1], rest[chosen][::-1]
        # Within the batch a later value overwrites an earlier one in the same slot.
        slots, last = np.unique(slots, return_index=True)
        self._sample[slots] = rest[last]
        self.seen += seen_at.size


class Moments:
    """Count, min, max, mean and variance of finite floats, merged batch by batch (Chan et al.)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, values: np.ndarray) -> None:
        if not values.size:
            return
        mean = float(values.mean())
        m2 = float(np.square(values - mean).sum())
        total = self.count + values.size
        delta = mean - self.mean
        self._m2 += m2 + delta * delta * self.count * values.size / total
        self.mean += delta * values.size / total
        self.count = total
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))

    @property
    def std(self) -> float | None:
        """The sample standard deviation (ddof=1)."""
        return math.sqrt(self._m2 / (self.count - 1)) if self.count > 1 else None


class TopValues:
    """Counts per value, exact while at most `capacity` values are seen.

    Beyond that only the most frequent are kept, and counts become lower bounds.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._counts: dict[str, int] = {}
        self.approximate = False

    def add(self, values: pa.Array, counts: np.ndarray) -> None:
        if len(values) > self._capacity:
            keep = np.argpartition(-counts, self._capacity)[: self._capacity]
            values, counts = values.take(indices(keep)), counts[keep]
            self.approximate = True
        tally = self._counts
        for value, count in zip(values.to_pylist(), counts.tolist(), strict=True):
            tally[value] = tally.get(value, 0) + count
        if len(tally) > 2 * self._capacity:
            kept = sorted(tally.items(), key=lambda item: -item[1])[: self._capacity]
            self._counts = dict(kept)
            self.approximate = True

    def top(self, k: int) -> list[tuple[str, int]]:
        return sorted(self._counts.items(), key=lambda item: (-item[1], item[0]))[:k]


def histogram(
    sample: np.ndarray, *, low: float, high: float, bins: int, total: int
) -> tuple[list[float], list[int]]:
    """`bins` equal bins from `low` to `high` (one when they are equal), counted on `sample`
    and scaled so that the counts add up to `total`."""
    if low == high:
        return [low, high], [total]
    edges = np.linspace(low, high, bins + 1)
    counts, _ = np.histogram(sample, bins=edges)
    return edges.tolist(), scale(counts, total)


def scale(counts: Sequence[int] | np.ndarray, total: int) -> list[int]:
    """`counts` scaled to add up to `total`, by largest remainders."""
    counts = np.asarray(counts, dtype=np.float64)
    if not counts.sum() or counts.sum() == total:
        return [int(count) for count in counts]
    exact = counts * total / counts.sum()
    scaled = np.floor(exact).astype(np.int64)
    short = total - int(scaled.sum())
    scaled[np.argsort(scaled - exact)[:short]] += 1
    return scaled.tolist()
