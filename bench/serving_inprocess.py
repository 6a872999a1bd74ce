"""In-process prediction of one record at a time: what a call costs with no server around it.

`python -m bench.serving_inprocess MODEL.joblib RECORDS.json --seconds 5` loads the model
artifact (the platform's joblib-dumped scikit-learn Pipeline) and, after its imports and a
warm-up, calls each way of predicting in one thread for `--seconds`, cycling through the
records, one record per call. It prints one JSON line: per way, the calls, the calls per
second and the latency percentiles of a call in milliseconds.

The ways:

- `pipeline.predict`: `model.predict(pandas.DataFrame([record]))`, the frame built in the call
  (a server gets dicts);
- `pipeline.predict_proba`: the same with `predict_proba` (the predictor answers both);
- `predictor scorer`: the predictor's own path for a request's records, `Scorer.validate` then
  `Scorer.predict` (`mloop_predictor.scoring`), with its fast path (compiled when it reproduces
  the pipeline on the records given, here the request records); `fast_path` says which serves;
- `raw booster`: LightGBM's `Booster.predict` on a prebuilt (1, 20) float array with one
  thread, bypassing the pipeline and the scikit-learn wrapper: a reference for what the trees
  alone cost (with the model's two OpenMP threads a single row waits on the second thread
  whenever the machine is busy, and a call can take milliseconds).
"""

from __future__ import annotations

import gc
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import joblib
import numpy as np
import pandas as pd
import typer

WARM_UP_SECONDS = 0.5


def measure(call: Callable[[Any], object], inputs: list[Any], seconds: float) -> dict[str, Any]:
    """Call `call` on `inputs` in turn for `seconds` (after a warm-up); figures of the calls."""
    deadline = time.perf_counter() + WARM_UP_SECONDS
    position = 0
    while time.perf_counter() < deadline:
        call(inputs[position % len(inputs)])
        position += 1
    gc.collect()
    durations: list[int] = []
    clock = time.perf_counter_ns
    started = clock()
    end = started + int(seconds * 1e9)
    position = 0
    now = started
    while now < end:
        item = inputs[position % len(inputs)]
        before = clock()
        call(item)
        now = clock()
        durations.append(now - before)
        position += 1
    elapsed = (now - started) / 1e9
    values = np.asarray(durations, dtype=np.float64) / 1e6
    return {
        "calls": len(durations),
        "seconds": round(elapsed, 3),
        "calls_per_second": round(len(durations) / elapsed, 1),
        "latency_ms": {
            "mean": round(float(values.mean()), 4),
            "p50": round(float(np.percentile(values, 50)), 4),
            "p90": round(float(np.percentile(values, 90)), 4),
            "p99": round(float(np.percentile(values, 99)), 4),
            "max": round(float(values.max()), 4),
        },
    }


def _scorer(
    model: Any, signature: dict[str, Any] | None, sample: list[dict[str, float]]
) -> tuple[Callable[[Any], object] | None, str]:
    """The predictor's own path for one record (`Scorer.validate` then `Scorer.predict`, as a
    request does), its fast path verified on `sample`; (None, why) when it cannot be built."""
    try:
        from mloop_predictor.scoring import Scorer
    except ImportError as error:
        return None, f"no predictor scorer: {error}"
    if signature is None:
        return None, "no signature given"
    scorer = Scorer(
        model_id=uuid.uuid4(),
        task_type=signature.get("task_type", "classification"),
        signature=signature,
        model=model,
        algorithm="lightgbm",
    )
    scorer.try_fast_path(sample)

    def call(record: dict[str, float]) -> object:
        records = [record]
        if scorer.validate(records):
            raise ValueError(f"the scorer refuses {record}")
        return scorer.predict(records)

    return call, scorer.fast_path


def main(
    model_path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    records_path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    seconds: Annotated[float, typer.Option(min=0.1, help="Seconds of calls per way.")] = 5.0,
    signature_path: Annotated[
        Path | None, typer.Option("--signature", help="The model's signature (JSON).")
    ] = None,
) -> None:
    """Time the in-process ways of predicting one record; print one JSON line."""
    model = joblib.load(model_path)
    records: list[dict[str, float]] = json.loads(records_path.read_text())
    signature = json.loads(signature_path.read_text()) if signature_path else None
    results: dict[str, Any] = {}
    results["pipeline.predict"] = measure(
        lambda record: model.predict(pd.DataFrame([record])), records, seconds
    )
    results["pipeline.predict_proba"] = measure(
        lambda record: model.predict_proba(pd.DataFrame([record])), records, seconds
    )
    scorer, fast_path = _scorer(model, signature, records)
    if scorer is None:
        results["predictor scorer"] = {"unavailable": fast_path}
    else:
        results["predictor scorer"] = {**measure(scorer, records, seconds), "fast_path": fast_path}
    booster = model.named_steps["model"].booster_
    columns = list(records[0])
    arrays = [
        np.array([[record[name] for name in columns]], dtype=np.float64) for record in records
    ]
    results["raw booster"] = measure(
        lambda array: booster.predict(array, num_threads=1), arrays, seconds
    )
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    typer.run(main)
