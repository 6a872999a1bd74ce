"""The predictor's scorer: signature checks, output shapes per task, and the LightGBM fast path,
which must give what the pipeline gives, record by record (online) and as a frame (batch).

Models are trained with the platform's own `train` on small data typed as uploads are typed."""

from __future__ import annotations

import io
import uuid
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from mloop_common.messages.commands import Evaluation, RunSpec
from mloop_common.ml.algorithms import validate_parameters
from mloop_common.ml.pipelines import anomaly_score
from mloop_common.ml.training import train
from mloop_common.tabular import inspect_csv
from mloop_common.tabular.frame import read_frame
from mloop_predictor.fastpath import LightGBMFastPath
from mloop_predictor.scoring import Scorer

RNG = np.random.default_rng(11)


def typed(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    data = df.to_csv(index=False).encode()
    report = inspect_csv(io.BytesIO(data))
    frame = read_frame(io.BytesIO(data), encoding=report.encoding, delimiter=report.delimiter)
    return frame, {column.name: column.type for column in report.columns}


def mixed(n: int = 400, classes: int = 2) -> pd.DataFrame:
    """Numbers with gaps, a category, a flag and a date: every column type the booster takes."""
    x = RNG.normal(size=(n, 3))
    df = pd.DataFrame(x, columns=["a", "b", "c"]).round(4)
    df.loc[::13, "b"] = np.nan
    df["shop"] = RNG.choice(["north", "south", "east"], n)
    df.loc[::17, "shop"] = None
    df["member"] = np.where(RNG.random(n) > 0.5, "true", "false")
    df["day"] = pd.date_range("2024-01-01", periods=n, freq="6h").strftime("%Y-%m-%d %H:%M")
    score = df["a"] + (df["shop"] == "north") * 1.5 + (df["member"] == "true") - df["c"] * 0.5
    if classes == 0:
        df["y"] = (score * 10 + RNG.normal(size=n)).round(3)
    elif classes == 2:
        df["y"] = np.where(score > 0.3, "yes", "no")
    else:
        df["y"] = pd.cut(score, classes, labels=[f"k{i}" for i in range(classes)]).astype(str)
    return df


def fitted(
    task: str,
    df: pd.DataFrame,
    target: str | None,
    algorithm: str,
    parameters: dict[str, Any] | None = None,
) -> tuple[Scorer, Any, pd.DataFrame]:
    frame, columns = typed(df)
    features = [c for c in df.columns if c != target]
    spec = RunSpec(
        task_type=task,
        dataset_id=uuid.uuid4(),
        dataset_key="datasets/x.csv",
        columns=columns,
        target=target,
        features=features,
        algorithm=algorithm,
        parameters=validate_parameters(task, algorithm, parameters or {}),
        evaluation=Evaluation(),
    )
    outcome = train(spec, frame, n_jobs=1)
    buffer = io.BytesIO()
    joblib.dump(outcome.model, buffer)
    model = joblib.load(io.BytesIO(buffer.getvalue()))
    scorer = Scorer(model_id=uuid.uuid4(), task_type=task, signature=outcome.signature, model=model)
    scorer.try_fast_path(outcome.sample)
    return scorer, outcome, frame[features]


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as an app would send them: JSON values, NaN as null."""
    out = []
    for row in frame.astype(object).to_dict(orient="records"):
        record = {}
        for name, value in row.items():
            if value is None or (isinstance(value, float) and np.isnan(value)):
                record[name] = None
            elif isinstance(value, pd.Timestamp):
                record[name] = None if pd.isna(value) else value.isoformat()
            elif isinstance(value, np.generic):
                record[name] = value.item()
            elif value is pd.NA or value is pd.NaT:
                record[name] = None
            else:
                record[name] = value
        out.append(record)
    return out


@pytest.mark.parametrize(
    ("task", "classes"), [("classification", 2), ("classification", 4), ("regression", 0)]
)
def test_lightgbm_fast_path_reproduces_the_pipeline(task: str, classes: int) -> None:
    scorer, outcome, X = fitted(task, mixed(classes=classes), "y", "lightgbm")
    assert scorer.fast is not None, scorer.fast_path
    records = records_of(X)
    odd = dict(records[0], shop="never-seen", a=None, member="yes", day="2031-05-05T10:00:00")
    records.append(odd)
    assert scorer.validate(records) == []
    online = scorer.predict(records)
    batch = scorer.predict_frame(pd.DataFrame(records))
    pipeline = outcome.model
    if task == "regression":
        expected = pipeline.predict(records)
        assert np.allclose([o["prediction"] for o in online], expected, rtol=1e-9)
        assert np.allclose(batch["prediction"], expected, rtol=1e-9)
        return
    labels = [str(v) for v in pipeline.predict(records)]
    assert [str(o["prediction"]) for o in online] == labels
    assert [str(v) for v in batch["prediction"]] == labels
    proba = pipeline.predict_proba(records)
    keys = [str(c) for c in pipeline.classes_]
    mine = np.array([[o["probabilities"][k] for k in keys] for o in online])
    assert np.allclose(mine, proba, rtol=1e-9, atol=1e-12)
    assert np.allclose(np.column_stack([batch[f"probability_{k}"] for k in keys]), proba)
    assert sum(online[0]["probabilities"].values()) == pytest.approx(1.0)


def test_a_fast_path_that_differs_from_the_pipeline_is_not_used() -> None:
    _scorer, outcome, _X = fitted("classification", mixed(), "y", "lightgbm")
    broken = Scorer(
        model_id=uuid.uuid4(),
        task_type="classification",
        signature=outcome.signature,
        model=outcome.model,
    )
    original = LightGBMFastPath.encode_records

    def shifted(self: LightGBMFastPath, records: list) -> list[list[float]]:
        return [[value + 1.0 for value in row] for row in original(self, records)]

    LightGBMFastPath.encode_records = shifted  # type: ignore[method-assign]
    try:
        broken.try_fast_path(outcome.sample)
    finally:
        LightGBMFastPath.encode_records = original  # type: ignore[method-assign]
    assert broken.fast is None
    assert "other" in broken.fast_path


def test_without_a_sample_the_pipeline_serves() -> None:
    scorer, outcome, X = fitted("regression", mixed(classes=0), "y", "lightgbm")
    bare = Scorer(
        model_id=uuid.uuid4(),
        task_type="regression",
        signature=outcome.signature,
        model=outcome.model,
    )
    bare.try_fast_path(None)
    assert bare.fast is None and "no sample" in bare.fast_path
    records = records_of(X.head(5))
    assert [o["prediction"] for o in bare.predict(records)] == pytest.approx(
        [o["prediction"] for o in scorer.predict(records)]
    )


@pytest.mark.parametrize(
    ("task", "algorithm", "classes"),
    [
        ("classification", "random_forest", 2),
        ("classification", "logistic_regression", 3),
        ("regression", "linear_regression", 0),
        ("regression", "hist_gradient_boosting", 0),
    ],
)
def test_other_algorithms_are_served_by_their_pipeline(task, algorithm, classes) -> None:
    params = {"n_estimators": 20} if algorithm == "random_forest" else {}
    scorer, outcome, X = fitted(task, mixed(200, classes), "y", algorithm, params)
    assert scorer.fast is None
    records = records_of(X.head(30))
    online = scorer.predict(records)
    batch = scorer.predict_frame(X.head(30))
    if task == "regression":
        expected = outcome.model.predict(records)
        assert np.allclose([o["prediction"] for o in online], expected)
        assert np.allclose(batch["prediction"], expected)
    else:
        expected = [str(v) for v in outcome.model.predict(records)]
        assert [str(o["prediction"]) for o in online] == expected
        assert [str(v) for v in batch["prediction"]] == expected


def test_anomaly_flags_and_scores_match_the_detector() -> None:
    n = 300
    df = pd.DataFrame({"amount": RNG.normal(50, 5, n).round(2), "hour": RNG.integers(0, 24, n)})
    df.loc[::25, "amount"] += 80
    scorer, outcome, X = fitted("anomaly_detection", df, None, "isolation_forest")
    records = records_of(X)
    online = scorer.predict(records)
    assert [o["prediction"] for o in online] == outcome.model.predict(records).tolist()
    assert np.allclose([o["score"] for o in online], anomaly_score(outcome.model, records))
    batch = scorer.predict_frame(X)
    assert batch["prediction"].tolist() == [o["prediction"] for o in online]
    assert any(o["prediction"] for o in online) and all(0 < o["score"] <= 1 for o in online)


def sales() -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=80, freq="D")
    parts = []
    for store, level in (("north", 20.0), ("south", 60.0)):
        weekly = 8 * np.sin(2 * np.pi * np.arange(len(days)) / 7)
        parts.append(
            pd.DataFrame(
                {
                    "store": store,
                    "day": days.strftime("%Y-%m-%d"),
                    "units": (level + weekly + RNG.normal(0, 0.5, len(days))).round(2),
                }
            )
        )
    return pd.concat(parts)


def test_forecasts_from_the_stored_history_or_the_record_own() -> None:
    scorer, _outcome, _X = fitted(
        "forecasting", sales(), "units", "lightgbm", {"horizon": 4, "minChildSamples": 5}
    )
    out = scorer.predict([{"store": "north"}, {"store": "south", "day": "2024-03-01"}])
    assert [len(o["prediction"]) for o in out] == [4, 4]
    assert out[0]["times"][0].startswith("2024-03-21")  # the day after the history ends
    assert out[1]["times"][0].startswith("2024-03-02")
    assert out[1]["prediction"][0] > out[0]["prediction"][0]  # south sells more

    unknown = [{"store": "west"}]
    assert scorer.validate(unknown)[0]["field"] == "store"
    history = [{"day": f"2024-02-{d:02d}", "units": 500.0 + d} for d in range(1, 29)]
    carried = [{"store": "west", "history": history}]
    assert scorer.validate(carried) == []
    (forecast,) = scorer.predict(carried)
    assert forecast["times"][0].startswith("2024-02-29")
    assert forecast["prediction"][0] > out[0]["prediction"][0]  # its own high history
    assert scorer.validate([{"store": "west", "history": [{"day": "x"}]}])[0]["field"] == (
        "history"
    )
    assert scorer.validate([{"day": "2024-03-01"}]) == [
        {"record": 0, "field": "store", "message": "missing column"}
    ]
    frame = scorer.predict_frame(pd.DataFrame([{"store": "north"}]))
    assert frame["prediction"] == [out[0]["prediction"]]


def test_recommendations_take_k() -> None:
    rows = []
    for user in range(60):
        group = user % 3
        for item in RNG.choice(np.arange(group * 8, group * 8 + 8), 5, replace=False):
            rows.append((f"u{user}", f"item{item}", int(RNG.integers(3, 6))))
    df = pd.DataFrame(rows, columns=["user", "item", "stars"])
    scorer, _outcome, _X = fitted(
        "recommendation", df, "stars", "matrix_factorization", {"factors": 4, "k": 5}
    )
    assert scorer.validate([{"user": "u1"}, {"user": "stranger"}]) == []
    assert scorer.validate([{"item": "x"}])[0] == {
        "record": 0,
        "field": "user",
        "message": "missing column",
    }
    (known, stranger) = scorer.predict([{"user": "u1"}, {"user": "stranger"}], k=3)
    assert len(known["prediction"]) == 3 and len(known["scores"]) == 3
    assert known["scores"] == sorted(known["scores"], reverse=True)
    assert len(stranger["prediction"]) == 3
    assert len(scorer.predict([{"user": "u1"}])[0]["prediction"]) == 5
    assert scorer.check_k(0) and scorer.check_k("3") and scorer.check_k(3) is None


def test_signature_refusals_name_record_and_field() -> None:
    scorer, _outcome, X = fitted("classification", mixed(), "y", "lightgbm")
    good = records_of(X.head(1))[0]
    records = [
        good,
        {k: v for k, v in good.items() if k != "a"},
        dict(good, b="abc"),
        dict(good, c=[1, 2]),
        dict(good, member="maybe"),
        dict(good, day="not a day"),
        dict(good, shop={"x": 1}),
        "not an object",
        dict(good, a="2.5", b=True),
        dict(good, shop=7, member=1, day=None, a=None),
    ]
    errors = scorer.validate(records)
    assert [(e["record"], e["field"]) for e in errors] == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
        (4, "member"),
        (5, "day"),
        (6, "shop"),
        (7, None),
        (8, "b"),
    ]
    assert errors[0]["message"] == "missing column"
    assert "not a number" in errors[1]["message"]
    assert scorer.check_k(3) == "k applies to recommendation models only"
