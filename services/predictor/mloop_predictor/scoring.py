"""A model made ready to answer: its signature checks, its task's output shape, its fast path.

`load_scorer` reads a model's registry row (with the deferred `sample`), streams its artifact
from the store while hashing it, refuses it (`ArtifactRejected`) when the sha256 differs from
the row or the file cannot be read, unpickles it and builds a `Scorer`, all off the event loop.

Outputs per task (`Scorer.predict`, one dict per record):

| task | `prediction` | also |
|---|---|---|
| classification, text_classification | the most probable label | `probabilities` {label: p} |
| regression | number | |
| anomaly_detection | true when anomalous | `score` in (0, 1], higher is more anomalous |
| forecasting | the next H values (null where none can be made) | `times` (ISO) |
| recommendation | top-k items, best first | `scores` |

`predict_frame` (batch) gives the same values as columns: `prediction`, `probability_<label>`
per label, `score`, or per-row lists for `times`/`scores` (forecasting, recommendation).

Fast path: a LightGBM pipeline is compiled (`fastpath`) and the compiled path is used only when,
on the model's sample rows, it reproduces the pipeline's labels exactly and its probabilities
or values within 1e-9 (relative 1e-7), both record by record (online) and as a frame (batch);
otherwise the pipeline serves and `fast_path` says why.

Validation (`validate`): the signature rules of `signature`, and per task:
- forecasting: the series columns (if any) are required and must name a series with a history,
  unless the record carries its own `history` ([{<time column>: ..., <target>: number}, ...]);
  the time column is optional (absent or null: forecast from the end of the known history);
- recommendation: only the user column is required; an unknown user is not an error (the most
  popular items are recommended); `k` is 1..1000.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import math
import time
import uuid
from typing import Any

import joblib
import numpy as np
import pandas as pd
from mloop_common.db.engine import Database
from mloop_common.db.training import ModelVersion
from mloop_common.ml.data import jsonable
from mloop_common.storage import ArtifactNotFound, ArtifactStore
from sqlalchemy import select
from sqlalchemy.orm import undefer

from mloop_predictor.fastpath import LightGBMFastPath, NotCompilable
from mloop_predictor.signature import check_datetime, check_numeric, check_records, error

log = logging.getLogger(__name__)

MAX_K = 1000
_CLASSIFIERS = ("classification", "text_classification")


class ArtifactRejected(Exception):
    """The model cannot be served: its artifact's sha256 differs from the registry, the artifact
    is missing or unreadable, or the model is not in the registry."""


def _float(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value


class Scorer:
    """One loaded model: check records, predict records (online) or frames (batch)."""

    def __init__(
        self,
        *,
        model_id: uuid.UUID,
        task_type: str,
        signature: dict[str, Any],
        model: Any,
        algorithm: str = "",
        sha256: str = "",
    ) -> None:
        self.model_id = model_id
        self.task_type = task_type
        self.signature = signature
        self.model = model
        self.algorithm = algorithm
        self.sha256 = sha256
        self.columns = [(c["name"], c["type"]) for c in signature.get("columns", [])]
        self.required: frozenset[str] | None = None
        if task_type == "recommendation":
            self.required = frozenset({signature.get("user_column") or self.columns[0][0]})
        elif task_type == "forecasting":
            self.required = frozenset(signature.get("series_columns", []))
        target = signature.get("target") or {}
        self.target_name = target.get("name")
        labels = target.get("labels")
        if task_type in _CLASSIFIERS:
            classes = getattr(model, "classes_", None)
            labels = jsonable(list(classes)) if classes is not None else labels
        self.labels: list[Any] = list(labels or [])
        self.label_keys = [str(label) for label in self.labels]
        self.fast: LightGBMFastPath | None = None
        self.fast_path = "not tried"
        self.loaded_at = time.time()

    # -- validation --------------------------------------------------------------------------

    def validate(self, records: list) -> list[dict[str, Any]]:
        """[{"record": i, "field": name | None, "message": str}], [] when every record is fine."""
        errors = check_records(records, self.columns, required=self.required)
        if self.task_type == "forecasting" and not errors:
            errors = self._check_forecasts(records)
        return errors

    def check_k(self, k: Any) -> str | None:
        """Why `k` cannot be used, or None."""
        if k is None:
            return None
        if self.task_type != "recommendation":
            return "k applies to recommendation models only"
        if type(k) is not int or not 1 <= k <= MAX_K:
            return f"k must be an integer from 1 to {MAX_K}"
        return None

    def _check_forecasts(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        model = self.model
        time_column = model.time_column
        errors: list[dict[str, Any]] = []
        for position, record in enumerate(records):
            history = record.get("history")
            if history is not None:
                errors += self._check_history(position, history, time_column)
                continue
            try:
                key, origin = model._requests(pd.DataFrame([record]))[0]
            except (ValueError, TypeError) as err:
                errors.append(error(position, time_column, str(err)))
                continue
            series = model.history_.get(key)
            if series is None or series.dropna().empty:
                field = model.series_columns[0] if model.series_columns else None
                errors.append(error(position, field, "no known history for this series"))
                continue
            try:
                model._start(key, origin)
            except ValueError as err:
                errors.append(error(position, time_column, str(err)))
        return errors

    def _check_history(self, position: int, history: Any, time_column: str) -> list[dict]:
        field = "history"
        if not isinstance(history, list) or not history:
            return [error(position, field, "history must be a non-empty array of observations")]
        for entry in history:
            if not isinstance(entry, dict):
                return [error(position, field, "each observation must be an object")]
            if check_datetime(entry.get(time_column)) or entry.get(time_column) is None:
                return [error(position, field, f"each observation needs a time in {time_column!r}")]
            value = entry.get(self.target_name)
            if value is None or check_numeric(value):
                return [
                    error(
                        position, field, f"each observation needs a number in {self.target_name!r}"
                    )
                ]
        return []

    # -- online --------------------------------------------------------------------------------

    def predict(self, records: list[dict[str, Any]], *, k: int | None = None) -> list[dict]:
        """One output per record (see the module docstring); records must have passed
        `validate` (values it would refuse are treated as missing)."""
        task = self.task_type
        if task in _CLASSIFIERS:
            return self._classify(records)
        if task == "regression":
            values = self._raw(records)[:, 0] if self.fast else self.model.predict(records)
            return [{"prediction": _float(v)} for v in np.asarray(values, float).tolist()]
        if task == "anomaly_detection":
            flags, scores = self._anomalies(records)
            return [
                {"prediction": flag, "score": _float(score)}
                for flag, score in zip(flags.tolist(), scores.tolist(), strict=True)
            ]
        if task == "forecasting":
            return self._forecast(records)
        if task == "recommendation":
            ranked = self.model.recommend(records, k)
            return [
                {
                    "prediction": [jsonable(entry["item"]) for entry in entries],
                    "scores": [entry["score"] for entry in entries],
                }
                for entries in ranked
            ]
        raise ValueError(f"unknown task {task!r}")

    def _raw(self, records: list[dict[str, Any]]) -> np.ndarray:
        assert self.fast is not None
        return self.fast.raw_records(records)

    def _classify(self, records: list[dict[str, Any]]) -> list[dict]:
        labels, keys = self.labels, self.label_keys
        if self.fast is not None and self.fast.outputs == 1:
            out = []
            for (positive,) in self.fast.raw_records(records).tolist():
                negative = 1.0 - positive
                out.append(
                    {
                        "prediction": labels[1] if positive > negative else labels[0],
                        "probabilities": {keys[0]: negative, keys[1]: positive},
                    }
                )
            return out
        proba = self.fast.raw_records(records) if self.fast else self.model.predict_proba(records)
        best = np.argmax(proba, axis=1).tolist()
        return [
            {"prediction": labels[i], "probabilities": dict(zip(keys, row, strict=True))}
            for i, row in zip(best, np.asarray(proba, float).tolist(), strict=True)
        ]

    def _anomalies(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Flags exactly as the detector's `predict` (decision < 0) and scores as
        `pipelines.anomaly_score`, from one `score_samples` call."""
        samples = np.asarray(self.model.score_samples(X), dtype=float)
        offset = float(self.model.named_steps["model"].offset_)
        return (samples - offset) < 0, -samples

    def _forecast(self, records: list[dict[str, Any]]) -> list[dict]:
        model = self.model
        out: list[dict | None] = [None] * len(records)
        plain = [i for i, record in enumerate(records) if record.get("history") is None]
        if plain:
            frame = pd.DataFrame([records[i] for i in plain])
            for i, values, times in zip(
                plain, model.predict(frame), model.forecast_times(frame), strict=True
            ):
                out[i] = _forecast_output(values, times)
        for i, record in enumerate(records):
            if out[i] is None:
                extended = self._with_history(record)
                frame = pd.DataFrame([record])
                out[i] = _forecast_output(
                    extended.predict(frame)[0], extended.forecast_times(frame)[0]
                )
        return out  # type: ignore[return-value]

    def _with_history(self, record: dict[str, Any]) -> Any:
        model = self.model
        rows = [
            {**{name: record.get(name) for name in model.series_columns}, **entry}
            for entry in record["history"]
        ]
        frame = pd.DataFrame(rows)
        values = [float(entry[self.target_name]) for entry in record["history"]]
        return model.with_history(frame, values)

    # -- batch ---------------------------------------------------------------------------------

    def predict_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray | list]:
        """Output columns for `frame`'s rows, the same values `predict` gives their records."""
        task = self.task_type
        if task in _CLASSIFIERS:
            proba = self._frame_proba(frame)
            best = np.argmax(proba, axis=1)
            columns: dict[str, np.ndarray | list] = {
                "prediction": np.asarray(self.labels, dtype=object)[best]
            }
            for position, key in enumerate(self.label_keys):
                columns[f"probability_{key}"] = proba[:, position]
            return columns
        if task == "regression":
            if self.fast is not None:
                return {"prediction": self.fast.raw_frame(frame)[:, 0]}
            return {"prediction": np.asarray(self.model.predict(frame), dtype=float)}
        if task == "anomaly_detection":
            flags, scores = self._anomalies(frame)
            return {"prediction": flags, "score": scores}
        if task == "forecasting":
            outputs = self._forecast(frame.astype(object).to_dict(orient="records"))
            return {
                "prediction": [o["prediction"] for o in outputs],
                "times": [o["times"] for o in outputs],
            }
        if task == "recommendation":
            outputs = self.predict(frame.astype(object).to_dict(orient="records"))
            return {
                "prediction": [o["prediction"] for o in outputs],
                "scores": [o["scores"] for o in outputs],
            }
        raise ValueError(f"unknown task {task!r}")

    def _frame_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.fast is None:
            return np.asarray(self.model.predict_proba(frame), dtype=float)
        raw = self.fast.raw_frame(frame)
        if self.fast.outputs == 1:
            return np.column_stack([1.0 - raw[:, 0], raw[:, 0]])
        return raw

    # -- fast path ------------------------------------------------------------------------------

    def try_fast_path(self, sample: list[dict[str, Any]] | None) -> None:
        """Compile the model and keep the compiled path only if it reproduces the pipeline on
        `sample` (see the module docstring); `fast_path` records the outcome."""
        if self.task_type not in (*_CLASSIFIERS, "regression"):
            self.fast_path = f"none for {self.task_type}"
            return
        try:
            fast = LightGBMFastPath(self.model)
        except NotCompilable as err:
            self.fast_path = f"pipeline serves: {err}"
            return
        usable = [record for record in sample or [] if not check_records([record], self.columns)]
        if not usable:
            self.fast_path = "pipeline serves: no sample rows to verify the compiled path on"
            return
        reason = self._differs(fast, usable)
        if reason:
            self.fast_path = f"pipeline serves: the compiled path {reason} on the sample rows"
            log.warning("model %s: %s", self.model_id, self.fast_path)
            return
        self.fast = fast
        self.fast_path = f"lightgbm booster (verified on {len(usable)} sample rows)"

    def _differs(self, fast: LightGBMFastPath, sample: list[dict[str, Any]]) -> str | None:
        frame = pd.DataFrame(sample)
        single = fast.raw_records(sample)
        batch = fast.raw_frame(frame)
        if self.task_type == "regression":
            expected = np.asarray(self.model.predict(sample), dtype=float)[:, None]
        else:
            expected = np.asarray(self.model.predict_proba(sample), dtype=float)
            if fast.outputs == 1:
                expected = expected[:, 1:]
            labels = self.model.predict(sample)
            pipeline_labels = [str(label) for label in jsonable(list(labels))]
            for raw in (single, batch):
                proba = raw if fast.outputs > 1 else np.column_stack([1 - raw[:, 0], raw[:, 0]])
                mine = [self.label_keys[i] for i in np.argmax(proba, axis=1)]
                if mine != pipeline_labels:
                    return "gives other labels"
        for raw, what in ((single, "record by record"), (batch, "as a frame")):
            if raw.shape != expected.shape or not np.allclose(
                raw, expected, rtol=1e-7, atol=1e-9, equal_nan=True
            ):
                return f"gives other values {what}"
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "model_id": str(self.model_id),
            "task_type": self.task_type,
            "algorithm": self.algorithm,
            "sha256": self.sha256,
            "fast_path": self.fast_path,
        }


def _forecast_output(values: np.ndarray, times: list[pd.Timestamp]) -> dict[str, Any]:
    return {
        "prediction": [_float(v) for v in np.asarray(values, dtype=float).tolist()],
        "times": [stamp.isoformat() for stamp in times],
    }


# -- loading ---------------------------------------------------------------------------------


def read_verified(store: ArtifactStore, key: str, sha256: str) -> bytes:
    """The artifact's bytes, refused unless their sha256 is `sha256`."""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    try:
        for chunk in store.iter_chunks(key):
            digest.update(chunk)
            buffer.write(chunk)
    except ArtifactNotFound as err:
        raise ArtifactRejected(f"the artifact {key!r} is missing") from err
    except OSError as err:
        raise ArtifactRejected(f"the artifact {key!r} cannot be read: {err}") from err
    if digest.hexdigest() != sha256:
        raise ArtifactRejected(
            f"the artifact's sha256 {digest.hexdigest()} differs from the registry's {sha256}"
        )
    return buffer.getvalue()


def build_scorer(row: ModelVersion, data: bytes) -> Scorer:
    """Unpickle a verified artifact and make its scorer (blocking: call it in a thread)."""
    try:
        model = joblib.load(io.BytesIO(data))
    except Exception as err:  # a corrupt pickle raises anything
        raise ArtifactRejected(f"the artifact cannot be loaded: {err}") from err
    scorer = Scorer(
        model_id=row.id,
        task_type=row.task_type,
        signature=row.signature or {},
        model=model,
        algorithm=row.algorithm,
        sha256=row.sha256,
    )
    scorer.try_fast_path(row.sample)
    return scorer


async def model_row(db: Database, model_id: uuid.UUID) -> ModelVersion:
    async with db.transaction() as session:
        row = await session.scalar(
            select(ModelVersion)
            .where(ModelVersion.id == model_id)
            .options(undefer(ModelVersion.sample))
        )
    if row is None:
        raise ArtifactRejected(f"model {model_id} is not in the registry")
    return row


async def load_scorer(db: Database, store: ArtifactStore, model_id: uuid.UUID) -> Scorer:
    """Read the registry row, fetch and check the artifact, build the scorer and its fast path.
    Raises `ArtifactRejected`; the blocking parts run in a thread."""
    row = await model_row(db, model_id)
    data = await asyncio.to_thread(read_verified, store, row.artifact_key, row.sha256)
    return await asyncio.to_thread(build_scorer, row, data)
