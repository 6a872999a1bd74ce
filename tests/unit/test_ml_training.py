"""Training every algorithm of every task (`mloop_common.ml.train`) on small data.

Frames are made the way the platform makes them: a CSV typed by `inspect_csv` and read by
`read_frame`, so dtypes (nullable booleans, strings with NaN, datetime64) are the real ones.
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from mloop_common.messages.commands import Evaluation, RunSpec
from mloop_common.ml.algorithms import ALGORITHMS, validate_parameters
from mloop_common.ml.metrics import task_metrics
from mloop_common.ml.pipelines import anomaly_score
from mloop_common.ml.recommendation import ALSRecommender
from mloop_common.ml.training import UnusableData, train
from mloop_common.tabular import inspect_csv
from mloop_common.tabular.frame import read_frame
from sklearn.datasets import load_diabetes, load_iris
from threadpoolctl import threadpool_info

# -- data ---------------------------------------------------------------------------------------


def table(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """`df` through CSV, typed and read as the platform does."""
    data = df.to_csv(index=False).encode()
    report = inspect_csv(io.BytesIO(data))
    frame = read_frame(io.BytesIO(data), encoding=report.encoding, delimiter=report.delimiter)
    return frame, {column.name: column.type for column in report.columns}


class Dataset:
    def __init__(self, df: pd.DataFrame, target: str | None, features: list[str]) -> None:
        self.frame, self.columns = table(df)
        self.target, self.features = target, features


RNG = np.random.default_rng(7)


def iris() -> Dataset:
    df = load_iris(as_frame=True).frame
    df.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    df["species"] = np.array(["setosa", "versicolor", "virginica"])[df["species"]]
    df["colour"] = np.where(df["sepal_length"] > 5.8, "dark", "light")
    df.loc[::17, "colour"] = None
    df["wild"] = np.where(np.arange(len(df)) % 3 == 0, "true", "false")
    df.loc[::11, "sepal_width"] = np.nan
    return Dataset(df, "species", [c for c in df.columns if c != "species"])


def diabetes() -> Dataset:
    df = load_diabetes(as_frame=True).frame
    df["region"] = RNG.choice(["north", "south", "east"], len(df))
    return Dataset(df, "target", [c for c in df.columns if c != "target"])


def reviews() -> Dataset:
    good = ["great product love it", "excellent quality works well", "happy great value"]
    bad = ["terrible it broke fast", "awful quality waste of money", "poor support disappointed"]
    label = RNG.integers(0, 2, 160)
    text = [
        f"{(good if v else bad)[RNG.integers(0, 3)]}, wrote customer {i} about the order"
        for i, v in enumerate(label)
    ]
    df = pd.DataFrame(
        {
            "review": text,
            "shop": RNG.choice(["north", "south"], 160),
            "sentiment": np.where(label == 1, "positive", "negative"),
        }
    )
    data = Dataset(df, "sentiment", ["review", "shop"])
    assert data.columns["review"] == "text"
    return data


def transactions(labelled: bool = True) -> Dataset:
    n = 300
    amounts = RNG.normal(50, 5, n)
    distance = RNG.normal(10, 2, n)
    fraud = np.zeros(n, dtype=bool)
    fraud[::20] = True
    amounts[fraud] += 60
    distance[fraud] += 25
    df = pd.DataFrame(
        {
            "amount": amounts.round(2),
            "distance": distance.round(2),
            "channel": RNG.choice(["web", "shop"], n),
            "fraud": np.where(fraud, "true", "false"),
        }
    )
    return Dataset(df, "fraud" if labelled else None, ["amount", "distance", "channel"])


def sales() -> Dataset:
    days = pd.date_range("2024-01-01", periods=100, freq="D")
    parts = []
    for store, level in (("north", 20.0), ("south", 60.0)):
        weekly = 8 * np.sin(2 * np.pi * np.arange(len(days)) / 7)
        parts.append(
            pd.DataFrame(
                {
                    "store": store,
                    "day": days.strftime("%Y-%m-%d"),
                    "temperature": RNG.normal(15, 3, len(days)).round(1),
                    "units": (level + weekly + RNG.normal(0, 0.5, len(days))).round(2),
                }
            )
        )
    return Dataset(pd.concat(parts), "units", ["store", "day", "temperature"])


def ratings() -> Dataset:
    rows = []
    for user in range(120):
        group = user % 4
        for item in RNG.choice(np.arange(group * 10, group * 10 + 10), 7, replace=False):
            rows.append((f"u{user}", f"item{item}", int(RNG.integers(3, 6))))
    return Dataset(pd.DataFrame(rows, columns=["user", "item", "stars"]), "stars", ["user", "item"])


DATASETS = {
    "classification": iris,
    "regression": diabetes,
    "text_classification": reviews,
    "anomaly_detection": transactions,
    "forecasting": sales,
    "recommendation": ratings,
}
_cache: dict[str, Dataset] = {}


def dataset(task: str) -> Dataset:
    if task not in _cache:
        _cache[task] = DATASETS[task]()
    return _cache[task]


PARAMETERS: dict[tuple[str, str], dict[str, Any]] = {
    ("forecasting", "lightgbm"): {"horizon": 5, "minChildSamples": 5, "nEstimators": 60},
    ("recommendation", "matrix_factorization"): {"factors": 8, "k": 5},
    ("classification", "random_forest"): {"n_estimators": 30},
    ("regression", "random_forest"): {"n_estimators": 30},
}


def spec(
    task: str,
    data: Dataset,
    algorithm: str,
    parameters: dict[str, Any] | None = None,
    **evaluation: Any,
) -> RunSpec:
    return RunSpec(
        task_type=task,
        dataset_id=uuid.uuid4(),
        dataset_key="datasets/test.csv",
        columns=data.columns,
        target=data.target,
        features=data.features,
        algorithm=algorithm,
        parameters=validate_parameters(task, algorithm, parameters or {}),
        evaluation=Evaluation(**evaluation),
    )


class Recorder:
    def __init__(self) -> None:
        self.progress: list[tuple[float, str]] = []
        self.lines: list[str] = []
        self.threads: set[int] = set()

    def on_progress(self, share: float, message: str) -> None:
        self.progress.append((share, message))
        self.threads.update(pool["num_threads"] for pool in threadpool_info())


def run(task: str, algorithm: str, data: Dataset | None = None, **kw: Any) -> tuple[Any, Recorder]:
    data = data or dataset(task)
    params = kw.pop("parameters", PARAMETERS.get((task, algorithm), {}))
    n_jobs = kw.pop("n_jobs", 2)
    recorder = Recorder()
    outcome = train(
        spec(task, data, algorithm, params, **kw),
        data.frame,
        n_jobs=n_jobs,
        progress=recorder.on_progress,
        log=recorder.lines.append,
    )
    return outcome, recorder


def roundtrip(model: Any) -> Any:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def odd_record(sample: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    """A sample record with an unseen category and a missing number."""
    record = dict(sample)
    for name in record:
        if columns[name] == "categorical":
            record[name] = "never-seen-before"
            break
    for name in record:
        if columns[name] == "numeric":
            record[name] = None
            break
    return record


SENSIBLE = {
    "classification": ("accuracy", 0.8),
    "regression": ("r2", 0.2),
    "text_classification": ("accuracy", 0.9),
    "anomaly_detection": ("roc_auc", 0.9),
    "forecasting": ("r2", 0.8),
    "recommendation": ("recall_at_k", 0.5),
}
WITHOUT_IMPORTANCES = {"hist_gradient_boosting", "isolation_forest", "matrix_factorization"}
EVERY_ALGORITHM = [(t, a) for t in DATASETS for a in ALGORITHMS[t] if a != "auto"]


# -- every algorithm ----------------------------------------------------------------------------


@pytest.mark.parametrize(("task", "algorithm"), EVERY_ALGORITHM)
def test_every_algorithm_trains_evaluates_and_predicts_from_raw_records(
    task: str, algorithm: str
) -> None:
    data = dataset(task)
    outcome, recorder = run(task, algorithm)

    assert outcome.algorithm == algorithm
    metric, floor = SENSIBLE[task]
    assert outcome.metrics[metric] > floor, outcome.metrics
    assert set(outcome.metrics) <= set(task_metrics(task))
    assert all(isinstance(v, float) and math.isfinite(v) for v in outcome.metrics.values())
    assert validate_parameters(task, algorithm, outcome.parameters) == outcome.parameters

    shares = [share for share, _ in recorder.progress]
    assert shares == sorted(shares) and recorder.progress[-1] == (1.0, "done")
    assert any("holdout" in line for line in recorder.lines)

    if algorithm in WITHOUT_IMPORTANCES:
        assert outcome.feature_importances is None
    else:
        assert outcome.feature_importances is not None
        assert math.isclose(sum(outcome.feature_importances.values()), 1.0)
        assert set(outcome.feature_importances) <= {*data.features, data.target}

    json.dumps([outcome.details, outcome.signature, outcome.reference, outcome.sample])
    json.dumps([outcome.parameters, outcome.trials, outcome.library_versions])
    assert {"python", "numpy", "scikit-learn", "lightgbm", "optuna"} <= set(
        outcome.library_versions
    )
    assert 0 < len(outcome.sample) <= 50
    assert outcome.signature["task_type"] == task

    sample = pd.DataFrame(outcome.sample)
    expected = outcome.model.predict(sample)
    assert len(expected) == len(sample)
    again = roundtrip(outcome.model).predict(sample)
    assert np.array_equal(np.asarray(expected, dtype=object), np.asarray(again, dtype=object))
    odd = outcome.model.predict([odd_record(outcome.sample[0], data.columns)])
    if task in ("classification", "text_classification"):
        assert odd[0] in set(outcome.model.classes_)
    elif task == "anomaly_detection":
        assert odd.dtype == bool and odd.shape == (1,)
    elif task == "forecasting":
        assert odd.shape == (1, outcome.parameters["horizon"]) and np.isfinite(odd).all()
    elif task == "recommendation":
        assert odd.shape == (1, outcome.parameters["k"]) and None not in odd[0]
    else:
        assert odd.shape == (1,) and np.isfinite(odd).all()


def test_classification_predicts_labels_and_probabilities_per_class() -> None:
    outcome, _ = run("classification", "lightgbm")
    model = outcome.model
    sample = pd.DataFrame(outcome.sample)
    assert set(model.predict(sample)) <= {"setosa", "versicolor", "virginica"}
    proba = model.predict_proba(sample)
    assert proba.shape == (len(sample), 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == outcome.signature["target"]["labels"]
    assert outcome.details["labels"] == ["setosa", "versicolor", "virginica"]
    assert (
        np.asarray(outcome.details["confusion_matrix"]).sum() == outcome.details["rows"]["holdout"]
    )
    # JSON records, as a predictor receives them: strings for booleans, nulls, extra keys
    record = {"petal_length": 5.9, "petal_width": "2.1", "wild": "true", "colour": None, "x": 1}
    assert model.predict([record])[0] == "virginica"


def test_signature_and_reference_profile_describe_the_training_rows() -> None:
    outcome, _ = run("classification", "logistic_regression")
    columns = {c["name"]: c for c in outcome.signature["columns"]}
    assert columns["colour"]["type"] == "categorical"
    assert set(columns["colour"]["categories"]) == {"dark", "light"}
    assert columns["wild"]["type"] == "boolean"
    assert columns["sepal_length"]["dtype"] == "float64"
    reference = outcome.reference
    assert reference["rows"] == outcome.details["rows"]["train"]
    width = reference["columns"]["sepal_width"]
    assert width["missing"] > 0
    assert sum(width["bins"]["counts"]) == round(reference["rows"] * (1 - width["missing"]))
    assert width["bins"]["edges"] == sorted(width["bins"]["edges"])
    colour = reference["columns"]["colour"]
    assert math.isclose(sum(colour["frequencies"].values()) + colour["other"], 1.0)
    prediction = reference["prediction"]
    assert set(prediction["mean_probability"]) == {"setosa", "versicolor", "virginica"}


def test_text_columns_are_vectorised_for_classification() -> None:
    data = reviews()
    data.target, data.features = "sentiment", ["review", "shop"]
    outcome, _ = run("classification", "random_forest", data=data)
    assert outcome.metrics["accuracy"] > 0.9
    assert outcome.feature_importances["review"] > outcome.feature_importances["shop"]
    vocabulary = outcome.reference["columns"]["review"]["vocabulary"]
    assert "quality" in vocabulary


def test_text_classification_gives_calibrated_probabilities() -> None:
    outcome, _ = run("text_classification", "linear_svm")
    proba = outcome.model.predict_proba([{"review": "great value love it"}, {"review": "broke"}])
    positive = list(outcome.model.classes_).index("positive")
    assert proba[0, positive] > 0.5 > proba[1, positive]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_auto_searches_within_budget_and_refits_the_best(task: str) -> None:
    parameters = {"timeBudget": 3, "maxTrials": 4}
    if task == "classification":
        parameters["algorithms"] = ["logistic_regression", "random_forest", "lightgbm"]
    outcome, recorder = run(task, "auto", parameters=parameters)
    assert 1 <= len(outcome.trials) <= 4
    for trial in outcome.trials:
        assert {"number", "algorithm", "parameters", "value", "state", "seconds"} <= set(trial)
    complete = [t for t in outcome.trials if t["state"] == "COMPLETE"]
    assert complete
    assert outcome.algorithm in ALGORITHMS[task] and outcome.algorithm != "auto"
    best = (max if task == "classification" else min)(complete, key=lambda t: t["value"])
    assert (outcome.algorithm, outcome.parameters) == (best["algorithm"], best["parameters"])
    assert validate_parameters(task, outcome.algorithm, outcome.parameters)
    assert any(message.startswith("trial") for _, message in recorder.progress)
    assert outcome.metrics[SENSIBLE[task][0]] > SENSIBLE[task][1]


def test_cross_validation_adds_mean_and_std_of_each_metric() -> None:
    outcome, _ = run("regression", "linear_regression", cv_folds=3)
    for name in ("rmse", "mae", "r2"):
        assert f"cv_{name}_mean" in outcome.metrics and f"cv_{name}_std" in outcome.metrics
    assert outcome.details["cv"]["folds"] == 3
    assert len(outcome.details["cv"]["fold_scores"]) == 3


def test_n_jobs_reaches_estimators_and_thread_pools() -> None:
    outcome, _ = run("classification", "lightgbm", n_jobs=2)
    assert outcome.model.named_steps["model"].n_jobs == 2
    outcome, _ = run("anomaly_detection", "isolation_forest", n_jobs=2)
    assert outcome.model.named_steps["model"].n_jobs == 2
    outcome, _ = run("forecasting", "lightgbm", n_jobs=2)
    assert outcome.model.model_.n_jobs == 2
    outcome, recorder = run("classification", "hist_gradient_boosting", n_jobs=1)
    assert recorder.threads == {1}  # OpenMP and BLAS pools, limited while training


def test_primary_metric_can_be_chosen_among_the_task_metrics() -> None:
    outcome, _ = run("regression", "linear_regression", primary_metric="mae")
    assert outcome.details["primary_metric"] == "mae"
    with pytest.raises(UnusableData, match="'accuracy' is not a metric of regression"):
        run("regression", "linear_regression", primary_metric="accuracy")


def test_auto_stops_at_its_time_budget() -> None:
    started = time.monotonic()
    outcome, _ = run("regression", "auto", parameters={"timeBudget": 1.5, "maxTrials": 500})
    assert time.monotonic() - started < 6
    assert 1 <= len(outcome.trials) < 500


def test_rows_without_target_are_dropped_and_logged() -> None:
    data = iris()
    data.frame.loc[:9, "species"] = np.nan
    outcome, recorder = run("classification", "logistic_regression", data=data)
    assert outcome.details["rows"]["used"] == 140
    assert any("dropped 10 rows" in line for line in recorder.lines)


# -- task specifics -----------------------------------------------------------------------------


def test_anomaly_detection_flags_anomalies_and_scores_them() -> None:
    outcome, _ = run("anomaly_detection", "isolation_forest")
    model = outcome.model
    flags = model.predict([{"amount": 115, "distance": 36}, {"amount": 50, "distance": 10}])
    assert flags.dtype == bool and list(flags) == [True, False]
    scores = anomaly_score(model, [{"amount": 115, "distance": 36}, {"amount": 50}])
    assert scores[0] > outcome.signature["threshold"] > scores[1]
    assert outcome.metrics["recall"] > 0.5
    assert outcome.details["primary_metric"] == "roc_auc"


def test_anomaly_detection_without_a_label_ranks_by_separation() -> None:
    outcome, _ = run("anomaly_detection", "isolation_forest", data=transactions(labelled=False))
    assert outcome.details["primary_metric"] == "separation"
    assert outcome.metrics["separation"] > 0
    assert "roc_auc" not in outcome.metrics
    assert math.isclose(outcome.metrics["anomaly_rate"], 0.05, abs_tol=0.05)


def test_forecasting_returns_horizon_values_from_the_time_given() -> None:
    outcome, _ = run("forecasting", "lightgbm", cv_folds=2)
    model, horizon = outcome.model, 5
    assert outcome.details["horizon"] == horizon and outcome.details["origins"] > 0
    assert outcome.signature["time_column"] == "day"
    assert outcome.signature["series_columns"] == ["store"]
    assert outcome.signature["ignored_columns"] == ["temperature"]
    assert outcome.signature["frequency"] == "D"
    assert "cv_rmse_mean" in outcome.metrics
    forecasts = model.predict([{"store": "north"}, {"store": "south"}, {"store": "east"}])
    assert forecasts.shape == (3, horizon) and np.isfinite(forecasts).all()
    assert 5 < forecasts[0].mean() < 35 and 45 < forecasts[1].mean() < 75
    times = model.forecast_times([{"store": "north"}])[0]
    assert times[0] == pd.Timestamp("2024-04-10")  # the day after the last one (2024-04-09)
    from_past = model.forecast_times([{"store": "north", "day": "2024-03-01"}])[0]
    assert from_past[0] == pd.Timestamp("2024-03-02")
    assert set(outcome.feature_importances) == {"store", "day", "units"}


def test_forecasting_holdout_is_the_latest_part_in_time() -> None:
    outcome, _ = run("forecasting", "lightgbm", holdout=0.2)
    assert outcome.details["rows"]["holdout"] == 40  # the latest 20 of 100 days, two stores
    days = [pd.Timestamp(record["day"]) for record in outcome.sample]
    assert min(days) == pd.Timestamp("2024-03-21") and max(days) == pd.Timestamp("2024-04-09")


def test_forecasting_with_differencing_follows_a_trend() -> None:
    months = pd.date_range("2015-01-01", periods=60, freq="MS")
    steps = np.arange(len(months))
    df = pd.DataFrame(
        {"month": months.strftime("%Y-%m-%d"), "load": 100 + 2 * steps + 5 * np.sin(steps)}
    )
    data = Dataset(df, "load", ["month"])
    settings = {"horizon": 3, "lags": [1, 2, 3], "windows": 3, "min_child_samples": 3}
    level, _ = run("forecasting", "lightgbm", data=data, parameters=settings)
    change, _ = run(
        "forecasting", "lightgbm", data=data, parameters=settings | {"differencing": True}
    )
    assert change.metrics["r2"] > 0.9 > level.metrics["r2"]
    assert change.signature["frequency"] == "MS"
    trained_on = df["load"].iloc[: change.details["rows"]["train"]]
    assert change.model.predict([{}]).min() > trained_on.max()  # beyond the levels learnt


def test_recommendation_gives_top_k_unseen_items() -> None:
    outcome, _ = run("recommendation", "matrix_factorization")
    model, data = outcome.model, dataset("recommendation")
    top = model.predict([{"user": "u0"}, {"user": "stranger"}])
    assert top.shape == (2, 5)
    ranked = model.recommend([{"user": "u0"}])[0]
    assert [entry["item"] for entry in ranked] == list(top[0])
    assert [e["score"] for e in ranked] == sorted((e["score"] for e in ranked), reverse=True)
    assert len(set(top[0])) == 5 and set(top[0]) <= set(data.frame["item"])
    assert outcome.signature["user_column"] == "user" and outcome.signature["k"] == 5
    assert outcome.signature["item_column"] == "item"


def test_recommender_never_recommends_what_the_user_had() -> None:
    frame = dataset("recommendation").frame
    model = ALSRecommender(factors=8, k=5, random_state=0).fit(frame[["user", "item"]])
    for user in ("u0", "u1", "u2"):
        had = set(frame.loc[frame["user"] == user, "item"])
        ranked = [entry["item"] for entry in model.recommend([{"user": user}])[0]]
        assert len(ranked) == 5 and not set(ranked) & had
        group = int(user[1:]) % 4
        rest_of_group = {f"item{i}" for i in range(group * 10, group * 10 + 10)} - had
        assert set(ranked[:3]) == rest_of_group  # 7 of the group's 10 items were had


# -- data that cannot train ---------------------------------------------------------------------


def _frame(**columns: Any) -> pd.DataFrame:
    return pd.DataFrame(columns)


CASES = {
    "one class": (
        "classification",
        _frame(x=np.arange(20.0), y=pd.Series(["a"] * 20, dtype="str")),
        "y",
        ["x"],
        "the target 'y' has one class only: 'a'",
    ),
    "empty column": (
        "classification",
        _frame(x=np.full(20, np.nan), z=np.arange(20.0), y=["a", "b"] * 10),
        "y",
        ["x", "z"],
        "column 'x' is empty in every row",
    ),
    "no target": (
        "regression",
        _frame(x=np.arange(20.0)),
        "y",
        ["x"],
        "no column 'y' in the dataset",
    ),
    "too few rows": (
        "regression",
        _frame(x=np.arange(6.0), y=np.arange(6.0)),
        "y",
        ["x"],
        "only 6 rows can be used",
    ),
    "target empty": (
        "regression",
        _frame(x=np.arange(20.0), y=np.full(20, np.nan)),
        "y",
        ["x"],
        "the target 'y' has no value in any row",
    ),
    "no time": (
        "forecasting",
        _frame(x=np.arange(20.0), y=np.arange(20.0)),
        "y",
        ["x"],
        "forecasting needs a datetime feature",
    ),
    "no item": (
        "recommendation",
        _frame(user=pd.Series([f"u{i}" for i in range(20)], dtype="str")),
        None,
        ["user"],
        "recommendation needs a user column and an item column",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_unusable_data_is_refused_with_the_reason(case: str) -> None:
    task, frame, target, features, message = CASES[case]
    columns = {
        name: "numeric" if pd.api.types.is_numeric_dtype(frame[name]) else "categorical"
        for name in frame.columns
    }
    run_spec = RunSpec(
        task_type=task,
        dataset_id=uuid.uuid4(),
        dataset_key="k",
        columns=columns,
        target=target,
        features=features,
        algorithm=ALGORITHMS[task][0],
    )
    with pytest.raises(UnusableData) as caught:
        train(run_spec, frame)
    assert str(caught.value).startswith(message)
