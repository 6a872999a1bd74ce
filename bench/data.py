"""Benchmark data: a realistic CSV of a requested size, generated once with NumPy and pandas.

Columns: an id, two ints, two floats (with a few missing), a categorical (with a few missing), a
short free text (some with commas, so quoted), a date and a binary label that depends on the
other columns. Everything comes from a seeded generator, so the same size always gives the same
bytes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

MB = 1 << 20
FORMAT_VERSION = 1
BLOCKS = 16
ROWS_PER_BLOCK = 50_000
SEED = 20240613
TARGET = "churned"

_SEGMENTS = ("retail", "enterprise", "smb", "public", "education", "nonprofit")
_WORDS = (
    "fast delivery good price support slow late broken great friendly refund again never "
    "always helpful rude app website order missing item quality excellent poor average "
    "expensive cheap recommend return easy hard"
).split()


def ensure_file(path: Path, write: Callable[[Path], None]) -> Path:
    """Have `write` generate the file at `path` unless a complete one is there already."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    started = time.perf_counter()
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log.info(
        "generated %s (%.0f MB) in %.1f s",
        path,
        path.stat().st_size / MB,
        time.perf_counter() - started,
    )
    return path


@contextlib.contextmanager
def data_file(
    name: str, write: Callable[[Path], None], *, data_dir: Path, keep_data: bool
) -> Iterator[Path]:
    """A benchmark's data file: from the cache folder, generated into it (`keep_data`), or into
    a temp folder removed afterwards."""
    cached = data_dir / name
    if cached.exists() or keep_data:
        yield ensure_file(cached, write)
        return
    folder = Path(tempfile.mkdtemp(prefix="mloop-bench-data-"))
    try:
        yield ensure_file(folder / name, write)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def upload_csv(
    size_mb: int, *, data_dir: Path, keep_data: bool
) -> contextlib.AbstractContextManager[Path]:
    """The upload benchmark's CSV of `size_mb` MB."""
    return data_file(
        f"upload-{size_mb}mb-v{FORMAT_VERSION}.csv",
        lambda path: write_csv(path, size_mb * MB),
        data_dir=data_dir,
        keep_data=keep_data,
    )


def write_csv(path: Path, size: int) -> None:
    """Write whole rows to `path` until it holds `size` bytes (cut at the last full row).

    A few blocks of rows are rendered by pandas once; the file is those blocks in a seeded
    random order, each time with fresh ids, which is far faster than rendering every row."""
    rng = np.random.default_rng(SEED)
    phrases = _phrases(rng)
    frames = [_chunk(rng, phrases, rows=ROWS_PER_BLOCK) for _ in range(BLOCKS)]
    header = ",".join(["customer_id", *frames[0].columns]) + "\n"
    blocks = [_rendered(frame) for frame in frames]
    del frames
    written = 0
    next_id = 1
    with path.open("wb") as out:
        out.write(header.encode())
        written += len(header)
        while written < size:
            lines = blocks[int(rng.integers(0, BLOCKS))]
            ids = [b"%d" % number for number in range(next_id, next_id + len(lines))]
            data = b"".join(chain.from_iterable(zip(ids, lines, strict=True)))
            if written + len(data) > size:
                data = data[: data.rfind(b"\n", 0, size - written) + 1]
                if not data:
                    break
            out.write(data)
            written += len(data)
            next_id += len(lines)


def _rendered(frame: pd.DataFrame) -> list[bytes]:
    """The rows as CSV lines, each `,<fields>\\n`, ready to follow an id."""
    text = frame.to_csv(index=False, header=False, lineterminator="\n")
    return [b"," + line + b"\n" for line in text.encode().splitlines()]


def _phrases(rng: np.random.Generator, count: int = 800) -> np.ndarray:
    phrases = []
    for _ in range(count):
        words = rng.choice(_WORDS, size=int(rng.integers(2, 7)))
        text = " ".join(words)
        if rng.random() < 0.3:
            cut = int(rng.integers(1, len(words)))
            text = " ".join(words[:cut]) + ", " + " ".join(words[cut:])
        phrases.append(text)
    return np.array(phrases, dtype=object)


def _chunk(rng: np.random.Generator, phrases: np.ndarray, *, rows: int) -> pd.DataFrame:
    age = rng.integers(18, 90, rows)
    tenure = rng.integers(0, 120, rows)
    income = np.round(rng.lognormal(10.6, 0.55, rows), 2)
    income[rng.random(rows) < 0.02] = np.nan
    score = np.round(rng.normal(0.0, 1.0, rows), 4)
    segments = np.array(_SEGMENTS, dtype=object)[rng.integers(0, len(_SEGMENTS), rows)]
    segments[rng.random(rows) < 0.01] = None
    signup = np.datetime64("2018-01-01") + rng.integers(0, 2500, rows).astype("timedelta64[D]")
    logit = 0.8 * score - 0.02 * tenure + 0.01 * (age - 50) + rng.normal(0.0, 1.0, rows)
    return pd.DataFrame(
        {
            "age": age,
            "tenure_months": tenure,
            "income": income,
            "score": score,
            "segment": segments,
            "comment": phrases[rng.integers(0, len(phrases), rows)],
            "signup_date": signup.astype(str),
            TARGET: (logit > 0.0).astype(np.int8),
        }
    )
