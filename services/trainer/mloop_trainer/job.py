"""The work of one run, executed inside a sandboxed child process (see `adapters.sandbox`).

It reads the dataset version from the artifact store, trains and evaluates, and writes the
fitted pipeline back to the store; the parent records the result. Data that cannot train ends
the run with `JobFailed` and a precise reason.
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


def model_key(scenario_id: str, model_id: str) -> str:
    return f"scenarios/{scenario_id}/models/{model_id}/model.joblib"


def execute(job: dict[str, Any], emit: Any) -> dict[str, Any]:
    spec = RunSpec.model_validate(job["spec"])
    store = create_artifact_store(
        Settings(artifact_url=job["artifact_url"], s3_endpoint_url=job.get("s3_endpoint_url"))
    )
    emit.progress(0.02, "reading data")
    wanted = [c for c in (*spec.features, spec.target) if c is not None]
    try:
        with store.open(spec.dataset_key) as stream:
            frame = read_frame(
                stream,
                encoding=spec.encoding,
                delimiter=spec.delimiter,
                columns=wanted,
                types={name: spec.columns[name] for name in wanted if name in spec.columns},
            )
    except ValueError as error:  # a column the spec names is not in the file
        raise JobFailed(str(error)) from None
    except CsvRejected as error:
        raise JobFailed(f"the dataset cannot be read: {error}") from None
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
    }
