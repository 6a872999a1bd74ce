"""The floor for batch prediction: read a CSV with pyarrow, predict in memory, write the inputs
plus the predictions with pyarrow's CSV writer.

`python -m bench.bare_batch MODEL.joblib INPUT.csv OUTPUT.csv` times, after its imports (a warm
interpreter, like the predictor's), loading the model artifact (the platform's joblib-dumped
scikit-learn Pipeline), `pyarrow.csv.read_csv`, the conversion to a pandas DataFrame, one
`predict_proba` of the pipeline on the whole frame with the label of each row taken as the
class of highest probability (what the pipeline's `predict` does, without computing the trees
twice), and `pyarrow.csv.write_csv` of the input columns followed by `prediction` and
`probability_<label>` per label, the columns the platform's batch output has. It prints one
JSON line: seconds per step and in total, rows, and the output's size.

With `--booster` the pipeline is bypassed: the model's columns go, as one float array, to
LightGBM's `Booster.predict` (right for the benchmark's binary model on numeric columns only):
a reference for the tightest in-memory scoring, not the floor of the target.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import joblib

# What unpickling the pipeline imports (LightGBM, scikit-learn, the platform's transformers),
# imported before the clock starts.
import mloop_common.ml.pipelines  # noqa: F401
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import typer


def _pipeline_proba(model: Any, table: pa.Table) -> tuple[np.ndarray, float]:
    """The pipeline's `predict_proba` on the whole frame; (probabilities, conversion seconds)."""
    started = time.perf_counter()
    frame = table.to_pandas()
    converted = time.perf_counter() - started
    return np.asarray(model.predict_proba(frame), dtype=np.float64), converted


def _booster_proba(model: Any, table: pa.Table) -> tuple[np.ndarray, float]:
    """LightGBM's booster on a float array of the model's columns, for a binary classifier
    whose pipeline only turns numbers into floats (the benchmark's model)."""
    started = time.perf_counter()
    columns = model.named_steps["preprocess"].named_steps["coerce"].columns
    X = np.column_stack([table.column(name).to_numpy().astype(np.float64) for name in columns])
    converted = time.perf_counter() - started
    positive = model.named_steps["model"].booster_.predict(X)
    return np.column_stack([1.0 - positive, positive]), converted


def predict_csv(model_path: Path, source: Path, target: Path, *, booster: bool) -> dict[str, Any]:
    started = time.perf_counter()
    model = joblib.load(model_path)
    loaded = time.perf_counter()
    table = pa_csv.read_csv(source)
    read = time.perf_counter()
    proba, converted = (_booster_proba if booster else _pipeline_proba)(model, table)
    classes = np.asarray(model.classes_)
    labels = classes[np.argmax(proba, axis=1)]
    predicted = time.perf_counter()
    table = table.append_column("prediction", pa.array(labels))
    for position, label in enumerate(classes.tolist()):
        table = table.append_column(f"probability_{label}", pa.array(proba[:, position]))
    pa_csv.write_csv(table, target)
    written = time.perf_counter()
    return {
        "rows": table.num_rows,
        "output_bytes": target.stat().st_size,
        "predicted_by": "raw booster" if booster else "pipeline",
        "seconds": {
            "load_model": round(loaded - started, 4),
            "read": round(read - loaded, 4),
            "convert": round(converted, 4),
            "predict": round(predicted - read - converted, 4),
            "write": round(written - predicted, 4),
            "total": round(written - started, 4),
        },
    }


def main(
    model: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    source: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    target: Annotated[Path, typer.Argument(dir_okay=False)],
    booster: Annotated[
        bool,
        typer.Option(
            "--booster", help="Score with LightGBM's booster on a float array (a reference)."
        ),
    ] = False,
) -> None:
    """Predict every row of SOURCE with MODEL into TARGET; print one JSON line of timings."""
    sys.stdout.write(json.dumps(predict_csv(model, source, target, booster=booster)) + "\n")


if __name__ == "__main__":
    typer.run(main)
