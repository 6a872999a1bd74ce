"""Training on the real local stack: a gateway and two trainer processes sharing its platform.

Every algorithm of every task type trains, is evaluated, stored and downloadable; experiments
version themselves; models rank by the scenario's primary metric; logs stream.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable

import httpx
import joblib
import pandas as pd
import pytest

from tests.fixtures.services import RunningGateway
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import DATASETS
from tests.integration.training_support import (
    experiment,
    logs,
    scenario_with_data,
    start,
    wait_for,
)

# What every model of a task reports (a subset of metrics.task_metrics, checked below too).
REPORTED = {
    "classification": {"accuracy", "f1_macro", "f1_weighted", "roc_auc", "log_loss"},
    "regression": {"rmse", "mae", "r2", "mape"},
    "text_classification": {"accuracy", "f1_weighted"},
    "anomaly_detection": {"roc_auc", "anomaly_rate"},
    "forecasting": {"rmse", "mae", "mape"},
    "recommendation": {"precision_at_k", "recall_at_k", "ndcg_at_k"},
}
AUTO = {"time_budget": 3, "max_trials": 3}


@pytest.fixture(scope="module")
def client(gateway: RunningGateway, trainers: list[RunningTrainer]) -> httpx.Client:
    with gateway.client() as client:
        yield client


def test_every_algorithm_of_every_task_trains_on_both_trainers(
    client: httpx.Client, trainers: list[RunningTrainer]
) -> None:
    schemas = client.get("/api/algorithms").json()["tasks"]
    assert set(schemas) == set(DATASETS)
    queued = []  # (task, algorithm, scenario id, run)
    for task, (make, target) in DATASETS.items():
        frame = make()
        sid, dataset = scenario_with_data(client, task, frame)
        for algorithm in (a["name"] for a in schemas[task]):
            parameters = AUTO if algorithm == "auto" else {}
            created = experiment(
                client,
                sid,
                dataset,
                name=algorithm,
                target=target,
                algorithm=algorithm,
                parameters=parameters,
            )
            queued.append((task, algorithm, sid, frame, start(client, sid, created["id"])))
    workers = set()
    for task, algorithm, sid, frame, run in queued:
        done = wait_for(client, sid, run["id"], timeout=300)
        assert done["status"] == "completed", (
            task,
            algorithm,
            done["error"],
            logs(client, sid, run["id"])[-20:],
        )
        assert REPORTED[task] <= set(done["metrics"]), (task, algorithm, done["metrics"])
        assert done["progress"] == 1.0
        assert done["resources"]["peak_memory_mb"] > 0 and done["resources"]["wall_seconds"] > 0
        workers.add(done["worker"].split("/")[0])
        model = client.get(f"/api/scenarios/{sid}/models/{done['model_id']}").json()
        assert model["lineage"]["run_id"] == run["id"]
        assert model["lineage"]["dataset_id"] and model["lineage"]["feature_set_id"]
        if algorithm != "auto":
            assert model["algorithm"] == algorithm
        else:
            assert done["trials"], "auto records its trials"
        _check_artifact(client, sid, model, task, frame)
    assert len(workers) == 2, f"both trainers should have run some: {workers}"


def _check_artifact(
    client: httpx.Client, sid: str, model: dict, task: str, frame: pd.DataFrame
) -> None:
    response = client.get(f"/api/scenarios/{sid}/models/{model['id']}/artifact")
    assert response.status_code == 200
    assert (
        hashlib.sha256(response.content).hexdigest()
        == model["sha256"]
        == response.headers["x-content-sha256"]
    )
    pipeline = joblib.load(io.BytesIO(response.content))
    columns = [c["name"] for c in model["signature"]["columns"]]
    predictions = pipeline.predict(frame[columns].head(5))
    assert len(predictions) == 5, task


def test_classification_metrics_are_real(client: httpx.Client) -> None:
    make, target = DATASETS["classification"]
    sid, dataset = scenario_with_data(client, "classification", make())
    created = experiment(
        client,
        sid,
        dataset,
        name="rf",
        target=target,
        algorithm="random_forest",
        parameters={"nEstimators": 50},
        evaluation={"cv_folds": 3},
    )
    run = wait_for(client, sid, start(client, sid, created["id"])["id"])
    assert run["status"] == "completed", run["error"]
    assert run["metrics"]["accuracy"] > 0.8
    assert "cv_accuracy_mean" in run["metrics"]
    metrics = client.get(f"/api/scenarios/{sid}/models/{run['model_id']}/metrics").json()
    matrix = metrics["details"]["confusion_matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    importances = metrics["feature_importances"]
    assert set(importances) <= {
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
        "colour",
    }
    assert abs(sum(importances.values()) - 1) < 1e-6
    model = client.get(f"/api/scenarios/{sid}/models/{run['model_id']}").json()
    assert model["parameters"]["n_estimators"] == 50  # the camelCase alias was accepted


def test_parameters_are_checked_when_saved(client: httpx.Client) -> None:
    make, target = DATASETS["classification"]
    sid, dataset = scenario_with_data(client, "classification", make())
    bad = client.post(
        f"/api/scenarios/{sid}/model-configs",
        json={"name": "lgb", "algorithm": "lightgbm", "parameters": {"numLeaves": 1, "colour": 3}},
    )
    assert bad.status_code == 422
    locs = {tuple(e["loc"]) for e in bad.json()["errors"]}
    assert ("body", "parameters", "numLeaves") in locs or (
        "body",
        "parameters",
        "num_leaves",
    ) in locs
    assert ("body", "parameters", "colour") in locs
    unknown = client.post(
        f"/api/scenarios/{sid}/model-configs",
        json={"name": "x", "algorithm": "linear_regression", "parameters": {}},
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"][-1] == "algorithm"
    good = client.post(
        f"/api/scenarios/{sid}/model-configs",
        json={"name": "lgb", "algorithm": "lightgbm", "parameters": {"learningRate": 0.05}},
    )
    assert good.status_code == 201, good.text
    assert good.json()["parameters"] == {"learning_rate": 0.05}
    again = client.post(
        f"/api/scenarios/{sid}/model-configs",
        json={"name": "lgb", "algorithm": "lightgbm", "parameters": {"num_leaves": 15}},
    ).json()
    assert (good.json()["version"], again["version"]) == (1, 2)
    inline = client.post(
        f"/api/scenarios/{sid}/experiments",
        json={
            "name": "e",
            "dataset_id": dataset["id"],
            "target": target,
            "model": {"algorithm": "lightgbm", "parameters": {"learningRate": "fast"}},
        },
    )
    assert inline.status_code == 422
    assert inline.json()["errors"][0]["loc"][:3] == ["body", "model", "parameters"]


def test_experiment_versions_follow_what_changed(client: httpx.Client) -> None:
    make, target = DATASETS["regression"]
    frame = make()
    sid, dataset = scenario_with_data(client, "regression", frame)
    url = f"/api/scenarios/{sid}/experiments"
    fs = client.post(
        f"/api/scenarios/{sid}/feature-sets",
        json={
            "name": "f",
            "dataset_id": dataset["id"],
            "target": target,
            "features": ["age", "bmi"],
        },
    ).json()
    mc = client.post(
        f"/api/scenarios/{sid}/model-configs", json={"name": "m", "algorithm": "linear_regression"}
    ).json()
    by_ids = {"name": "exp", "feature_set_id": fs["id"], "model_config_id": mc["id"]}
    versions = [client.post(url, json=by_ids).json()["version"]]
    versions.append(client.post(url, json={**by_ids, "tags": ["x"]}).json()["version"])
    mc2 = client.post(
        f"/api/scenarios/{sid}/model-configs",
        json={"name": "m", "algorithm": "linear_regression", "parameters": {"alpha": 2.0}},
    ).json()
    versions.append(
        client.post(url, json={**by_ids, "tags": ["x"], "model_config_id": mc2["id"]}).json()[
            "version"
        ]
    )
    fs2 = client.post(
        f"/api/scenarios/{sid}/feature-sets",
        json={"name": "f", "dataset_id": dataset["id"], "target": target, "features": ["age"]},
    ).json()
    versions.append(
        client.post(
            url,
            json={
                **by_ids,
                "tags": ["x"],
                "model_config_id": mc2["id"],
                "feature_set_id": fs2["id"],
            },
        ).json()["version"]
    )
    assert versions == ["1.0.0", "1.0.1", "1.1.0", "2.0.0"]
    listed = client.get(url, params={"name": "exp"}).json()["items"]
    assert [e["version"] for e in listed] == ["2.0.0", "1.1.0", "1.0.1", "1.0.0"]
    assert {e["status"] for e in listed} == {"planned"}
    both = client.post(url, json={**by_ids, "dataset_id": dataset["id"]})
    assert both.status_code == 422


def test_quick_train_needs_defaults_then_runs_auto(client: httpx.Client) -> None:
    empty = client.post("/api/scenarios", json={"name": "q", "task_type": "regression"}).json()
    refused = client.post(f"/api/scenarios/{empty['id']}/train")
    assert refused.status_code == 409
    assert "default data path" in refused.json()["detail"]
    make, target = DATASETS["regression"]
    sid, _ = scenario_with_data(client, "regression", make(), target=target)
    queued = client.post(f"/api/scenarios/{sid}/train", json={"time_budget": 3})
    assert queued.status_code == 202, queued.text
    run = wait_for(client, sid, queued.json()["id"])
    assert run["status"] == "completed", run["error"]
    assert run["trials"] and all("value" in trial for trial in run["trials"])
    best = client.get(f"/api/scenarios/{sid}/models/best-model").json()
    assert best["id"] == run["model_id"] and best["primary_metric"] == "rmse"
    experiment_ = client.get(f"/api/scenarios/{sid}/experiments/{run['experiment_id']}").json()
    assert experiment_["status"] == "completed" and experiment_["algorithm"] == "auto"
    by_status = {
        status: [
            e["id"]
            for e in client.get(
                f"/api/scenarios/{sid}/experiments", params={"status": status}
            ).json()["items"]
        ]
        for status in ("planned", "running", "completed", "failed")
    }
    assert by_status == {
        "planned": [],
        "running": [],
        "completed": [experiment_["id"]],
        "failed": [],
    }


def test_best_model_compare_and_cleanup(client: httpx.Client, gateway: RunningGateway) -> None:
    make, target = DATASETS["regression"]
    sid, dataset = scenario_with_data(client, "regression", make())
    weak = experiment(
        client,
        sid,
        dataset,
        name="weak",
        target=target,
        algorithm="linear_regression",
        features=["sex"],
    )
    strong = experiment(
        client, sid, dataset, name="strong", target=target, algorithm="linear_regression"
    )
    runs = [wait_for(client, sid, start(client, sid, e["id"])["id"]) for e in (weak, strong)]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    assert runs[1]["metrics"]["rmse"] < runs[0]["metrics"]["rmse"]
    best = client.get(f"/api/scenarios/{sid}/models/best-model").json()
    assert best["id"] == runs[1]["model_id"]
    compared = client.get(
        f"/api/scenarios/{sid}/experiments/compare", params={"ids": f"{weak['id']},{strong['id']}"}
    ).json()
    assert [item["experiment"]["name"] for item in compared["items"]] == ["weak", "strong"]
    assert "rmse" in compared["metrics"]
    assert all(item["resources"]["wall_seconds"] > 0 for item in compared["items"])
    # Ranking by another metric: r2 (higher is better) picks the same model.
    assert client.put(f"/api/scenarios/{sid}", json={"primary_metric": "r2"}).status_code == 200
    assert client.get(f"/api/scenarios/{sid}/models/best-model").json()["id"] == runs[1]["model_id"]
    assert (
        client.put(f"/api/scenarios/{sid}", json={"primary_metric": "accuracy"}).status_code == 422
    )
    weak_model = client.get(f"/api/scenarios/{sid}/models/{runs[0]['model_id']}").json()
    assert gateway.store.exists(_artifact_key(sid, weak_model["id"]))
    cleaned = client.post(f"/api/scenarios/{sid}/models/cleanup", json={"keep": 1})
    assert cleaned.status_code == 202
    assert cleaned.json() == {"kept": [runs[1]["model_id"]], "deleted": [runs[0]["model_id"]]}
    _eventually(
        lambda: client.get(f"/api/scenarios/{sid}/models/{runs[0]['model_id']}").status_code == 404
    )
    assert not gateway.store.exists(_artifact_key(sid, weak_model["id"]))
    assert [m["id"] for m in client.get(f"/api/scenarios/{sid}/models").json()["items"]] == [
        runs[1]["model_id"]
    ]


def _artifact_key(sid: str, model_id: str) -> str:
    return f"scenarios/{sid}/models/{model_id}/model.joblib"


def _eventually(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_logs_follow_streams_to_the_end(client: httpx.Client) -> None:
    make, target = DATASETS["classification"]
    sid, dataset = scenario_with_data(client, "classification", make())
    created = experiment(
        client, sid, dataset, name="lr", target=target, algorithm="logistic_regression"
    )
    run = start(client, sid, created["id"])
    events = []
    with client.stream(
        "GET",
        f"/api/scenarios/{sid}/runs/{run['id']}/logs",
        params={"follow": "true"},
        timeout=httpx.Timeout(120, read=None),
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[len("data: ") :])))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "end" and events[-1][1]["status"] == "completed"
    assert "log" in kinds and "progress" in kinds
    progress = [data["progress"] for kind, data in events if kind == "progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    lines = [data["line"] for kind, data in events if kind == "log"]
    assert lines == logs(client, sid, run["id"])


def test_data_a_model_was_trained_on_is_kept_unless_forced(client: httpx.Client) -> None:
    make, target = DATASETS["regression"]
    sid, dataset = scenario_with_data(client, "regression", make())
    created = experiment(
        client, sid, dataset, name="lr", target=target, algorithm="linear_regression"
    )
    run = wait_for(client, sid, start(client, sid, created["id"])["id"])
    assert run["status"] == "completed"
    refused = client.delete(f"/api/scenarios/{sid}/data/train.csv")
    assert refused.status_code == 409
    assert "model(s) were trained on it" in refused.json()["detail"]
    assert (
        client.delete(f"/api/scenarios/{sid}/data/train.csv", params={"force": "true"}).status_code
        == 204
    )
    assert client.get(f"/api/scenarios/{sid}/models/{run['model_id']}").status_code == 200


def test_training_reads_and_writes_the_s3_store(
    s3_gateway: RunningGateway, s3_trainer: RunningTrainer
) -> None:
    make, target = DATASETS["regression"]
    with s3_gateway.client() as client:
        sid, dataset = scenario_with_data(client, "regression", make())
        created = experiment(
            client, sid, dataset, name="lr", target=target, algorithm="linear_regression"
        )
        run = wait_for(client, sid, start(client, sid, created["id"])["id"])
        assert run["status"] == "completed", run["error"]
        model = client.get(f"/api/scenarios/{sid}/models/{run['model_id']}").json()
        assert s3_gateway.store.sha256(_artifact_key(sid, model["id"])) == model["sha256"]
        _check_artifact(client, sid, model, "regression", make())
