"""Drift statistics of the monitor (pure), against reference profiles made by the real
`column_profile` on generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mloop_common.ml.profile import column_profile, reference
from mloop_monitor.domain.drift import column_drift, dataset_drift, default_method

RNG = np.random.default_rng(7)
WORDS = [f"w{i}" for i in range(300)]


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Each test draws the same data whatever runs before it."""
    global RNG
    RNG = np.random.default_rng(7)


def numeric(n: int, mean: float = 10.0, std: float = 3.0) -> pd.Series:
    return pd.Series(RNG.normal(mean, std, n))


def categories(n: int, shares: list[float]) -> pd.Series:
    return pd.Series(RNG.choice(["a", "b", "c", "d"], size=n, p=shares))


def texts(n: int, length: float, vocabulary: list[str]) -> pd.Series:
    return pd.Series(
        [" ".join(RNG.choice(vocabulary, size=max(1, RNG.poisson(length)))) for _ in range(n)]
    )


@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi"])
def test_same_numeric_distribution_is_not_drifted(method: str) -> None:
    profile = column_profile(numeric(3000), "numeric")
    result = column_drift("numeric", profile, numeric(800), reference_rows=3000, method=method)
    assert result.score is not None and not result.drifted


def test_shifted_numeric_distribution_is_drifted() -> None:
    profile = column_profile(numeric(800), "numeric")
    shifted = numeric(500, mean=16.0)  # +2 sigma
    result = column_drift("numeric", profile, shifted, reference_rows=800)
    assert result.method == "ks" and result.drifted and result.score < 1e-6
    assert result.others["psi"] > 1.0
    assert result.others["wasserstein"] > 0.1
    big = column_drift("numeric", profile, shifted, reference_rows=5000)
    assert big.method == "wasserstein" and big.drifted and big.score > 1.0


def test_integer_numeric_column_is_not_drifted_by_its_atoms() -> None:
    profile = column_profile(pd.Series(RNG.poisson(3, 900)), "numeric")
    same = column_drift("numeric", profile, list(RNG.poisson(3, 900)), reference_rows=900)
    assert not same.drifted and same.others["wasserstein"] < 0.1
    more = column_drift("numeric", profile, list(RNG.poisson(6, 900)), reference_rows=900)
    assert more.drifted


@pytest.mark.parametrize("method", ["chisquare", "jensenshannon"])
def test_category_mix(method: str) -> None:
    shares = [0.4, 0.3, 0.2, 0.1]
    profile = column_profile(categories(3000, shares), "categorical")
    same = column_drift(
        "categorical", profile, categories(800, shares), reference_rows=3000, method=method
    )
    assert same.score is not None and not same.drifted
    changed = column_drift(
        "categorical",
        profile,
        categories(800, [0.1, 0.2, 0.3, 0.4]),
        reference_rows=3000,
        method=method,
    )
    assert changed.drifted
    assert changed.others  # the other statistic is reported beside


def test_unseen_categories_are_pooled_and_drift() -> None:
    profile = column_profile(categories(500, [0.4, 0.3, 0.2, 0.1]), "categorical")
    window = pd.concat([categories(300, [0.4, 0.3, 0.2, 0.1]), pd.Series(["zzz"] * 200)])
    result = column_drift("categorical", profile, window, reference_rows=500)
    assert result.method == "chisquare" and result.drifted
    assert result.others["outside_top_share"] == pytest.approx(0.4)
    assert 0.0 < result.others["jensenshannon"] <= 1.0


def test_boolean_column() -> None:
    profile = column_profile(pd.Series(RNG.random(1000) < 0.3), "boolean")
    same = column_drift("boolean", profile, list(RNG.random(600) < 0.3), reference_rows=1000)
    flipped = column_drift("boolean", profile, list(RNG.random(600) < 0.8), reference_rows=1000)
    assert not same.drifted and flipped.drifted


def test_method_switches_at_1000_reference_rows() -> None:
    assert default_method("numeric", 1000) == "ks"
    assert default_method("numeric", 1001) == "wasserstein"
    assert default_method("categorical", 1000) == "chisquare"
    assert default_method("boolean", 1001) == "jensenshannon"
    profile = column_profile(numeric(1000), "numeric")
    assert column_drift("numeric", profile, numeric(50), reference_rows=1001).method == (
        "wasserstein"
    )


def test_thresholds_are_parameters() -> None:
    profile = column_profile(numeric(3000), "numeric")
    window = numeric(800, mean=10.6)  # +0.2 sigma
    loose = column_drift("numeric", profile, window, reference_rows=3000)
    strict = column_drift(
        "numeric", profile, window, reference_rows=3000, thresholds={"wasserstein": loose.score / 2}
    )
    assert loose.score == strict.score and strict.drifted


def test_text_token_counts_and_vocabulary() -> None:
    profile = column_profile(texts(2000, 8, WORDS), "text")
    same = column_drift("text", profile, texts(700, 8, WORDS), reference_rows=2000)
    assert not same.drifted and same.others["oov_share"] < 0.05
    longer = column_drift("text", profile, texts(700, 16, WORDS), reference_rows=2000)
    assert longer.drifted and longer.score > 0.1
    new_words = texts(700, 8, [f"z{i}" for i in range(50)])
    fresh = column_drift("text", profile, new_words, reference_rows=2000, method="ks")
    assert fresh.drifted and fresh.others["oov_share"] == 1.0
    assert fresh.others["oov_increase"] > same.others["oov_increase"]


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("numeric", numeric(100)),
        ("categorical", categories(100, [0.25] * 4)),
        ("text", texts(100, 5, WORDS)),
        ("boolean", pd.Series([True, False] * 50)),
    ],
)
def test_empty_or_missing_window_gives_no_verdict(kind: str, data: pd.Series) -> None:
    profile = column_profile(data, kind)
    for window in ([], [None, float("nan")], pd.Series([None] * 5, dtype=object)):
        result = column_drift(kind, profile, window, reference_rows=100)
        assert result.score is None and not result.drifted and result.reason


def test_constant_reference_column() -> None:
    profile = column_profile(pd.Series([5.0] * 400), "numeric")
    assert profile["std"] == 0.0
    for method in ("ks", "wasserstein", "psi"):
        same = column_drift("numeric", profile, [5.0] * 50, reference_rows=400, method=method)
        assert same.score is not None and not same.drifted, method
    moved = column_drift("numeric", profile, [7.5] * 50, reference_rows=400)
    assert moved.drifted and moved.others["wasserstein"] == pytest.approx(0.5)


def test_dataset_drift_share() -> None:
    frame = pd.DataFrame({"x": numeric(800), "y": numeric(800), "c": categories(800, [0.25] * 4)})
    columns = {"x": "numeric", "y": "numeric", "c": "categorical"}
    profile = reference(frame, columns, {})
    window = pd.DataFrame(
        {"x": numeric(400, mean=16.0), "y": numeric(400), "c": categories(400, [0.25] * 4)}
    )
    result = dataset_drift(profile, window, columns)
    assert result["features"]["x"]["drifted"] and not result["features"]["y"]["drifted"]
    assert result["share"] == pytest.approx(1 / 3) and not result["drifted"]
    assert dataset_drift(profile, window, columns, share=0.3)["drifted"]
    assert set(result["features"]["x"]) >= {"method", "score", "drifted", "psi"}
    missing = dataset_drift(profile, window.drop(columns="c"), columns)
    assert missing["features"]["c"]["score"] is None and missing["features"]["c"]["reason"]
    empty = dataset_drift(profile, window.iloc[:0], columns)
    assert empty == {"drifted": False, "share": 0.0, "features": empty["features"]}


def test_decimal_measurements_are_judged_on_their_lattice() -> None:
    """Values measured to 0.1 have atoms: the same distribution must not drift, a shift must."""
    reference_values = pd.Series(np.round(RNG.normal(1.2, 0.7, 120).clip(0.1), 1))
    profile = column_profile(reference_values, "numeric")
    same = np.round(RNG.normal(1.2, 0.7, 100).clip(0.1), 1)
    result = column_drift("numeric", profile, list(same), reference_rows=120)
    assert result.method == "ks" and not result.drifted
    moved = column_drift("numeric", profile, list(same + 1.5), reference_rows=120)
    assert moved.drifted and moved.score < 1e-6
    assert moved.others["wasserstein"] > 1.0
