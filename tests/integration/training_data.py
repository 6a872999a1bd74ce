"""Small datasets, one per task type, made by the tests (or from data scikit-learn ships)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_iris

SEED = 7


def csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def classification() -> pd.DataFrame:
    iris = load_iris(as_frame=True).frame.rename(
        columns=lambda c: c.replace(" (cm)", "").replace(" ", "_")
    )
    rng = np.random.default_rng(SEED)
    iris["colour"] = rng.choice(["red", "green", "blue"], size=len(iris))
    iris["species"] = np.array(["setosa", "versicolor", "virginica"])[iris.pop("target")]
    return iris


def regression() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})


POSITIVE = ["great", "lovely", "excellent", "friendly", "delicious", "fast", "clean"]
NEGATIVE = ["awful", "rude", "slow", "dirty", "cold", "terrible", "noisy"]
NEUTRAL = ["the", "coffee", "staff", "place", "service", "was", "and", "food", "today"]


def text_classification(rows: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    labels = rng.choice(["pos", "neg"], size=rows)
    reviews = []
    for label in labels:
        words = list(rng.choice(NEUTRAL, size=6)) + list(
            rng.choice(POSITIVE if label == "pos" else NEGATIVE, size=2)
        )
        rng.shuffle(words)
        reviews.append(" ".join(words))
    return pd.DataFrame({"review": reviews, "sentiment": labels})


def anomaly_detection(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    normal = rng.normal(0, 1, size=(rows, 3))
    outliers = rng.uniform(6, 9, size=(rows // 20, 3)) * rng.choice([-1, 1], size=(rows // 20, 3))
    values = np.vstack([normal, outliers])
    frame = pd.DataFrame(values, columns=["x1", "x2", "x3"])
    frame["is_anomaly"] = [False] * rows + [True] * (rows // 20)
    return frame.sample(frac=1, random_state=SEED).reset_index(drop=True)


def forecasting(days: int = 160) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    frames = []
    for store, level in (("north", 100.0), ("south", 60.0)):
        weekly = 10 * np.sin(2 * np.pi * np.arange(days) / 7)
        sales = level + 0.2 * np.arange(days) + weekly + rng.normal(0, 2, size=days)
        frames.append(
            pd.DataFrame(
                {"day": dates.strftime("%Y-%m-%d"), "store": store, "sales": sales.round(2)}
            )
        )
    return pd.concat(frames, ignore_index=True)


def recommendation(users: int = 60, items: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    taste = rng.integers(0, 2, size=users)  # two groups of users like two groups of items
    rows = []
    for user in range(users):
        liked = range(0, items // 2) if taste[user] == 0 else range(items // 2, items)
        for item in rng.choice(list(liked), size=12, replace=False):
            rows.append((f"u{user}", f"i{item}", int(rng.integers(4, 6))))
        for item in rng.choice(items, size=3, replace=False):
            rows.append((f"u{user}", f"i{item}", int(rng.integers(1, 3))))
    frame = pd.DataFrame(rows, columns=["user", "item", "rating"])
    return frame.drop_duplicates(["user", "item"]).reset_index(drop=True)


# task type -> (frame, target, features or None for every usable column)
DATASETS = {
    "classification": (classification, "species"),
    "regression": (regression, "progression"),
    "text_classification": (text_classification, "sentiment"),
    "anomaly_detection": (anomaly_detection, "is_anomaly"),
    "forecasting": (forecasting, "sales"),
    "recommendation": (recommendation, "rating"),
}
