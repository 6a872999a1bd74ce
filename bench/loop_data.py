"""Synthetic data for the closed loop (the loop benchmark and the end-to-end loop tests): two
numbers and a colour, and a label rule that the "shifted" data changes, so a model trained on
the newer data is truly better on it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FEATURES = ["x1", "x2", "colour"]
TARGET = "label"


def frame(rows: int, seed: int, *, shift: float = 0.0, rule: str = "sum") -> pd.DataFrame:
    """x1 ~ N(shift, 1), x2 ~ N(0, 1), a colour; the label is `x1 + x2 > 0` under the "sum" rule
    and `(x1 - shift) - x2 > 0` under the "diff" rule, with 3 % of labels flipped."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, rows)
    x2 = rng.normal(0.0, 1.0, rows)
    score = x1 + x2 if rule == "sum" else (x1 - shift) - x2
    label = (score > 0) ^ (rng.random(rows) < 0.03)
    return pd.DataFrame(
        {
            "x1": x1.round(4),
            "x2": x2.round(4),
            "colour": rng.choice(["red", "green", "blue"], rows),
            TARGET: np.where(label, "yes", "no"),
        }
    )


def records(data: pd.DataFrame) -> list[dict[str, Any]]:
    return data[FEATURES].to_dict("records")
