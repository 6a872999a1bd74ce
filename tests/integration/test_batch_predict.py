"""Batch prediction on the real local stack: the gateway records the request and sends
PredictBatch, a predictor scores the input in chunks and writes inputs plus predictions as CSV,
which downloads from the gateway.

The output must equal what the online endpoint answers for the same rows, row for row.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from mloop_common.db.engine import Database
from mloop_common.db.serving import BatchJob
from mloop_common.messages.commands import PredictBatch
from mloop_predictor.batches import jobs, worker

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification, csv, regression
from tests.integration.training_support import experiment, scenario_with_data, start, wait_for

WAIT = 90.0
FINISHED = ("succeeded", "failed")


@pytest.fixture(scope="module")
def client(
    gateway: RunningGateway,
    trainers: list[RunningTrainer],
    scheduler: RunningService,
    predictor: RunningService,
) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


def trained(
    client: httpx.Client, sid: str, dataset: dict[str, Any], target: str, algorithm: str
) -> str:
    created = experiment(client, sid, dataset, name=algorithm, target=target, algorithm=algorithm)
    done = wait_for(client, sid, start(client, sid, created["id"])["id"])
    assert done["status"] == "completed", done["error"]
    return done["model_id"]


def promoted(client: httpx.Client, sid: str, model_id: str, record: dict[str, Any]) -> None:
    """Promote the model and wait until the predictor answers with it."""
    sent = client.post(f"/api/scenarios/{sid}/models/{model_id}/promote")
    assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + WAIT
    while True:
        answer = client.post(f"/api/scenarios/{sid}/predict", json={"records": [record]})
        if answer.status_code == 200 and answer.json()["model_id"] == model_id:
            return
        assert time.monotonic() < deadline, f"not serving {model_id}: {answer.text}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def iris(client: httpx.Client) -> dict[str, Any]:
    """A classification scenario with a LightGBM model (its champion) and another one."""
    frame = classification()
    sid, dataset = scenario_with_data(client, "classification", frame)
    champion = trained(client, sid, dataset, "species", "lightgbm")
    other = trained(client, sid, dataset, "species", "logistic_regression")
    promoted(client, sid, champion, frame.drop(columns=["species"]).iloc[0].to_dict())
    return {"sid": sid, "dataset": dataset, "frame": frame, "champion": champion, "other": other}


def finished(client: httpx.Client, sid: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        job = client.get(f"/api/scenarios/{sid}/predictions/batch/{job_id}")
        assert job.status_code == 200, job.text
        if job.json()["status"] in FINISHED:
            return job.json()
        assert time.monotonic() < deadline, f"batch {job_id} still {job.json()}"
        time.sleep(0.3)


def output(client: httpx.Client, job: dict[str, Any]) -> pd.DataFrame:
    answer = client.get(job["output_url"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert int(answer.headers["content-length"]) == len(answer.content)
    return pd.read_csv(io.BytesIO(answer.content), dtype=str, keep_default_na=False)


def json_records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """The rows as an app would send them: numbers as numbers, missing as null."""
    rows = frame[columns].astype(object).to_dict(orient="records")
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in rows
    ]


def online(client: httpx.Client, sid: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    answer = client.post(f"/api/scenarios/{sid}/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_matches_online(
    got: pd.DataFrame, answered: dict[str, Any], model_id: str, labels: list[str]
) -> None:
    assert answered["model_id"] == model_id
    predictions = answered["predictions"]
    assert len(predictions) == len(got)
    assert got["prediction"].tolist() == [str(p["prediction"]) for p in predictions]
    for label in labels:
        batch = got[f"probability_{label}"].astype(float).to_numpy()
        live = np.array([p["probabilities"][label] for p in predictions])
        np.testing.assert_allclose(batch, live, rtol=1e-7, atol=1e-9)


def test_a_dataset_version_scored_in_batch_matches_online_row_for_row(
    client: httpx.Client, iris: dict[str, Any]
) -> None:
    sid, frame = iris["sid"], iris["frame"]
    asked = client.post(
        f"/api/scenarios/{sid}/predictions/batch", json={"dataset_id": iris["dataset"]["id"]}
    )
    assert asked.status_code == 202, asked.text
    queued = asked.json()
    assert queued["status"] == "queued" and queued["output_url"] is None
    assert queued["input"] == "dataset" and queued["model_id"] is None
    job = finished(client, sid, queued["job_id"])
    assert job["status"] == "succeeded", job["error"]
    assert (job["model_id"], job["rows_done"], job["progress"]) == (iris["champion"], 150, 1.0)

    got = output(client, job)
    labels = ["setosa", "versicolor", "virginica"]
    features = [c for c in frame.columns if c != "species"]
    assert list(got.columns) == [
        *frame.columns,
        "prediction",
        *(f"probability_{x}" for x in labels),
    ]
    assert got["species"].tolist() == frame["species"].tolist()  # the inputs, as they were
    assert_matches_online(
        got, online(client, sid, json_records(frame, features)), iris["champion"], labels
    )

    listed = client.get(f"/api/scenarios/{sid}/predictions/batch", params={"limit": 1})
    assert listed.status_code == 200
    assert listed.json()["items"][0]["job_id"] == job["job_id"]


def test_an_uploaded_file_is_scored_and_a_named_model_is_used(
    client: httpx.Client, iris: dict[str, Any]
) -> None:
    sid, frame = iris["sid"], iris["frame"]
    features = [c for c in frame.columns if c != "species"]
    part = frame[features].sample(40, random_state=3).reset_index(drop=True)
    part.loc[[2, 7], "petal_width"] = np.nan  # missing values, as an app may send
    data = part.to_csv(index=False, sep=";").encode()
    asked = client.post(
        f"/api/scenarios/{sid}/predictions/batch", files={"file": ("to-score.csv", data)}
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["input"] == "upload"
    job = finished(client, sid, asked.json()["job_id"])
    assert job["status"] == "succeeded", job["error"]
    assert (job["model_id"], job["rows_done"]) == (iris["champion"], 40)
    got = output(client, job)
    assert got["petal_width"][2] == "" and len(got) == 40
    labels = ["setosa", "versicolor", "virginica"]
    answered = online(client, sid, json_records(part, features))
    assert_matches_online(got, answered, iris["champion"], labels)

    named = client.post(
        f"/api/scenarios/{sid}/predictions/batch",
        json={"dataset_id": iris["dataset"]["id"], "model_id": iris["other"]},
    )
    assert named.status_code == 202, named.text
    assert named.json()["model_id"] == iris["other"]
    job = finished(client, sid, named.json()["job_id"])
    assert (job["status"], job["model_id"], job["rows_done"]) == ("succeeded", iris["other"], 150)


def test_unusable_input_fails_the_job_with_the_reason(
    client: httpx.Client, iris: dict[str, Any]
) -> None:
    sid, frame = iris["sid"], iris["frame"]

    def failed(data: bytes) -> dict[str, Any]:
        asked = client.post(
            f"/api/scenarios/{sid}/predictions/batch", files={"file": ("bad.csv", data)}
        )
        assert asked.status_code == 202, asked.text
        job = finished(client, sid, asked.json()["job_id"])
        assert job["status"] == "failed"
        refused = client.get(f"/api/scenarios/{sid}/predictions/batch/{job['job_id']}/output")
        assert refused.status_code == 409
        return job

    lacking = failed(csv(frame.drop(columns=["petal_length", "colour"]).head(20)))
    assert "no column 'petal_length', 'colour'" in lacking["error"]

    wrong = frame.head(30).astype(object)
    wrong.loc[3, "sepal_width"] = "wide"
    wrong.loc[17, "sepal_width"] = "1,5"
    job = failed(csv(wrong))
    assert "column 'sepal_width': 2 value(s) not a number" in job["error"]
    assert "data row 4: 'wide'" in job["error"] and "data row 18: '1,5'" in job["error"]


def test_requests_that_cannot_be_served_are_refused(
    client: httpx.Client, iris: dict[str, Any]
) -> None:
    sid = iris["sid"]
    batch = f"/api/scenarios/{sid}/predictions/batch"

    def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        return answer.json()

    problem(client.post(batch, json={"dataset_id": str(uuid.uuid4())}), 404)
    problem(
        client.post(
            batch, json={"dataset_id": iris["dataset"]["id"], "model_id": str(uuid.uuid4())}
        ),
        404,
    )
    body = problem(client.post(batch, json={"model_id": iris["champion"]}), 422)
    assert body["errors"][0]["loc"] == ["body", "dataset_id"]
    body = problem(client.post(batch, json={"dataset_id": "x", "extra": 1}), 422)
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "dataset_id"), ("body", "extra")}
    body = problem(client.post(batch, files={"other": ("a.csv", b"a\n1\n")}), 422)
    problem(client.post(batch, content=b"a,b", headers={"content-type": "text/csv"}), 415)
    body = problem(
        client.post(batch, files={"file": ("a.csv", b"x,y\n1,2\n")}, data={"model_id": "nope"}), 422
    )
    assert body["errors"][0]["loc"] == ["body", "model_id"]
    problem(client.get(f"{batch}/{uuid.uuid4()}"), 404)
    problem(client.get(f"{batch}/{uuid.uuid4()}/output"), 404)

    # A dataset of another scenario is not this scenario's; a scenario without a champion
    # cannot score without a model named.
    other_sid, other_dataset = scenario_with_data(client, "regression", regression())
    problem(client.post(batch, json={"dataset_id": other_dataset["id"]}), 404)
    refused = problem(
        client.post(
            f"/api/scenarios/{other_sid}/predictions/batch",
            json={"dataset_id": other_dataset["id"]},
        ),
        409,
    )
    assert "no champion yet" in refused["detail"]
    problem(
        client.post(
            f"/api/scenarios/{other_sid}/predictions/batch",
            json={"dataset_id": other_dataset["id"], "model_id": iris["champion"]},
        ),
        404,
    )


@pytest.fixture
def empty_scenario(client: httpx.Client) -> uuid.UUID:
    created = client.post("/api/scenarios", json={"name": "queue", "task_type": "regression"})
    return uuid.UUID(created.json()["id"])


async def test_a_redelivered_command_queues_one_job_and_dead_workers_jobs_are_requeued(
    empty_scenario: uuid.UUID, db: Database
) -> None:
    """The queue itself, on Postgres: PredictBatch recorded once however often delivered; a
    job whose lease expired goes back to the queue, or fails after too many starts."""
    sid = empty_scenario
    command = PredictBatch(scenario_id=sid, job_id=uuid.uuid4(), input_key="x.csv")
    consumer = "test.batch.record"
    assert await jobs.record(db, command, consumer=consumer) is True
    assert await jobs.record(db, command, consumer=consumer) is False
    again = PredictBatch(scenario_id=sid, job_id=command.job_id, input_key="x.csv")
    assert await jobs.record(db, again, consumer=consumer) is False  # same job, other message
    nothing = PredictBatch(scenario_id=sid, job_id=uuid.uuid4())
    assert await jobs.record(db, nothing, consumer=consumer) is False
    gone = PredictBatch(scenario_id=uuid.uuid4(), job_id=uuid.uuid4(), input_key="x.csv")
    assert await jobs.record(db, gone, consumer=consumer) is False

    async with db.transaction() as session:
        refused = await session.get(BatchJob, nothing.job_id)
    assert (refused.status, refused.error) == ("failed", "no dataset and no file given")

    # Jobs whose predictor died (inserted as such: the live predictor takes any queued job).
    past = datetime.now(UTC) - timedelta(seconds=5)
    dying, dead = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        for job_id, attempts in ((dying, 1), (dead, worker.MAX_ATTEMPTS)):
            session.add(
                BatchJob(
                    id=job_id,
                    scenario_id=sid,
                    input_key="x.csv",
                    status="running",
                    lease_owner="dead-predictor",
                    lease_expires_at=past,
                    attempts=attempts,
                )
            )
        await session.commit()
    # This reconcile skips rows the predictor's own reconciler holds at the moment: look again
    # until one of the two has taken them.
    deadline = time.monotonic() + 10
    while True:
        await jobs.reconcile(db, max_attempts=worker.MAX_ATTEMPTS)
        async with db.transaction() as session:
            back = await session.get(BatchJob, dying)
            given_up = await session.get(BatchJob, dead)
        if "dead-predictor" not in (back.lease_owner, given_up.lease_owner):
            break
        assert time.monotonic() < deadline, "the expired leases were never reconciled"
        await asyncio.sleep(0.1)
    assert back.status == "queued" or back.attempts == 2  # or a live predictor took it since
    assert given_up.status == "failed" and "lease expired" in given_up.error
