"""The predict workflow on the real local stack: a model trained on a derived feature (`bmi`, as
a train workflow's preprocessing would have made it) answers raw records once the scenario's
predict workflow derives it; a new version changes the answers without a restart, in every
predictor, online and in batch; a record the workflow cannot transform is a 422 naming it; the
log keeps the records the model scored."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_support import experiment, scenario_with_data, start, wait_for

WAIT = 60.0

DERIVE = """
steps:
  - name: bmi
    type: data_preprocessing
    config:
      derive: {{bmi: "weight / (height * height){extra}"}}
      select: [age, bmi]
"""


def people(rows: int = 300) -> pd.DataFrame:
    """Raw people: age, weight (kg), height (m)."""
    rng = np.random.default_rng(11)
    return pd.DataFrame(
        {
            "age": rng.integers(20, 70, rows),
            "weight": rng.uniform(50, 120, rows).round(1),
            "height": rng.uniform(1.5, 2.0, rows).round(2),
        }
    )


def prepared(raw: pd.DataFrame) -> pd.DataFrame:
    """What a train workflow's preprocessing made of them: age, bmi and the target."""
    bmi = raw["weight"] / (raw["height"] * raw["height"])
    risk = 2.0 * bmi + 0.1 * raw["age"] + np.random.default_rng(5).normal(0, 0.5, len(raw))
    return pd.DataFrame({"age": raw["age"], "bmi": bmi, "risk": risk})


@pytest.fixture(scope="module")
def client(
    gateway: RunningGateway,
    trainers: list[RunningTrainer],
    scheduler: RunningService,
    predictor: RunningService,
    monitor: RunningService,
) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


@pytest.fixture(scope="module")
def direct(predictor: RunningService, gateway: RunningGateway) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {gateway.admin_key}"}
    with httpx.Client(base_url=predictor.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def served(client: httpx.Client, direct: httpx.Client) -> dict[str, Any]:
    """A regression scenario whose champion reads age and bmi."""
    raw = people()
    sid, dataset = scenario_with_data(client, "regression", prepared(raw), target="risk")
    created = experiment(
        client,
        sid,
        dataset,
        name="gbm",
        target="risk",
        algorithm="lightgbm",
        parameters={"n_estimators": 30},
    )
    run = wait_for(client, sid, start(client, sid, created["id"])["id"])
    assert run["status"] == "completed", run["error"]
    promoted = client.post(f"/api/scenarios/{sid}/models/{run['model_id']}/promote", json={})
    assert promoted.status_code == 202, promoted.text
    until(lambda: (entry(direct, sid) or {}).get("champion"), "the champion is served")
    return {"sid": sid, "raw": raw, "model_id": run["model_id"]}


def until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"still waiting: {what}"
        time.sleep(0.2)


def entry(direct: httpx.Client, sid: str) -> dict[str, Any] | None:
    for item in direct.get("/api/deployments").json()["scenarios"]:
        if item["scenario_id"] == sid:
            return item
    return None


def applied(direct: httpx.Client, sid: str, version: int) -> None:
    def check() -> bool:
        workflow = (entry(direct, sid) or {}).get("predict_workflow")
        return bool(workflow) and workflow["version"] == version

    until(check, f"the predictor applies predict workflow version {version}")


def save(client: httpx.Client, sid: str, extra: str = "") -> dict[str, Any]:
    saved = client.post(
        f"/api/scenarios/{sid}/workflows/predict",
        content=DERIVE.format(extra=extra),
        headers={"content-type": "application/yaml"},
    )
    assert saved.status_code == 201, saved.text
    return saved.json()


def predict(http: httpx.Client, sid: str, records: list[Any]) -> httpx.Response:
    return http.post(f"/api/scenarios/{sid}/predict", json={"records": records})


def answers(http: httpx.Client, sid: str, records: list[Any]) -> list[float]:
    answer = predict(http, sid, records)
    assert answer.status_code == 200, answer.text
    return [p["prediction"] for p in answer.json()["predictions"]]


def raw_records(raw: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"age": int(row.age), "weight": float(row.weight), "height": float(row.height)}
        for row in raw.itertuples()
    ]


def derived_records(raw: pd.DataFrame, shift: float = 0.0) -> list[dict[str, Any]]:
    return [
        {"age": r["age"], "bmi": r["weight"] / (r["height"] * r["height"]) + shift}
        for r in raw_records(raw)
    ]


def test_raw_records_get_the_answers_of_derived_ones_and_follow_new_versions(
    client: httpx.Client, direct: httpx.Client, served: dict[str, Any]
) -> None:
    sid, raw = served["sid"], served["raw"].head(20)
    # Without a predict workflow the model answers the derived records it was trained on...
    expected = answers(client, sid, derived_records(raw))
    shifted = answers(client, sid, derived_records(raw, 10.0))
    assert expected != shifted
    refused = predict(client, sid, raw_records(raw)[:1])
    assert refused.status_code == 422  # ...and refuses raw ones: no bmi
    assert refused.json()["errors"][0]["field"] == "bmi"

    # The compiled fast path serves this model: the workflow runs before its encoding.
    assert entry(direct, sid)["champion"]["fast_path"].startswith("lightgbm booster")
    saved = save(client, sid)
    applied(direct, sid, saved["version"])
    for http in (client, direct):  # through the gateway and from the predictor itself
        assert answers(http, sid, raw_records(raw)) == pytest.approx(expected, rel=1e-9)

    # A new version is applied without a restart.
    newer = save(client, sid, extra=" + 10")
    applied(direct, sid, newer["version"])
    assert answers(client, sid, raw_records(raw)) == pytest.approx(shifted, rel=1e-9)


def test_a_record_the_workflow_cannot_transform_is_a_422_naming_it(
    client: httpx.Client, direct: httpx.Client, served: dict[str, Any]
) -> None:
    sid = served["sid"]
    applied(direct, sid, save(client, sid)["version"])
    good = {"age": 30, "weight": 80.0, "height": 1.8}
    answer = predict(client, sid, [good, {"age": 40, "weight": 90.0}])
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["detail"] == "the predict workflow cannot transform 1 of 2 records"
    (error,) = body["errors"]
    assert (error["record"], error["field"]) == (1, "height")
    assert error["loc"] == ["body", "records", 1, "height"]
    assert "step 'bmi' of the predict workflow reads it" in error["message"]

    answer = predict(client, sid, [good, good, {"age": 1, "weight": "heavy", "height": 1.7}])
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["record"] == 2 and "derive 'bmi'" in error["message"], error

    # Division by zero gives a null bmi, which the model takes as a missing value.
    assert predict(client, sid, [{"age": 1, "weight": 70, "height": 0}]).status_code == 200


def test_the_log_keeps_the_records_the_model_scored(
    client: httpx.Client, direct: httpx.Client, served: dict[str, Any]
) -> None:
    sid = served["sid"]
    applied(direct, sid, save(client, sid)["version"])
    answer = predict(client, sid, [{"age": 33, "weight": 81.0, "height": 1.8, "note": "x"}])
    assert answer.status_code == 200, answer.text
    prediction_id = answer.json()["predictions"][0]["prediction_id"]

    def logged() -> dict[str, Any] | None:
        found = client.get(f"/api/scenarios/{sid}/predictions/{prediction_id}")
        return found.json() if found.status_code == 200 else None

    row = until(logged, "the prediction is logged")
    assert row["inputs"] == {"age": 33, "bmi": pytest.approx(81.0 / 1.8**2)}


def test_batch_predictions_apply_the_workflow_too(
    client: httpx.Client, direct: httpx.Client, served: dict[str, Any]
) -> None:
    sid, raw = served["sid"], served["raw"].head(30)
    applied(direct, sid, save(client, sid)["version"])
    expected = answers(client, sid, raw_records(raw))
    data = raw.to_csv(index=False).encode()
    asked = client.post(
        f"/api/scenarios/{sid}/predictions/batch", files={"file": ("raw.csv", data)}
    )
    assert asked.status_code == 202, asked.text
    job_id = asked.json()["job_id"]

    def finished() -> dict[str, Any] | None:
        job = client.get(f"/api/scenarios/{sid}/predictions/batch/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    job = until(finished, f"batch {job_id} finishes")
    assert job["status"] == "succeeded", job["error"]
    got = pd.read_csv(io.BytesIO(client.get(job["output_url"]).content))
    assert list(got.columns) == ["age", "weight", "height", "prediction"]  # the input as read
    np.testing.assert_allclose(got["prediction"].to_numpy(), expected, rtol=1e-9)

    lacking = raw.drop(columns=["height"]).to_csv(index=False).encode()
    asked = client.post(
        f"/api/scenarios/{sid}/predictions/batch", files={"file": ("lacking.csv", lacking)}
    )
    job_id = asked.json()["job_id"]
    job = until(finished, f"batch {job_id} finishes")
    assert job["status"] == "failed"
    assert "no column 'height' (read by step 'bmi' of the predict workflow)" in job["error"]
