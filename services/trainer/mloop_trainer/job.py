"""The work of one run, executed inside a sandboxed child process (see `adapters.sandbox`).

It reads the dataset version from the artifact store, trains and evaluates, and writes the
fitted pipeline back to the store; the parent records the result. Data that cannot train ends
the run with `JobFailed` and a precise reason. When the job names the scenario's champion, the
champion is scored on the run's holdout too (`baseline`), for the deployment policy.
"""

from __future__ import annotations

import io
from typing import Any

import joblib
from mloop_common.messages.commands import RunSpec
from mloop_common.ml.parameters import InvalidParameters
from mloop_common.ml.training import UnusableData, train
from mloop_common.settings import Settings
from mloop_common.storage import create_artifact_store
from mloop_common.tabular import CsvRejected
from mloop_common.tabular.frame import read_frame

from mloop_trainer.adapters.child import JobFailed
from mloop_trainer.baseline import NoBaseline, score_champion, wanted_columns


def model_key(scenario_id: str, model_id: str) -> str:
    return f"scenarios/{scenario_id}/models/{model_id}/model.joblib"


def execute(job: dict[str, Any], emit: Any) -> dict[str, Any]:
    spec = RunSpec.model_validate(job["spec"])
    store = create_artifact_store(
        Settings(artifact_url=job["artifact_url"], s3_endpoint_url=job.get("s3_endpoint_url"))
    )
    emit.progress(0.02, "reading data")
    champion = job.get("champion")
    own = [c for c in (*spec.features, spec.target) if c is not None]
    extra = wanted_columns(spec, champion)
    try:
        frame = _read(store, spec, own + extra)
    except (ValueError, CsvRejected) as error:
        if not extra:
            raise JobFailed(_unreadable(error)) from None
        emit.log(f"the champion's other input columns {extra} cannot be read: {error}")
        try:
            frame = _read(store, spec, own)
        except (ValueError, CsvRejected) as again:
            raise JobFailed(_unreadable(again)) from None
    emit.log(f"read {len(frame)} rows x {frame.shape[1]} columns of {spec.dataset_key}")
    try:
        outcome = train(
            spec,
            frame,
            n_jobs=emit.cores,
            progress=lambda share, message: emit.progress(0.05 + 0.85 * share, message),
            log=emit.log,
        )
    except (UnusableData, InvalidParameters) as error:
        raise JobFailed(str(error)) from None
    emit.progress(0.92, "saving the model")
    buffer = io.BytesIO()
    joblib.dump(outcome.model, buffer)
    payload = buffer.getvalue()
    stored = store.write(model_key(job["scenario_id"], job["model_id"]), [payload])
    emit.log(f"stored the model: {stored.size} bytes, sha256 {stored.sha256}")
    baseline = None
    if champion:
        emit.progress(0.96, "scoring the champion on the holdout")
        baseline = _baseline(spec, frame, champion, store, emit)
    return {
        "algorithm": outcome.algorithm,
        "parameters": outcome.parameters,
        "metrics": outcome.metrics,
        "details": outcome.details,
        "feature_importances": outcome.feature_importances,
        "signature": outcome.signature,
        "reference": outcome.reference,
        "trials": outcome.trials,
        "library_versions": outcome.library_versions,
        "sample": outcome.sample,
        "artifact": {"key": stored.key, "sha256": stored.sha256, "size": stored.size},
        "baseline": baseline,
    }


def _read(store: Any, spec: RunSpec, columns: list[str]) -> Any:
    with store.open(spec.dataset_key) as stream:
        return read_frame(
            stream,
            encoding=spec.encoding,
            delimiter=spec.delimiter,
            columns=columns,
            types={name: spec.columns[name] for name in columns if name in spec.columns},
        )


def _unreadable(error: Exception) -> str:
    if isinstance(error, CsvRejected):
        return f"the dataset cannot be read: {error}"
    return str(error)  # a column the spec names is not in the file


def _baseline(
    spec: RunSpec, frame: Any, champion: dict[str, Any], store: Any, emit: Any
) -> dict[str, Any] | None:
    """The champion's metrics on this run's holdout, or None (logged): never fails the run."""
    model_id = champion.get("model_id")
    try:
        metrics = score_champion(spec, frame, champion, store)
    except NoBaseline as reason:
        emit.log(f"baseline: the champion {model_id} is not scored on this holdout: {reason}")
        return None
    except Exception as error:
        emit.log(
            f"baseline: scoring the champion {model_id} on this holdout failed: "
            f"{type(error).__name__}: {error}"
        )
        return None
    shown = ", ".join(f"{name}={value:.4g}" for name, value in metrics.items())
    emit.log(f"baseline: the champion {model_id} on this holdout: {shown}")
    return {"model_id": model_id, "metrics": metrics}
