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


def predict_csv(model_path: Path, source: Path, target: Path) -> dict[str, Any]:
    started = time.perf_counter()
    model = joblib.load(model_path)
    loaded = time.perf_counter()
    table = pa_csv.read_csv(source)
    read = time.perf_counter()
    frame = table.to_pandas()
    converted = time.perf_counter()
    proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
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
        "seconds": {
            "load_model": round(loaded - started, 4),
            "read": round(read - loaded, 4),
            "to_pandas": round(converted - read, 4),
            "predict": round(predicted - converted, 4),
            "write": round(written - predicted, 4),
            "total": round(written - started, 4),
        },
    }


def main(
    model: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    source: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    target: Annotated[Path, typer.Argument(dir_okay=False)],
) -> None:
    """Predict every row of SOURCE with MODEL into TARGET; print one JSON line of timings."""
    sys.stdout.write(json.dumps(predict_csv(model, source, target)) + "\n")


if __name__ == "__main__":
    typer.run(main)
