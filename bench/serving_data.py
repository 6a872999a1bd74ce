"""The serving benchmarks' data: 20 numeric features `f0` ... `f19` and, to train on, a binary
`label` that depends on some of them. Everything comes from seeded generators, so the same
options always give the same bytes."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from bench.data import data_file

TARGET = "label"
FEATURES = tuple(f"f{i}" for i in range(20))
FORMAT_VERSION = 1
TRAIN_SEED = 20240615
REQUEST_SEED = 20240616
BATCH_SEED = 20240617
BATCH_BLOCK_ROWS = 100_000


def _features(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Rows of the 20 features: normal draws on a few scales, rounded to 4 decimals."""
    scales = np.resize(np.array([1.0, 10.0, 100.0, 0.1]), len(FEATURES))
    values = rng.normal(0.0, 1.0, (rows, len(FEATURES))) * scales + scales
    return np.round(values, 4)


def _labels(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    z = (values - values.mean(axis=0)) / values.std(axis=0)
    signal = 1.2 * z[:, 0] - 0.8 * z[:, 1] + 0.6 * z[:, 2] * z[:, 3] + 0.5 * np.sin(2 * z[:, 4])
    signal += 0.4 * z[:, 5] + rng.normal(0.0, 1.0, len(values))
    return (signal > 0.0).astype(np.int8)


def training_frame(rows: int) -> pd.DataFrame:
    """`rows` rows of the features and the label: what the benchmark model is trained on."""
    rng = np.random.default_rng(TRAIN_SEED)
    values = _features(rng, rows)
    frame = pd.DataFrame(values, columns=list(FEATURES))
    frame[TARGET] = _labels(rng, values)
    return frame


def request_records(count: int) -> list[dict[str, float]]:
    """`count` feature records, drawn apart from the training rows, for the requests."""
    values = _features(np.random.default_rng(REQUEST_SEED), count)
    return [dict(zip(FEATURES, map(float, row), strict=True)) for row in values]


def batch_csv(
    rows: int, *, data_dir: Path, keep_data: bool
) -> contextlib.AbstractContextManager[Path]:
    """The batch benchmark's input: `rows` rows of the 20 features (no label)."""
    return data_file(
        f"serving-batch-{rows}x{len(FEATURES)}-v{FORMAT_VERSION}.csv",
        lambda path: write_batch_csv(path, rows),
        data_dir=data_dir,
        keep_data=keep_data,
    )


def write_batch_csv(path: Path, rows: int) -> None:
    """Write the features in blocks with pyarrow's CSV writer (quick even for millions)."""
    rng = np.random.default_rng(BATCH_SEED)
    schema = pa.schema([(name, pa.float64()) for name in FEATURES])
    with pa_csv.CSVWriter(str(path), schema) as writer:
        for start in range(0, rows, BATCH_BLOCK_ROWS):
            values = _features(rng, min(BATCH_BLOCK_ROWS, rows - start))
            columns: list[Any] = [pa.array(values[:, i]) for i in range(len(FEATURES))]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
