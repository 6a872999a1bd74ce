"""Save the benchmark's LightGBM estimator as an MLflow model, for `mlflow models serve`.

Run by the peers' environment's Python (`bench/.peers-venv`, see `bench.peers`), not the
workspace's: `python bench/serving_mlflow.py ESTIMATOR.joblib RECORDS.json OUT_DIR`.
ESTIMATOR.joblib is the fitted `LGBMClassifier` taken from the platform's pipeline (its `model`
step); the script saves it with MLflow's `lightgbm` flavour and the signature MLflow infers from
the records (20 float columns) and the estimator's answers, as MLflow's documentation shows.
It imports nothing from this repository.
"""

from __future__ import annotations

import argparse
import json

import joblib
import mlflow.lightgbm
import pandas as pd
from mlflow.models import infer_signature


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("estimator")
    parser.add_argument("records")
    parser.add_argument("out")
    args = parser.parse_args()
    estimator = joblib.load(args.estimator)
    with open(args.records) as stream:
        frame = pd.DataFrame(json.load(stream))
    signature = infer_signature(frame, estimator.predict(frame))
    mlflow.lightgbm.save_model(estimator, args.out, signature=signature)


if __name__ == "__main__":
    main()
