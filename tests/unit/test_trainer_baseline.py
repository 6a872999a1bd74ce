"""The champion scored on a candidate's holdout (the trainer's `baseline`): the same rows and
the same metric code as the candidate's own evaluation, with the champion's own input columns;
a tampered artifact or missing columns give no baseline, with the reason."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from mloop_common.messages.commands import RunSpec
from mloop_common.ml.training import train
from mloop_common.storage import LocalArtifactStore
from mloop_common.tabular import inspect_csv
from mloop_common.tabular.frame import read_frame
from mloop_trainer.baseline import NoBaseline, score_champion, wanted_columns


def _frame(seed: int) -> tuple[pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    df["c"] = rng.choice(["x", "y"], 300)
    df["label"] = np.where(df["a"] + 0.5 * df["b"] > 0, "yes", "no")
    data = df.to_csv(index=False).encode()
    report = inspect_csv(io.BytesIO(data))
    frame = read_frame(io.BytesIO(data), encoding=report.encoding, delimiter=report.delimiter)
    return frame, {column.name: column.type for column in report.columns}


def _spec(columns: dict[str, str], features: list[str]) -> RunSpec:
    return RunSpec(
        task_type="classification",
        dataset_id=uuid.uuid4(),
        dataset_key="d.csv",
        columns=columns,
        target="label",
        features=features,
        algorithm="logistic_regression",
    )


def _champion(store: LocalArtifactStore, outcome, *, tamper: bool = False) -> dict:
    buffer = io.BytesIO()
    joblib.dump(outcome.model, buffer)
    stored = store.write("champion.joblib", [buffer.getvalue()])
    return {
        "model_id": str(uuid.uuid4()),
        "task_type": "classification",
        "signature": outcome.signature,
        "artifact_key": stored.key,
        "sha256": "0" * 64 if tamper else stored.sha256,
    }


def test_the_candidate_scored_as_champion_gives_its_own_holdout_metrics(tmp_path: Path) -> None:
    frame, columns = _frame(1)
    spec = _spec(columns, ["a", "b"])
    outcome = train(spec, frame)
    store = LocalArtifactStore(tmp_path)
    metrics = score_champion(spec, frame, _champion(store, outcome), store)
    for name in ("accuracy", "f1_weighted", "log_loss"):
        assert metrics[name] == pytest.approx(outcome.metrics[name])


def test_a_champion_with_other_columns_reads_them_and_scores_on_the_same_rows(
    tmp_path: Path,
) -> None:
    frame, columns = _frame(2)
    old = train(_spec(columns, ["b", "c"]), frame)  # a weaker champion: it lacks column a
    spec = _spec(columns, ["a", "b"])
    store = LocalArtifactStore(tmp_path)
    champion = _champion(store, old)
    assert wanted_columns(spec, champion) == ["c"]
    metrics = score_champion(spec, frame, champion, store)
    candidate = train(spec, frame)
    assert metrics["accuracy"] < candidate.metrics["accuracy"]
    with pytest.raises(NoBaseline, match="not in this run's data"):
        score_champion(spec, frame.drop(columns=["c"]), champion, store)


def test_a_tampered_or_foreign_champion_gives_no_baseline(tmp_path: Path) -> None:
    frame, columns = _frame(3)
    spec = _spec(columns, ["a", "b"])
    outcome = train(spec, frame)
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(NoBaseline, match="sha256"):
        score_champion(spec, frame, _champion(store, outcome, tamper=True), store)
    foreign = _champion(store, outcome) | {"task_type": "regression"}
    with pytest.raises(NoBaseline, match="regression"):
        score_champion(spec, frame, foreign, store)
