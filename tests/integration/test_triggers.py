"""Retraining triggers on the real local stack: gateway, trainers and scheduler processes over the
local broker and Postgres.

Each test has its own classification scenario (`deployment_policy: manual`) whose first small
LightGBM model is promoted by hand; then a trigger retrains it: on a new dataset version, on a
DriftDetected event published to its topic the way the monitor sends it, and on a schedule.
Every firing is read back through the API with its reason and outcome.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer
from mloop_client import MLoopClient
from mloop_common.db.engine import Database
from mloop_common.db.training import Run
from mloop_common.messages.events import DriftDetected
from mloop_common.settings import Settings
from sqlalchemy import delete

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import csv
from tests.integration.training_support import experiment, start, wait_for

WAIT = 90.0


@pytest.fixture(scope="module")
def client(
    gateway: RunningGateway, trainers: list[RunningTrainer], scheduler: RunningService
) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


@pytest.fixture(scope="module")
def mloop(gateway: RunningGateway, client: httpx.Client) -> Iterator[MLoopClient]:
    with MLoopClient(gateway.url, gateway.admin_key) as mloop:
        yield mloop


def frame(seed: int, rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, size=rows)
    income = rng.normal(50_000, 15_000, size=rows).round(0)
    city = rng.choice(["paris", "lyon", "nice"], size=rows)
    churn = np.where((age > 50) ^ (income > 55_000), "yes", "no")
    return pd.DataFrame({"age": age, "income": income, "city": city, "churn": churn})


def upload(client: httpx.Client, sid: str, data: pd.DataFrame) -> dict[str, Any]:
    answer = client.post(
        f"/api/scenarios/{sid}/data",
        files={"file": ("train.csv", csv(data))},
        data={"path": "train.csv", "target": "churn"},
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def champion_scenario(client: httpx.Client, mloop: MLoopClient) -> tuple[str, str]:
    """A manual-policy scenario whose first model (a few LightGBM trees) is its champion."""
    created = client.post(
        "/api/scenarios",
        json={"name": "triggers", "task_type": "classification", "deployment_policy": "manual"},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    dataset = upload(client, sid, frame(1))
    exp = experiment(
        client,
        sid,
        dataset,
        name="gbm",
        target="churn",
        algorithm="lightgbm",
        parameters={"n_estimators": 10},
    )
    run = wait_for(client, sid, start(client, sid, exp["id"])["id"])
    assert run["status"] == "completed", run["error"]
    promoted = client.post(f"/api/scenarios/{sid}/models/{run['model_id']}/promote", json={})
    assert promoted.status_code == 202, promoted.text
    mloop.wait_for_deployment(sid, champion=run["model_id"], timeout=WAIT)
    return sid, run["model_id"]


def create_trigger(client: httpx.Client, sid: str, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/api/scenarios/{sid}/triggers", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def firings(client: httpx.Client, sid: str, trigger_id: str) -> list[dict[str, Any]]:
    page = client.get(f"/api/scenarios/{sid}/triggers/{trigger_id}/firings", params={"limit": 200})
    assert page.status_code == 200, page.text
    return page.json()["items"]


def poll(what: str, probe: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout} s")
        time.sleep(0.2)


def wait_firings(client: httpx.Client, sid: str, trigger_id: str, count: int) -> list[Any]:
    return poll(
        f"{count} firing(s)",
        lambda: (found := firings(client, sid, trigger_id)) and len(found) >= count and found,
    )


def runs_by(client: httpx.Client, sid: str, trigger: str) -> list[dict[str, Any]]:
    page = client.get(f"/api/scenarios/{sid}/runs", params={"limit": 200}).json()
    return [run for run in page["items"] if run["trigger"] == trigger]


def publish(settings: Settings, *events: DriftDetected) -> None:
    """What the monitor sends: the event, keyed by its scenario, on its topic."""

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.require_kafka(), enable_idempotence=False
        )
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(
                    event.topic, event.model_dump_json().encode(), key=event.partition_key
                )
        finally:
            await producer.stop()

    asyncio.run(send())


def drift(sid: str, model_id: str, **features: float) -> DriftDetected:
    return DriftDetected(
        scenario_id=uuid.UUID(sid),
        model_id=uuid.UUID(model_id),
        features=features,
        drifted_share=len(features) / 3,
    )


# --- definitions ---


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return answer.json()


def test_create_list_get_delete_and_refusals(client: httpx.Client) -> None:
    created = client.post(
        "/api/scenarios", json={"name": "trig-crud", "task_type": "regression"}
    ).json()
    sid, url = created["id"], f"/api/scenarios/{created['id']}/triggers"

    nightly = create_trigger(
        client,
        sid,
        name="nightly",
        kind="schedule",
        config={"cron": "0 3 * * *", "timezone": "Europe/Berlin"},
    )
    assert nightly["cooldown_seconds"] == 5.0  # the stack's trigger_cooldown
    assert nightly["enabled"] is True and nightly["last_firing"] is None
    on_rmse = create_trigger(
        client,
        sid,
        name="rmse",
        kind="performance",
        config={"metric": "rmse", "comparison": "gt", "threshold": 60},
        cooldown_seconds=0,
    )
    assert on_rmse["config"] == {
        "metric": "rmse",
        "comparison": "gt",
        "threshold": 60.0,
        "min_feedback": 20,
    }
    create_trigger(client, sid, name="drift", kind="drift", config={"min_share": 0.3})
    create_trigger(client, sid, name="new", kind="new_data")

    listed = client.get(url).json()["items"]
    assert [t["name"] for t in listed] == ["drift", "new", "nightly", "rmse"]
    assert client.get(f"{url}/{nightly['id']}").json()["config"]["cron"] == "0 3 * * *"
    assert client.get(f"{url}/{nightly['id']}/firings").json() == {
        "items": [],
        "next_cursor": None,
    }

    def refused(body: dict[str, Any], loc: list[str]) -> None:
        errors = problem(client.post(url, json={"name": "bad", **body}), 422)["errors"]
        assert loc in [e["loc"] for e in errors], errors

    refused({"kind": "schedule", "config": {"cron": "61 * * * *"}}, ["body", "config", "cron"])
    refused({"kind": "schedule", "config": {"cron": "* * *"}}, ["body", "config", "cron"])
    refused(
        {"kind": "schedule", "config": {"cron": "0 3 * * *", "timezone": "Mars/Base"}},
        ["body", "config", "timezone"],
    )
    refused(
        {"kind": "performance", "config": {"metric": "accuracy", "comparison": "lt",
                                           "threshold": 0.8}},
        ["body", "config", "metric"],
    )  # fmt: skip
    refused(
        {"kind": "performance", "config": {"metric": "rmse", "comparison": "eq", "threshold": 1}},
        ["body", "config", "comparison"],
    )
    refused({"kind": "sometimes", "config": {}}, ["body", "kind"])
    refused({"kind": "schedule", "config": {"min_share": 0.5}}, ["body", "config", "cron"])
    refused({"kind": "drift", "config": {}}, ["body", "config"])
    refused({"kind": "drift", "config": {"features": [""]}}, ["body", "config", "features", "0"])
    refused({"kind": "new_data", "config": {"path": "../etc"}}, ["body", "config", "path"])
    refused({"kind": "new_data", "cooldown_seconds": -1}, ["body", "cooldown_seconds"])
    problem(client.post(url, json={"name": "nightly", "kind": "new_data"}), 409)

    assert client.delete(f"{url}/{nightly['id']}").status_code == 204
    problem(client.get(f"{url}/{nightly['id']}"), 404)
    problem(client.delete(f"{url}/{nightly['id']}"), 404)
    problem(client.get(f"/api/scenarios/{uuid.uuid4()}/triggers"), 404)
    audit = client.get("/api/audit", params={"scenario_id": sid}).json()["items"]
    assert {"trigger.create", "trigger.delete"} <= {entry["action"] for entry in audit}


def test_update_changes_a_definition_and_refuses_as_creation_does(client: httpx.Client) -> None:
    created = client.post(
        "/api/scenarios", json={"name": "trig-put", "task_type": "regression"}
    ).json()
    sid, url = created["id"], f"/api/scenarios/{created['id']}/triggers"
    nightly = create_trigger(
        client, sid, name="nightly", kind="schedule", config={"cron": "0 3 * * *"}
    )
    create_trigger(client, sid, name="other", kind="new_data")
    at = f"{url}/{nightly['id']}"

    moved = client.put(at, json={"config": {"cron": "0 4 * * *", "timezone": "Europe/Berlin"}})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["config"] == {"cron": "0 4 * * *", "timezone": "Europe/Berlin"}
    assert body["name"] == "nightly" and body["enabled"] is True  # the others kept
    next_slot = datetime.fromisoformat(body["next_fire_at"])
    assert next_slot > datetime.now(UTC)  # the next slot after the edit, never a past one
    assert next_slot.astimezone(ZoneInfo("Europe/Berlin")).hour == 4

    off = client.put(at, json={"enabled": False, "cooldown_seconds": 60, "name": "nightly-4"})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False and off.json()["cooldown_seconds"] == 60.0
    assert off.json()["name"] == "nightly-4"
    assert client.get(at).json()["enabled"] is False
    same = client.put(at, json={"kind": "schedule", "cooldown_seconds": None})
    assert same.status_code == 200 and same.json()["cooldown_seconds"] == 5.0  # the default

    def refused(body: dict[str, Any], loc: list[Any], status: int = 422) -> None:
        found = problem(client.put(at, json=body), status)
        if status == 422:
            assert loc in [e["loc"] for e in found["errors"]], found

    refused({"config": {"cron": "61 * * * *"}}, ["body", "config", "cron"])
    refused({"config": {"min_share": 0.5}}, ["body", "config", "cron"])  # the kind's config
    refused({"kind": "drift"}, ["body", "kind"])
    refused({"kind": "sometimes"}, ["body", "kind"])
    refused({"name": None}, ["body", "name"])
    refused({"enabled": None}, ["body", "enabled"])
    refused({"enabled": "maybe"}, ["body", "enabled"])
    refused({"cooldown_seconds": -1}, ["body", "cooldown_seconds"])
    refused({"colour": "red"}, ["body", "colour"])
    refused({"name": "other"}, [], status=409)
    problem(client.put(f"{url}/{uuid.uuid4()}", json={"enabled": True}), 404)
    problem(client.put(f"/api/scenarios/{uuid.uuid4()}/triggers/{nightly['id']}", json={}), 404)
    assert client.get(at).json()["name"] == "nightly-4"  # nothing refused was written

    audit = client.get(
        "/api/audit", params={"scenario_id": sid, "action": "trigger.update"}
    ).json()["items"]
    assert len(audit) == 3
    changes = [entry["detail"]["changes"] for entry in reversed(audit)]
    assert changes[0] == {"config": {"cron": "0 4 * * *", "timezone": "Europe/Berlin"}}
    assert changes[1] == {"enabled": False, "cooldown_seconds": 60.0, "name": "nightly-4"}
    assert changes[2] == {"cooldown_seconds": 5.0}


def test_drift_features_must_be_the_scenarios(client: httpx.Client) -> None:
    created = client.post(
        "/api/scenarios", json={"name": "trig-features", "task_type": "classification"}
    ).json()
    sid, url = created["id"], f"/api/scenarios/{created['id']}/triggers"

    # No data yet: no feature can be named (a share can).
    empty = problem(
        client.post(url, json={"name": "d", "kind": "drift", "config": {"features": ["age"]}}),
        422,
    )
    assert empty["errors"][0]["loc"] == ["body", "config", "features"]
    assert "no data" in empty["errors"][0]["msg"]
    create_trigger(client, sid, name="share", kind="drift", config={"min_share": 0.5})

    upload(client, sid, frame(1))  # age, income, city; target churn
    named = create_trigger(
        client, sid, name="named", kind="drift", config={"features": ["age", "city"]}
    )
    assert named["config"]["features"] == ["age", "city"]

    def refused(features: list[str], index: str, name: str) -> None:
        body = {"name": "bad", "kind": "drift", "config": {"features": features}}
        errors = problem(client.post(url, json=body), 422)["errors"]
        assert [e["loc"] for e in errors] == [["body", "config", "features", index]], errors
        assert f"{name!r} is not a feature of the scenario" in errors[0]["msg"]
        assert "age, city, income" in errors[0]["msg"]  # what it could have named

    refused(["age", "salary"], "1", "salary")
    refused(["churn"], "0", "churn")  # the target is not an input
    answer = client.put(f"{url}/{named['id']}", json={"config": {"features": ["Age"]}})
    errors = problem(answer, 422)["errors"]
    assert errors[0]["loc"] == ["body", "config", "features", "0"]
    assert client.get(f"{url}/{named['id']}").json()["config"]["features"] == ["age", "city"]


# --- firing ---


def test_new_data_retrains_on_the_new_version(client: httpx.Client, mloop: MLoopClient) -> None:
    sid, champion = champion_scenario(client, mloop)
    trigger = create_trigger(client, sid, name="on-upload", kind="new_data", cooldown_seconds=0)

    second = upload(client, sid, frame(2))
    assert second["version"] == 2

    (fired,) = wait_firings(client, sid, trigger["id"], 1)
    assert fired["outcome"] == "started", fired
    assert fired["reason"] == "new data: train.csv version 2"
    assert fired["detail"]["dataset_id"] == second["id"]
    assert fired["detail"]["champion_model_id"] == champion
    (run,) = poll("a new_data run", lambda: runs_by(client, sid, "new_data"))
    assert run["id"] == fired["run_id"]
    done = wait_for(client, sid, run["id"])
    assert done["status"] == "completed", done["error"]
    model = client.get(f"/api/scenarios/{sid}/models/{done['model_id']}").json()
    assert model["lineage"]["dataset_id"] == second["id"]
    assert model["algorithm"] == "lightgbm"
    listed = client.get(f"/api/scenarios/{sid}/triggers").json()["items"]
    assert listed[0]["last_firing"]["id"] == fired["id"] and listed[0]["last_fired_at"]


def test_drift_fires_once_per_event_and_respects_the_cooldown(
    client: httpx.Client, mloop: MLoopClient, settings: Settings
) -> None:
    sid, champion = champion_scenario(client, mloop)
    trigger = create_trigger(
        client,
        sid,
        name="on-drift",
        kind="drift",
        config={"features": ["age", "income"]},
        cooldown_seconds=600,
    )
    unrelated = drift(sid, champion, city=0.4)
    event = drift(sid, champion, age=0.4, income=0.3)
    publish(settings, unrelated, event)

    (fired,) = wait_firings(client, sid, trigger["id"], 1)
    assert fired["outcome"] == "started" and fired["reason"] == "drift in age, income"
    assert fired["dedup_key"] == f"event:{event.event_id}"
    (run,) = poll("a drift run", lambda: runs_by(client, sid, "drift"))
    assert run["id"] == fired["run_id"]

    # The same event again, then a new one within the cooldown: one firing each for the new.
    again = drift(sid, champion, age=0.5)
    publish(settings, event, again)
    newest, first = wait_firings(client, sid, trigger["id"], 2)
    assert first["id"] == fired["id"]
    assert newest["outcome"] == "cooldown" and newest["run_id"] is None
    assert newest["dedup_key"] == f"event:{again.event_id}"
    assert "in cooldown until" in newest["detail"]["note"]
    time.sleep(2)  # nothing else comes of the duplicate
    assert len(firings(client, sid, trigger["id"])) == 2
    assert len(runs_by(client, sid, "drift")) == 1


def test_a_retrain_under_way_caps_the_next(
    client: httpx.Client, mloop: MLoopClient, settings: Settings
) -> None:
    sid, champion = champion_scenario(client, mloop)
    trigger = create_trigger(
        client, sid, name="any-drift", kind="drift", config={"min_share": 0.1}, cooldown_seconds=0
    )
    # A run under way (held by a trainer that is not ours, under a long lease).
    busy = uuid.uuid4()

    async def hold(present: bool) -> None:
        db = Database.from_settings(settings)
        async with db.transaction() as session:
            if present:
                session.add(
                    Run(
                        id=busy,
                        scenario_id=uuid.UUID(sid),
                        trigger="manual",
                        algorithm="lightgbm",
                        status="running",
                        attempts=1,
                        lease_owner="elsewhere",
                        lease_expires_at=datetime.now(UTC) + timedelta(hours=1),
                    )
                )
            else:
                await session.execute(delete(Run).where(Run.id == busy))
            await session.commit()
        await db.close()

    asyncio.run(hold(True))
    try:
        publish(settings, drift(sid, champion, age=0.9))
        (capped,) = wait_firings(client, sid, trigger["id"], 1)
        assert capped["outcome"] == "capped", capped
        assert "1 retrains under way (at most 1)" in capped["detail"]["note"]
        assert runs_by(client, sid, "drift") == []
    finally:
        asyncio.run(hold(False))

    publish(settings, drift(sid, champion, age=0.9))
    newest, _ = wait_firings(client, sid, trigger["id"], 2)
    assert newest["outcome"] == "started", newest


def test_a_schedule_fires_every_slot_once(client: httpx.Client, mloop: MLoopClient) -> None:
    sid, _ = champion_scenario(client, mloop)
    trigger = create_trigger(
        client,
        sid,
        name="every-2s",
        kind="schedule",
        config={"cron": "*/2 * * * * *", "timezone": "Europe/Berlin"},
        cooldown_seconds=0,
    )
    found = wait_firings(client, sid, trigger["id"], 3)
    client.delete(f"/api/scenarios/{sid}/triggers/{trigger['id']}")

    oldest = found[-1]
    assert oldest["outcome"] == "started", found
    assert oldest["reason"].startswith("schedule '*/2 * * * * *' slot ")
    assert "Europe/Berlin" in oldest["reason"]
    # Later slots found the retrain under way, or the same data already retrained.
    assert {f["outcome"] for f in found[:-1]} <= {"capped", "duplicate", "started"}
    slots = [f["dedup_key"] for f in found]
    assert len(set(slots)) == len(slots)
    moments = sorted(datetime.fromisoformat(key.removeprefix("slot:")) for key in slots)
    assert all(m.second % 2 == 0 and m.microsecond == 0 for m in moments)
    (run,) = poll("a schedule run", lambda: runs_by(client, sid, "schedule"))
    assert run["id"] == oldest["run_id"]
    done = wait_for(client, sid, run["id"])
    assert done["status"] == "completed", done["error"]


def test_a_disabled_trigger_never_fires(client: httpx.Client, mloop: MLoopClient) -> None:
    # No champion is needed: a firing is recorded whatever it starts (here: nothing, `failed`).
    created = client.post(
        "/api/scenarios",
        json={"name": "trig-off", "task_type": "classification", "deployment_policy": "manual"},
    )
    sid = created.json()["id"]
    upload(client, sid, frame(1))
    # `witness` fires on every upload: its firing shows the scheduler handled the upload (both
    # triggers are decided in the transaction that handles the event).
    witness = create_trigger(client, sid, name="witness", kind="new_data", cooldown_seconds=0)
    held = create_trigger(
        client, sid, name="held", kind="new_data", cooldown_seconds=0, enabled=False
    )

    def handled(version: int) -> None:
        """Until the scheduler handled the upload of `version` (and every one before it: one
        scenario's events come in order)."""
        reason = f"new data: train.csv version {version}"
        poll(reason, lambda: reason in [f["reason"] for f in firings(client, sid, witness["id"])])

    upload(client, sid, frame(2))
    handled(2)
    assert firings(client, sid, held["id"]) == []

    mloop.enable_trigger(sid, held["id"])
    upload(client, sid, frame(3))
    (fired,) = wait_firings(client, sid, held["id"], 1)
    assert fired["reason"] == "new data: train.csv version 3", fired

    mloop.disable_trigger(sid, held["id"])
    upload(client, sid, frame(4))
    handled(4)
    assert [f["reason"] for f in firings(client, sid, held["id"])] == [fired["reason"]]


PREPARE = """\
steps:
  - name: prepare
    type: data_preprocessing
    config:
      inputPath: train.csv
      outputPath: prepared.csv
      derive: {ratio: "income / age"}
"""


def test_a_version_a_workflow_made_is_skipped_not_retrained(client: httpx.Client) -> None:
    """A new_data trigger watching the path a workflow writes would retrain in a loop (the
    trigger runs the workflow, which writes the path again): the workflow's versions are
    recorded as skipped; uploads by people still fire."""
    created = client.post(
        "/api/scenarios",
        json={"name": "trig-loop", "task_type": "classification", "deployment_policy": "manual"},
    )
    sid = created.json()["id"]
    upload(client, sid, frame(1))
    trigger = create_trigger(
        client, sid, name="on-prepared", kind="new_data", config={"path": "prepared.csv"},
        cooldown_seconds=0,
    )  # fmt: skip
    defined = client.post(f"/api/scenarios/{sid}/workflows/train", json={"yaml": PREPARE})
    assert defined.status_code == 201, defined.text
    started = client.post(f"/api/scenarios/{sid}/workflows/train/runs")
    assert started.status_code == 202, started.text
    workflow_run = started.json()["id"]

    (skipped,) = wait_firings(client, sid, trigger["id"], 1)
    assert skipped["outcome"] == "skipped", skipped
    assert skipped["reason"] == "new data: prepared.csv version 1"
    assert skipped["run_id"] is None and skipped["workflow_run_id"] is None
    assert skipped["detail"]["origin"] == "workflow"
    assert skipped["detail"]["workflow_run_id"] == workflow_run
    assert f"made by workflow run {workflow_run}" in skipped["detail"]["note"]
    runs = client.get(f"/api/scenarios/{sid}/workflows/train/runs").json()["items"]
    assert [run["id"] for run in runs] == [workflow_run]  # the trigger started none

    by_hand = client.post(
        f"/api/scenarios/{sid}/data",
        files={"file": ("prepared.csv", csv(frame(5)))},
        data={"path": "prepared.csv"},
    )
    assert by_hand.status_code in (200, 201), by_hand.text
    fired, _ = wait_firings(client, sid, trigger["id"], 2)
    assert fired["outcome"] == "started", fired
    assert fired["detail"]["origin"] == "upload" and fired["workflow_run_id"]
