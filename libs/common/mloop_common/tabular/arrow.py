"""Arrow arrays built straight from buffers.

`pyarrow.array()` imports pandas on its first call whenever pandas is installed (to check for
pandas types), which costs a process about 70 MB. The gateway inspects uploads without pandas,
so the constants and masks here never go through `pyarrow.array()`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def strings(values: Sequence[str]) -> pa.StringArray:
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(value) for value in encoded], out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(encoded), pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(encoded))
    )


def booleans(mask: np.ndarray) -> pa.BooleanArray:
    bits = np.packbits(np.asarray(mask, dtype=bool), bitorder="little")
    return pa.BooleanArray.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])


def indices(positions: np.ndarray) -> pa.Int64Array:
    data = np.ascontiguousarray(positions, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def as_numpy(values: pa.Array) -> np.ndarray:
    """A null-free numeric or timestamp array as NumPy, zero-copy (`to_numpy` imports pandas)."""
    if values.null_count:
        raise ValueError("as_numpy() takes arrays without nulls")
    dtype = np.dtype(_NUMPY[values.type.id])
    return np.frombuffer(values.buffers()[1], dtype=dtype)[
        values.offset : values.offset + len(values)
    ]


def flags(values: pa.BooleanArray) -> np.ndarray:
    """A boolean array as NumPy bools; nulls read as False."""
    bits = np.frombuffer(values.buffers()[1], dtype=np.uint8)
    unpacked = np.unpackbits(bits, bitorder="little")[values.offset : values.offset + len(values)]
    result = unpacked.astype(bool)
    if values.null_count:
        result &= flags(values.is_valid())
    return result


_NUMPY = {
    pa.int32().id: np.int32,
    pa.int64().id: np.int64,
    pa.float64().id: np.float64,
    pa.timestamp("us").id: np.int64,
}
