"""Counting distinct values in bounded memory.

Values are reduced to 64-bit hashes: numbers by value (so "1" and "1.0" are one value), strings
by their bytes (long ones by Python's SipHash `hash`, salted per process), all through the
splitmix64 mixer. A `DistinctCounter` keeps every distinct hash, sorted, while there are at most
`exact_limit` of them (exact, but for a ~1e-10 chance of a 64-bit collision), then only the
`sketch_size` smallest: a k-minimum-values sketch whose estimate has a relative standard error
of about 1/sqrt(k).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .arrow import booleans

EXACT_LIMIT = 100_000
SKETCH_SIZE = 8192
HASH_BUDGET = 4_000_000
"""Hashes kept over all the columns of one file, 32 MB, so that wide files stay bounded."""

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_FLOAT_SALT = np.uint64(0x9E3779B97F4A7C15)
_STRING_SALT = np.uint64(0xD6E8FEB86659FD93)
_LONG_STRING_SALT = np.uint64(0xA0761D6478BD642F)
_WORDS = 3
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)
"""`_LOW_BYTES[n]` keeps the n low bytes of a little-endian word."""
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_EXACT_FLOAT_INT = 2.0**53


def bounds(columns: int) -> tuple[int, int]:
    """(exact_limit, sketch_size) per column for a file with `columns` columns."""
    exact = max(1000, min(EXACT_LIMIT, HASH_BUDGET // max(columns, 1)))
    return exact, min(SKETCH_SIZE, exact)


def mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def hash_numbers(values: np.ndarray) -> np.ndarray:
    """Hashes of int64 or float64 values (no NaN); integral floats hash like the integer."""
    if values.dtype.kind in "iu":
        return mix64(values.astype(np.int64, copy=False).view(np.uint64))
    integral = (np.abs(values) < _EXACT_FLOAT_INT) & (values == np.trunc(values))
    keys = ((values + 0.0).view(np.uint64)) ^ _FLOAT_SALT
    keys[integral] = values[integral].astype(np.int64).view(np.uint64)
    return mix64(keys)


def hash_strings(values: pa.Array) -> np.ndarray:
    """Hashes of a string array without nulls.

    Strings of up to 24 bytes, the common case of codes, names and identifiers, are hashed
    in numpy from their bytes read as three little-endian words; longer ones with Python's
    `hash`, which costs a Python object per value.
    """
    count = len(values)
    if not count:
        return np.empty(0, dtype=np.uint64)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset :][: count + 1]
    lengths = np.diff(offsets).astype(np.int64)
    base, top = int(offsets[0]), int(offsets[-1])
    # Padded so that reading three words from any string start stays in the buffer.
    data = np.zeros(top - base + _WORDS * 8, dtype=np.uint8)
    if top > base:
        data[: top - base] = np.frombuffer(values.buffers()[2], dtype=np.uint8)[base:top]
    words = np.ndarray((top - base + 8 * _WORDS - 7,), dtype="<u8", buffer=data, strides=(1,))
    starts = offsets[:-1].astype(np.int64) - base
    hashes = mix64(lengths.astype(np.uint64) ^ _STRING_SALT)
    for word in range(min(_WORDS, -(-int(lengths.max(initial=0)) // 8))):
        left = np.clip(lengths - 8 * word, 0, 8)
        hashes = mix64(hashes ^ (words[starts + 8 * word] & _LOW_BYTES[left]))
    long = lengths > 8 * _WORDS
    if long.any():
        hashes[long] = _python_hashes(values.filter(booleans(long)))
    return hashes


def _python_hashes(values: pa.Array) -> np.ndarray:
    hashes = np.fromiter(map(hash, values.to_pylist()), dtype=np.int64, count=len(values))
    return mix64(hashes.view(np.uint64) ^ _LONG_STRING_SALT)


class DistinctCounter:
    def __init__(self, *, exact_limit: int = EXACT_LIMIT, sketch_size: int = SKETCH_SIZE) -> None:
        if not 2 <= sketch_size <= exact_limit:
            raise ValueError("need 2 <= sketch_size <= exact_limit")
        self._exact_limit = exact_limit
        self._sketch_size = sketch_size
        self._hashes = np.empty(0, dtype=np.uint64)
        self.approximate = False

    def add(self, hashes: np.ndarray) -> None:
        if self.approximate:
            hashes = hashes[hashes < self._hashes[-1]]
        if not hashes.size:
            return
        hashes = _sorted_unique(hashes)
        kept = self._hashes
        if kept.size:
            at = np.minimum(np.searchsorted(kept, hashes), kept.size - 1)
            hashes = hashes[kept[at] != hashes]
            if not hashes.size:
                return
            # Two sorted runs: the stable sort (timsort) merges them in linear time.
            hashes = np.sort(np.concatenate((kept, hashes)), kind="stable")
        if self.approximate or hashes.size > self._exact_limit:
            self.approximate = True
            hashes = hashes[: self._sketch_size]
        self._hashes = hashes

    @property
    def count(self) -> int:
        if not self.approximate:
            return int(self._hashes.size)
        kth = (float(self._hashes[-1]) + 1.0) / 2.0**64
        return round((self._sketch_size - 1) / kth)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """`np.unique` without its hash table, which is several times slower on 64-bit keys."""
    ordered = np.sort(values)
    keep = np.empty(ordered.size, dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
