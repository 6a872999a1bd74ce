"""Monitoring windows on the real local stack: gateway, trainers, scheduler, predictor and
monitor processes over the local broker and Postgres.

One classification scenario (manual deployment policy, 10-second windows): a LightGBM model is
trained and promoted; in-distribution predictions make windows with volume and latency and no
drift; shifted predictions (numbers moved, unseen colours) drift per feature and send exactly
one `DriftDetected` however many windows stay drifted; feedback saying most answers were wrong
makes the live metrics fall and sends one `PerformanceDegraded`. Feedback rows are written
straight into the `feedback` table (its ingestion path is tested elsewhere).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from mloop_common import topics
from mloop_common.db.engine import Database
from mloop_common.prediction_ids import issued_at
from mloop_common.settings import Settings
from mloop_monitor.domain.partitions import DayPartition, day_of
from sqlalchemy import text

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification, csv
from tests.integration.training_support import experiment, start, wait_for

WAIT = 60.0
WINDOW = 10.0
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "colour"]


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


def eventually(check: Callable[[], Any], *, timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: {what}")
        time.sleep(0.3)


def run_sql(settings: Settings, *statements: tuple[str, dict[str, Any]]) -> list[Any]:
    async def run() -> list[Any]:
        db = Database.from_settings(settings)
        try:
            async with db.transaction() as session:
                found: list[Any] = []
                for query, params in statements:
                    result = await session.execute(text(query), params)
                    if result.returns_rows:
                        found = list(result.all())
                await session.commit()
                return found
        finally:
            await db.close()

    return asyncio.run(run())


def events(settings: Settings, topic: str, sid: str, *, seconds: float = 2.0) -> list[dict]:
    """Every message of `topic` about scenario `sid`, read from the start."""

    async def read() -> list[dict]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=settings.require_kafka(), auto_offset_reset="earliest"
        )
        await consumer.start()
        found: list[dict] = []
        try:
            deadline = asyncio.get_running_loop().time() + seconds
            while asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        body = orjson.loads(record.value)
                        if body.get("scenario_id") == sid:
                            found.append(body)
        finally:
            await consumer.stop()
        return found

    return asyncio.run(read())


def records(shifted: bool = False) -> list[dict[str, Any]]:
    frame = classification().sample(n=100, random_state=3)  # iris is sorted by species
    rows = []
    for i in range(100):
        row = frame.iloc[i]
        record = {name: getattr(row[name], "item", lambda v=row[name]: v)() for name in COLUMNS}
        if shifted:
            record["sepal_length"] += 4.0
            record["petal_length"] += 5.0
            record["petal_width"] += 3.0
            record["colour"] = ["purple", "orange"][i % 2]
        rows.append(record)
    return rows


def predict(client: httpx.Client, sid: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = client.post(f"/api/scenarios/{sid}/predict", json={"records": batch})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def latest_drift(client: httpx.Client, sid: str) -> dict[str, Any] | None:
    answer = client.get(f"/api/scenarios/{sid}/monitoring/drift")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return answer.json()


def series(client: httpx.Client, sid: str, **params: Any) -> list[dict[str, Any]]:
    answer = client.get(f"/api/scenarios/{sid}/monitoring", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


@pytest.fixture(scope="module")
def scenario(client: httpx.Client) -> tuple[str, str]:
    """A manual-policy classification scenario with 10 s windows and a promoted champion."""
    created = client.post(
        "/api/scenarios",
        json={
            "name": "monitored",
            "task_type": "classification",
            "deployment_policy": "manual",
            "monitoring": {"window_seconds": WINDOW},
        },
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    upload = client.post(
        f"/api/scenarios/{sid}/data",
        files={"file": ("train.csv", csv(classification()))},
        data={"path": "train.csv"},
    )
    assert upload.status_code in (200, 201), upload.text
    made = experiment(
        client,
        sid,
        upload.json(),
        name="gbm",
        target="species",
        algorithm="lightgbm",
        parameters={"n_estimators": 20},
    )
    done = wait_for(client, sid, start(client, sid, made["id"])["id"])
    assert done["status"] == "completed", done["error"]
    model_id = done["model_id"]
    sent = client.post(f"/api/scenarios/{sid}/models/{model_id}/promote", json={})
    assert sent.status_code == 202, sent.text

    def promoted() -> bool:
        state = client.get(f"/api/scenarios/{sid}/deployments").json()
        return (state.get("champion") or {}).get("model_id") == model_id

    eventually(promoted, what="the promotion")
    # The predictor answers once it has loaded the champion.
    eventually(
        lambda: (
            client.post(
                f"/api/scenarios/{sid}/predict", json={"records": records()[:1]}
            ).status_code
            == 200
        ),
        what="the predictor to serve the champion",
    )
    return sid, model_id


def test_no_window_yet_is_404_and_an_empty_series(
    client: httpx.Client, gateway: RunningGateway
) -> None:
    sid = client.post("/api/scenarios", json={"name": "quiet", "task_type": "regression"}).json()[
        "id"
    ]
    answer = client.get(f"/api/scenarios/{sid}/monitoring/drift")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "40 predictions" in answer.json()["detail"]
    assert series(client, sid) == []
    for bad in ({"bucket": "soon"}, {"bucket": "0"}, {"limit": "0"}):
        refused = client.get(f"/api/scenarios/{sid}/monitoring", params=bad)
        assert refused.status_code == 422, refused.text
    missing = client.get(f"/api/scenarios/{uuid.uuid4()}/monitoring")
    assert missing.status_code == 404


def test_windows_drift_and_performance_episodes(
    client: httpx.Client, gateway: RunningGateway, scenario: tuple[str, str]
) -> None:
    sid, model_id = scenario
    settings = gateway.settings

    # In distribution: volume and latency, no drift.
    predict(client, sid, records())

    def measured() -> dict[str, Any] | None:
        found = latest_drift(client, sid)
        return found if found and found["window"]["predictions"] >= 100 else None

    calm = eventually(measured, what="a window with drift measured")
    assert calm["drifted"] is False and calm["model_id"] == model_id, calm
    assert set(calm["features"]) == set(COLUMNS)
    assert calm["features"]["petal_length"]["method"] == "ks"  # a small reference
    assert calm["prediction"] is not None
    items = series(client, sid)
    assert items and items[-1]["model_id"] == model_id and items[-1]["arm"] == "champion"
    assert items[-1]["predictions"] >= 100
    assert items[-1]["latency_ms"]["p50"] is not None
    assert items[-1]["latency_ms"]["p99"] >= items[-1]["latency_ms"]["p50"]

    # Shifted: drift per feature, one DriftDetected for the whole episode.
    time.sleep(WINDOW + 1)  # the calm predictions leave the window
    predict(client, sid, records(shifted=True))

    def drifted() -> dict[str, Any] | None:
        found = latest_drift(client, sid)
        return found if found and found["drifted"] else None

    report = eventually(drifted, what="a drifted window")
    for name in ("sepal_length", "petal_length", "petal_width", "colour"):
        assert report["features"][name]["drifted"], (name, report["features"][name])
    assert report["drifted_share"] >= 0.5
    assert report["features"]["colour"]["method"] == "chisquare"
    time.sleep(WINDOW + 2)  # every window holding the shifted predictions has been computed
    windows = [w for w in series(client, sid) if w["drifted"]]
    assert len(windows) >= 3, windows
    assert "petal_length" in windows[-1]["drifted_features"]
    alarms = events(settings, topics.DRIFT_DETECTED, sid)
    assert len(alarms) == 1, alarms
    assert alarms[0]["model_id"] == model_id
    assert {"petal_length", "colour"} <= set(alarms[0]["features"])

    # Aggregated in SQL per bucket.
    buckets = series(client, sid, bucket="1h")
    assert len(buckets) == 1 and buckets[0]["windows"] >= len(windows)
    assert buckets[0]["drifted"] is True and "petal_length" in buckets[0]["drift"]

    # Feedback saying most answers were wrong: live metrics fall, one PerformanceDegraded.
    answered = predict(client, sid, records()[:60])
    labels = ["setosa", "versicolor", "virginica"]
    rows = []
    for i, answer in enumerate(answered):
        right = answer["prediction"]
        actual = right if i % 10 == 0 else labels[(labels.index(right) + 1) % 3]
        at = issued_at(answer["prediction_id"])
        rows.append({"at": at, "sid": sid, "pid": answer["prediction_id"], "actual": actual})
    now = datetime.now(UTC)
    partitions = {DayPartition(day_of(r["at"]), "feedback") for r in rows}
    run_sql(
        settings,
        *[(p.create_sql(), {}) for p in partitions],
        *[
            (
                "INSERT INTO feedback (predicted_at, scenario_id, prediction_id, actual, "
                "received_at, source) VALUES (:at, :sid, :pid, CAST(:actual AS jsonb), :now, "
                "'api') ON CONFLICT DO NOTHING",
                {**r, "actual": orjson.dumps(r["actual"]).decode(), "now": now},
            )
            for r in rows
        ],
    )

    def degraded() -> list[dict[str, Any]]:
        return [w for w in series(client, sid) if w["labelled"] >= 20 and w["metrics"]]

    scored = eventually(degraded, what="a window with live metrics")
    assert scored[-1]["metrics"]["accuracy"] < 0.5
    time.sleep(WINDOW + 2)
    fallen = events(settings, topics.PERFORMANCE_DEGRADED, sid)
    assert len(fallen) == 1, fallen
    assert fallen[0]["metric"] == "f1_weighted" and fallen[0]["value"] < fallen[0]["threshold"]
    assert len(events(settings, topics.DRIFT_DETECTED, sid, seconds=0.5)) == 1
    stored = run_sql(
        settings,
        (
            "SELECT kind, model_id, state FROM monitor_episodes WHERE scenario_id = :sid",
            {"sid": sid},
        ),
    )
    kinds = {kind: (str(model), state) for kind, model, state in stored}
    assert kinds["performance"] == (model_id, {"active": True, "streak": 0})
    assert kinds["drift"][0] == model_id
