"""A batch job's blocking work on a real trained model: the CSV in, chunk by chunk, gives the
outputs the online path gives the same rows as JSON records, and unusable input fails with the
reason. No broker, no database: the input is bytes in memory, the output a temporary file."""

from __future__ import annotations

import contextlib
import io
import math
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mloop_common.messages.commands import Evaluation, RunSpec
from mloop_common.ml.algorithms import validate_parameters
from mloop_common.ml.training import train
from mloop_common.tabular import inspect_csv
from mloop_common.tabular.frame import read_frame
from mloop_predictor.batches.context import ScorerCache
from mloop_predictor.batches.frames import BadInput
from mloop_predictor.batches.runner import BatchRun, Stopped
from mloop_predictor.scoring import Scorer

RNG = np.random.default_rng(5)


def mixed(n: int = 300) -> pd.DataFrame:
    """Numbers with gaps, a category with a comma in one value, a flag and a date."""
    df = pd.DataFrame(RNG.normal(size=(n, 2)), columns=["a", "b"]).round(4)
    df.loc[::11, "b"] = np.nan
    df["shop"] = RNG.choice(["north", "south", "east, old"], n)
    df["member"] = RNG.choice(["yes", "no"], n)
    df["day"] = pd.date_range("2024-01-01", periods=n, freq="5h").strftime("%Y-%m-%d %H:%M")
    score = df["a"] + (df["shop"] == "north") * 1.2 + (df["member"] == "yes") - df["b"].fillna(0)
    df["y"] = np.where(score > 0.4, "high", "low")
    df.loc[::4, "y"] = "mid"
    return df


def scorer_for(task: str, df: pd.DataFrame, target: str, algorithm: str) -> Scorer:
    data = df.to_csv(index=False).encode()
    report = inspect_csv(io.BytesIO(data))
    frame = read_frame(io.BytesIO(data), encoding=report.encoding, delimiter=report.delimiter)
    spec = RunSpec(
        task_type=task,
        dataset_id=uuid.uuid4(),
        dataset_key="x.csv",
        columns={c.name: c.type for c in report.columns},
        target=target,
        features=[c for c in df.columns if c != target],
        algorithm=algorithm,
        parameters=validate_parameters(task, algorithm, {}),
        evaluation=Evaluation(),
    )
    outcome = train(spec, frame, n_jobs=1)
    scorer = Scorer(
        model_id=uuid.uuid4(), task_type=task, signature=outcome.signature, model=outcome.model
    )
    scorer.try_fast_path(outcome.sample)
    return scorer


@pytest.fixture(scope="module")
def classifier() -> tuple[Scorer, pd.DataFrame]:
    df = mixed()
    return scorer_for("classification", df, "y", "lightgbm"), df


def run(
    scorer: Scorer,
    data: bytes,
    tmp_path: Path,
    *,
    chunk_rows: int = 64,
    encoding: str = "utf-8",
    delimiter: str = ",",
    stop: threading.Event | None = None,
) -> tuple[int, pd.DataFrame, list[tuple[int, float]]]:
    reports: list[tuple[int, float]] = []
    output = tmp_path / "out.csv"
    rows = BatchRun(
        open_input=lambda: contextlib.nullcontext(io.BytesIO(data)),
        size=len(data),
        encoding=encoding,
        delimiter=delimiter,
        scorer=scorer,
        chunk_rows=chunk_rows,
        output=output,
        report=lambda done, share: reports.append((done, share)),
        stop=stop or threading.Event(),
    ).run()
    return rows, pd.read_csv(output, dtype=str, keep_default_na=False), reports


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in df.astype(object).to_dict(orient="records")
    ]


def test_batch_output_equals_online_predictions_row_for_row(
    classifier: tuple[Scorer, pd.DataFrame], tmp_path: Path
) -> None:
    scorer, df = classifier
    inputs = df.drop(columns=["y"])
    rows, got, reports = run(scorer, inputs.to_csv(index=False).encode(), tmp_path)

    assert rows == len(df) == len(got)
    assert [done for done, _ in reports] == [64, 128, 192, 256, 300]
    assert all(0 < share <= 0.99 for _, share in reports)
    expected = [*inputs.columns, "prediction", *(f"probability_{k}" for k in scorer.label_keys)]
    assert list(got.columns) == expected
    assert got["shop"].tolist() == inputs["shop"].tolist()  # "east, old" came back whole
    assert got["b"].tolist()[0] == ""  # missing stays missing

    answered = scorer.predict(records(inputs))
    assert got["prediction"].tolist() == [str(a["prediction"]) for a in answered]
    for key in scorer.label_keys:
        batch = got[f"probability_{key}"].astype(float).to_numpy()
        online = np.array([a["probabilities"][key] for a in answered])
        np.testing.assert_allclose(batch, online, rtol=1e-7, atol=1e-9)


def test_other_encodings_delimiters_and_extra_columns_are_read(
    classifier: tuple[Scorer, pd.DataFrame], tmp_path: Path
) -> None:
    scorer, df = classifier
    inputs = df.drop(columns=["y"]).head(50).copy()
    inputs["shop"] = inputs["shop"].str.replace("north", "nörth")
    inputs.insert(0, "ticket", [f"t{i}" for i in range(50)])
    data = inputs.to_csv(index=False, sep=";").encode("latin-1")

    rows, got, _ = run(scorer, data, tmp_path, encoding="latin-1", delimiter=";")

    assert rows == 50 and got["ticket"].tolist()[:2] == ["t0", "t1"]
    assert "nörth" in set(got["shop"])
    answered = scorer.predict(records(inputs.drop(columns=["ticket"])))
    assert got["prediction"].tolist() == [str(a["prediction"]) for a in answered]


def test_a_regression_model_scores_in_batch_as_online(tmp_path: Path) -> None:
    df = mixed().drop(columns=["y"])
    df["target"] = (df["a"] * 3 + RNG.normal(size=len(df))).round(3)
    scorer = scorer_for("regression", df, "target", "random_forest")
    inputs = df.drop(columns=["target"])

    _, got, _ = run(scorer, inputs.to_csv(index=False).encode(), tmp_path, chunk_rows=1000)

    online = [a["prediction"] for a in scorer.predict(records(inputs))]
    np.testing.assert_allclose(got["prediction"].astype(float), online, rtol=1e-12)


def test_unusable_input_fails_with_the_reason(
    classifier: tuple[Scorer, pd.DataFrame], tmp_path: Path
) -> None:
    scorer, df = classifier
    inputs = df.drop(columns=["y"]).head(100)

    with pytest.raises(BadInput, match=r"no column 'member', 'day'; model .* reads 'a'"):
        run(scorer, inputs.drop(columns=["member", "day"]).to_csv(index=False).encode(), tmp_path)

    wrong = inputs.astype(object)
    wrong.loc[70, "a"] = "seven"
    with pytest.raises(BadInput, match=r"column 'a': 1 value\(s\) not a number \(data row 71: "):
        run(scorer, wrong.to_csv(index=False).encode(), tmp_path)

    with pytest.raises(BadInput, match="no data rows"):
        run(scorer, b"a,b,shop,member,day\n", tmp_path)

    with pytest.raises(BadInput, match="not valid utf-8"):
        run(scorer, "a,b,shop,member,day\n1,2,ñ,yes,2024-01-01\n".encode("latin-1"), tmp_path)


def test_a_stopping_service_stops_the_job_between_chunks(
    classifier: tuple[Scorer, pd.DataFrame], tmp_path: Path
) -> None:
    scorer, df = classifier
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        run(scorer, df.drop(columns=["y"]).to_csv(index=False).encode(), tmp_path, stop=stop)


async def test_the_scorer_cache_keeps_the_last_two_models() -> None:
    loaded: list[uuid.UUID] = []

    async def load(db: Any, store: Any, model_id: uuid.UUID) -> str:
        loaded.append(model_id)
        return f"scorer {model_id}"

    cache = ScorerCache(load, size=2)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for model_id in (a, b, a, c, a, b):
        assert await cache.get(None, None, model_id) == f"scorer {model_id}"  # type: ignore[arg-type]
    assert loaded == [a, b, c, b]  # a stayed (used last), b was dropped for c
