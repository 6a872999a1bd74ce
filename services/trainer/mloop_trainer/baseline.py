"""The champion scored on a run's holdout: the baseline a deployment policy compares with.

Runs inside the run's child process, after the model is trained. The candidate's holdout rows
are found again exactly as `train` found them (the same preparation and the same seeded split of
the same frame), the champion's artifact is read from the store and refused unless its sha256 is
the registry's, and the champion is evaluated on those rows by the same code that evaluated the
candidate (`TabularProblem.evaluate`), with its own input columns. So both models' metrics come
from the same rows and the same formulas.

Only tabular tasks (classification, text classification, regression, anomaly detection) are
scored: a forecaster's artifact carries its whole history (the candidate's holdout times may be
in it) and a recommender's holdout is per user interactions; for those the policy falls back to
the champion's own holdout metrics. Any failure gives no baseline, with the reason in the run's
log; it never fails the run.
"""

from __future__ import annotations

import copy
import hashlib
import io
from typing import Any

import joblib
import pandas as pd
from mloop_common.messages.commands import RunSpec
from mloop_common.ml.data import prepare
from mloop_common.ml.problems import TabularProblem
from mloop_common.storage import ArtifactStore

TABULAR = frozenset({"classification", "text_classification", "regression", "anomaly_detection"})


class NoBaseline(Exception):
    """The champion cannot be scored on this holdout; the message says why."""


def wanted_columns(spec: RunSpec, champion: dict[str, Any] | None) -> list[str]:
    """The champion's input columns the run must read beyond its own (those in the dataset)."""
    if not champion or spec.task_type not in TABULAR:
        return []
    own = {*spec.features, spec.target}
    return [name for name in input_columns(champion) if name not in own and name in spec.columns]


def input_columns(champion: dict[str, Any]) -> list[str]:
    return [c["name"] for c in (champion.get("signature") or {}).get("columns", []) if "name" in c]


def read_verified(store: ArtifactStore, key: str, sha256: str) -> bytes:
    """The artifact's bytes, refused unless their sha256 is `sha256`."""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    for chunk in store.iter_chunks(key):
        digest.update(chunk)
        buffer.write(chunk)
    if digest.hexdigest() != sha256:
        raise NoBaseline(
            f"its artifact's sha256 {digest.hexdigest()} differs from the registry's {sha256}"
        )
    return buffer.getvalue()


def score_champion(
    spec: RunSpec, frame: pd.DataFrame, champion: dict[str, Any], store: ArtifactStore
) -> dict[str, float]:
    """The champion's metrics on the run's holdout rows; `NoBaseline` saying why not."""
    if spec.task_type not in TABULAR:
        raise NoBaseline(f"a {spec.task_type} holdout cannot score another model")
    if champion.get("task_type") != spec.task_type:
        raise NoBaseline(f"it is a {champion.get('task_type')} model, this run {spec.task_type}")
    columns = input_columns(champion)
    missing = [name for name in columns if name not in frame.columns]
    if not columns or missing:
        raise NoBaseline(f"its input columns {missing or columns} are not in this run's data")
    problem = TabularProblem(spec.task_type, prepare(spec, frame, lambda _: None))
    _, test_rows = problem.split(problem.rows, spec.evaluation.holdout, spec.evaluation.seed)
    try:
        model = joblib.load(
            io.BytesIO(read_verified(store, champion["artifact_key"], champion["sha256"]))
        )
    except NoBaseline:
        raise
    except Exception as error:  # a missing file or a corrupt pickle raises anything
        raise NoBaseline(f"its artifact cannot be loaded: {error}") from error
    kinds = {c["name"]: c.get("type", "numeric") for c in champion["signature"]["columns"]}
    view = copy.copy(problem)  # the same rows and target, the champion's own input columns
    view.features = {name: kinds[name] for name in columns}
    return dict(view.evaluate(model, test_rows).metrics)
