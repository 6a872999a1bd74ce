"""The training benchmark's data: a classification CSV of a requested size, from a seeded
generator (the same size always gives the same bytes)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.data import data_file

TARGET = "label"
FORMAT_VERSION = 1
SEED = 20240614
CATEGORY_LEVELS = (5, 12, 25, 50)


def training_csv(
    rows: int, columns: int, *, data_dir: Path, keep_data: bool
) -> contextlib.AbstractContextManager[Path]:
    return data_file(
        f"training-{rows}x{columns}-v{FORMAT_VERSION}.csv",
        lambda path: write_csv(path, rows, columns),
        data_dir=data_dir,
        keep_data=keep_data,
    )


def write_csv(path: Path, rows: int, columns: int) -> None:
    """`columns` features and `label`: a fifth categorical (5 to 50 levels, unevenly common,
    a few missing in the first), one boolean, one count, the rest floats (every third with 2 %
    missing). The label depends on a few of each kind, with noise."""
    rng = np.random.default_rng(SEED)
    categorical = max(1, round(columns * 0.2))
    numeric = columns - categorical - 2
    data: dict[str, Any] = {}
    z = rng.normal(0.0, 1.0, (rows, numeric))
    scales = rng.choice([1.0, 10.0, 100.0], numeric)
    for i in range(numeric):
        values = np.round(z[:, i] * scales[i] + scales[i], 4)
        if i % 3 == 2:
            values[rng.random(rows) < 0.02] = np.nan
        data[f"num_{i + 1:02d}"] = values
    effects = []
    for i in range(categorical):
        levels = CATEGORY_LEVELS[i % len(CATEGORY_LEVELS)]
        weights = 1.0 / np.arange(1, levels + 1)
        codes = rng.choice(levels, rows, p=weights / weights.sum())
        names = np.array([f"{chr(ord('a') + i % 26)}{k:02d}" for k in range(levels)], dtype=object)
        values = names[codes]
        if i == 0:
            values[rng.random(rows) < 0.01] = None
        data[f"cat_{i + 1}"] = values
        effects.append(rng.normal(0.0, 0.8, levels)[codes])
    flag = rng.random(rows) < 0.35
    count = rng.poisson(3.0, rows)
    data["flag"], data["count"] = flag, count
    signal = np.zeros(rows)
    for weight, i in ((1.2, 0), (-0.8, 1)):
        if i < numeric:
            signal += weight * z[:, i]
    if numeric >= 4:
        signal += 0.6 * z[:, 2] * z[:, 3]
    signal += effects[0] + (effects[1] if categorical > 1 else 0.0)
    signal += 0.7 * flag - 0.15 * (count - 3) + rng.normal(0.0, 1.0, rows)
    data[TARGET] = (signal > 0.0).astype(np.int8)
    pd.DataFrame(data).to_csv(path, index=False)
