"""The floor for the training benchmark: the bare fit and score of the platform's pipeline.

`python -m bench.bare_training CSV --target label --cores 2` does, after its imports (so a warm
interpreter, like the trainer's preloaded child), exactly the model work of a platform run of a
tabular classification with `lightgbm` and default parameters, and nothing else:

1. read the CSV with `pandas.read_csv` (default options);
2. give each feature column its platform type from the pandas dtype, as `ml.data.column_type`
   does without a spec (bool -> boolean, numbers -> numeric, datetimes -> datetime, the rest
   categorical); the target's values as they are (0/1 read as int64, as the platform's
   `ml.data.labels` gives them);
3. split the rows with the platform's own `ml.evaluation.random_split` (holdout 0.2, seed 42,
   stratified on the target, the `Evaluation` defaults);
4. build the platform's pipeline with `ml.pipelines.build_model` (record coercion, ordinal
   encoding of categories, LightGBM with `ml.algorithms.with_defaults("classification",
   "lightgbm", {})`, `n_jobs=cores`, `random_state=42`) and fit it on the training rows, with
   the thread pools limited to `cores` as the trainer's child limits them;
5. predict labels and probabilities of the held-out rows and compute the platform's metrics with
   `ml.scoring.classification_metrics`.

It does not check the data (`ml.data.prepare`), build the input signature, the reference
profile, feature importances or the sample of records, serialize the model, write anything, or
talk to a database or a broker. It prints one JSON line: timings in seconds (`read`, `split`,
`fit`, `score`, `total`), the metrics, the column types it used and its peak resident memory.

With `--platform-steps` it then also times, in the same process, what the trainer's child does
for a run (`read_frame`, `ml.training.train` with its steps, `joblib.dump` and the artifact
write), under `platform_steps` in the JSON line. Those timings are not the floor: they show
where, inside the run's child, the platform's time goes.
"""

from __future__ import annotations

import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import joblib
import numpy as np
import pandas as pd
import typer
from mloop_common.messages.commands import RunSpec
from mloop_common.ml.algorithms import with_defaults
from mloop_common.ml.data import dtype_kind
from mloop_common.ml.evaluation import random_split
from mloop_common.ml.pipelines import build_model
from mloop_common.ml.scoring import classification_metrics
from mloop_common.ml.training import train
from mloop_common.settings import Settings
from mloop_common.storage import create_artifact_store
from mloop_common.tabular.frame import read_frame
from threadpoolctl import threadpool_limits

TASK = "classification"
ALGORITHM = "lightgbm"
HOLDOUT = 0.2
SEED = 42


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor(csv: Path, target: str, cores: int) -> dict[str, Any]:
    """The bare work, timed step by step."""
    started = time.perf_counter()
    frame = pd.read_csv(csv)
    read = time.perf_counter()
    features = {name: dtype_kind(frame[name]) for name in frame.columns if name != target}
    y = frame[target].to_numpy()
    train_rows, test_rows = random_split(np.arange(len(frame)), HOLDOUT, SEED, y)
    split = time.perf_counter()
    with threadpool_limits(limits=cores):
        model = build_model(
            TASK,
            ALGORITHM,
            with_defaults(TASK, ALGORITHM, {}),
            columns=features,
            n_jobs=cores,
            seed=SEED,
        )
        X = frame[list(features)]
        model.fit(X.iloc[train_rows], y[train_rows])
        fitted = time.perf_counter()
        held = X.iloc[test_rows]
        predicted = model.predict(held)
        proba = model.predict_proba(held)
        metrics, _ = classification_metrics(y[test_rows], predicted, proba, model.classes_)
    done = time.perf_counter()
    return {
        "seconds": {
            "read": round(read - started, 4),
            "split": round(split - read, 4),
            "fit": round(fitted - split, 4),
            "score": round(done - fitted, 4),
            "total": round(done - started, 4),
        },
        "metrics": metrics,
        "rows": {"train": len(train_rows), "holdout": len(test_rows)},
        "columns": features,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def platform_steps(csv: Path, target: str, columns: dict[str, str], cores: int) -> dict[str, Any]:
    """What the trainer's child does for the same run (`mloop_trainer.job.execute`), timed."""
    marks: list[tuple[str, float]] = []
    spec = RunSpec(
        task_type=TASK,
        dataset_id="00000000-0000-0000-0000-000000000000",
        dataset_key=csv.name,
        columns={**columns, target: "numeric"},
        target=target,
        features=list(columns),
        algorithm=ALGORITHM,
    )
    with tempfile.TemporaryDirectory(prefix="mloop-bench-store-") as folder:
        store = create_artifact_store(Settings(artifact_url=Path(folder).as_uri()))
        started = time.perf_counter()
        with csv.open("rb") as stream:
            frame = read_frame(stream, encoding="utf-8", delimiter=",", columns=[*columns, target])
        read = time.perf_counter()
        with threadpool_limits(limits=cores):
            outcome = train(
                spec,
                frame,
                n_jobs=cores,
                progress=lambda share, step: marks.append((step, time.perf_counter())),
            )
        trained = time.perf_counter()
        buffer = io.BytesIO()
        joblib.dump(outcome.model, buffer)
        dumped = time.perf_counter()
        stored = store.write("models/bench/model.joblib", [buffer.getvalue()])
        written = time.perf_counter()
    steps = dict(marks)
    return {
        "seconds": {
            "read_frame": round(read - started, 4),
            "prepare_and_split": round(steps["split"] - read, 4),
            "fit": round(steps["evaluating"] - steps["fitting"], 4),
            "evaluate": round(steps["profiling"] - steps["evaluating"], 4),
            "describe": round(steps["done"] - steps["profiling"], 4),
            "train": round(trained - read, 4),
            "dump": round(dumped - trained, 4),
            "store_write": round(written - dumped, 4),
            "total": round(written - started, 4),
        },
        "metrics": outcome.metrics,
        "model_bytes": stored.size,
    }


def main(
    csv: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The dataset.")],
    target: Annotated[str, typer.Option(help="The target column (binary).")] = "label",
    cores: Annotated[int, typer.Option(min=1, help="Threads for LightGBM and BLAS.")] = 2,
    with_platform_steps: Annotated[
        bool,
        typer.Option(
            "--platform-steps", help="Also time the trainer child's steps (not the floor)."
        ),
    ] = False,
) -> None:
    """Fit and score the platform's LightGBM pipeline on CSV, bare; print one JSON line."""
    result = floor(csv, target, cores)
    if with_platform_steps:
        result["platform_steps"] = platform_steps(csv, target, result["columns"], cores)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    typer.run(main)
