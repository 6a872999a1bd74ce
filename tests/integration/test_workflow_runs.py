"""Workflow runs on the real local stack: gateway, trainers and scheduler processes over the local
broker, Postgres and artifact folder.

The workflow definitions are written straight into the `workflows` table (the shape the
definitions endpoint stores), newest version wins; runs are started and read through the API.
The scenario's deployment policy is `manual`, so only the workflow's deployment step promotes.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from mloop_common import topics
from mloop_common.db.engine import Database
from mloop_common.messages.commands import PrepareDataset, RunWorkflow
from mloop_common.settings import Settings
from mloop_scheduler.context import Scheduler
from mloop_scheduler.workflows import start_train_workflow
from sqlalchemy import text

from tests.fixtures.messaging import read_topic
from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification, csv

WAIT = 120.0
GBM = {"algorithm": "lightgbm", "parameters": {"n_estimators": 10}}


@pytest.fixture(scope="module")
def client(
    gateway: RunningGateway, trainers: list[RunningTrainer], scheduler: RunningService
) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


@pytest.fixture(scope="module")
def sid(client: httpx.Client) -> str:
    """A classification scenario (manual deployments) with its data at train.csv."""
    created = client.post(
        "/api/scenarios",
        json={"name": "workflows", "task_type": "classification", "deployment_policy": "manual"},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    upload = client.post(
        f"/api/scenarios/{sid}/data",
        files={"file": ("train.csv", csv(classification()))},
        data={"path": "train.csv", "target": "species"},
    )
    assert upload.status_code in (200, 201), upload.text
    return sid


def define(settings: Settings, sid: str, steps: list[dict[str, Any]], kind: str = "train") -> str:
    """Store the next version of the scenario's `kind` workflow; answers its id."""

    async def insert() -> str:
        db = Database.from_settings(settings)
        try:
            async with db.transaction() as session:
                version = await session.scalar(
                    text(
                        "SELECT coalesce(max(version), 0) + 1 FROM workflows "
                        "WHERE scenario_id = :sid AND kind = :kind"
                    ),
                    {"sid": sid, "kind": kind},
                )
                workflow_id = str(uuid.uuid4())
                await session.execute(
                    text(
                        "INSERT INTO workflows (id, scenario_id, kind, version, source, spec) "
                        "VALUES (:id, :sid, :kind, :version, :source, CAST(:spec AS jsonb))"
                    ),
                    {
                        "id": workflow_id,
                        "sid": sid,
                        "kind": kind,
                        "version": version,
                        "source": "# written by the test\n",
                        "spec": json.dumps({"steps": steps}),
                    },
                )
                await session.commit()
            return workflow_id
        finally:
            await db.close()

    return asyncio.run(insert())


def step(name: str, type_: str, needs: list[str] | None = None, **config: Any) -> dict[str, Any]:
    retries = config.pop("retries", 0)
    return {"name": name, "type": type_, "needs": needs or [], "retries": retries, "config": config}


def run(client: httpx.Client, sid: str, kind: str = "train") -> dict[str, Any]:
    started = client.post(f"/api/scenarios/{sid}/workflows/{kind}/runs")
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["status"] == "queued"
    return body


def wait_run(client: httpx.Client, sid: str, run_id: str, timeout: float = WAIT) -> dict[str, Any]:
    """Poll until the run ended (404 while the scheduler has not taken it on yet)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        answer = client.get(f"/api/scenarios/{sid}/workflow-runs/{run_id}")
        if answer.status_code == 200:
            last = answer.json()
            if last["status"] != "running":
                return last
        else:
            assert answer.status_code == 404, answer.text
        time.sleep(0.3)
    raise AssertionError(f"workflow run {run_id} did not end in {timeout} s: {last}")


def steps_of(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in detail["steps"]}


def champion(client: httpx.Client, sid: str) -> str | None:
    state = client.get(f"/api/scenarios/{sid}/deployments").json()
    return (state.get("champion") or {}).get("model_id")


def wait_champion(client: httpx.Client, sid: str, model_id: str) -> None:
    deadline = time.monotonic() + 30
    while champion(client, sid) != model_id:
        assert time.monotonic() < deadline, f"{model_id} did not become the champion"
        time.sleep(0.25)


def test_train_evaluate_deploy_makes_the_model_champion(
    client: httpx.Client, gateway: RunningGateway, sid: str
) -> None:
    define(
        gateway.settings,
        sid,
        [
            step("train", "model_training", **GBM),
            step("evaluate", "evaluation", ["train"], gates=["accuracy >= 0.5"]),
            step("deploy", "deployment", ["evaluate"], when="gates"),
        ],
    )

    started = run(client, sid)
    detail = wait_run(client, sid, started["id"])

    assert detail["status"] == "succeeded", detail
    assert detail["trigger"] == "manual" and detail["finished_at"] is not None
    steps = steps_of(detail)
    assert [s["status"] for s in detail["steps"]] == ["succeeded"] * 3
    model_id = steps["train"]["output"]["model_id"]
    assert steps["train"]["attempts"] == 1 and steps["train"]["output"]["run_id"]
    assert steps["evaluate"]["output"]["gates"] == [
        {"gate": "accuracy >= 0.5", "passed": True, "error": None}
    ]
    assert steps["deploy"]["output"]["model_id"] == model_id
    wait_champion(client, sid, model_id)
    history = client.get(f"/api/scenarios/{sid}/deployments/history").json()["items"]
    assert history[0]["reason"] == "workflow" and history[0]["model_id"] == model_id
    train_run = client.get(f"/api/scenarios/{sid}/runs/{steps['train']['output']['run_id']}")
    assert train_run.json()["trigger"] == "workflow"

    listed = client.get(f"/api/scenarios/{sid}/workflows/train/runs").json()
    assert listed["items"][0]["id"] == started["id"]
    assert "steps" not in listed["items"][0]

    records = asyncio.run(
        read_topic(gateway.settings, topics.WORKFLOW_STEP_FINISHED, expect=10**6, timeout=2)
    )
    finished = [json.loads(r.value) for r in records]
    mine = [(f["step"], f["status"]) for f in finished if f["workflow_run_id"] == started["id"]]
    assert sorted(mine) == [(name, "succeeded") for name in ("deploy", "evaluate", "train")]


def test_a_failed_gate_skips_the_deployment_and_fails_the_run(
    client: httpx.Client, gateway: RunningGateway, sid: str
) -> None:
    before = champion(client, sid)
    define(
        gateway.settings,
        sid,
        [
            step("train", "model_training", **GBM),
            step("evaluate", "evaluation", ["train"], gates=["accuracy >= 1.01"], retries=2),
            step("deploy", "deployment", ["evaluate"]),
        ],
    )

    detail = wait_run(client, sid, run(client, sid)["id"])

    assert detail["status"] == "failed"
    steps = steps_of(detail)
    assert steps["train"]["status"] == "succeeded"
    evaluate = steps["evaluate"]
    assert evaluate["status"] == "failed"
    assert evaluate["attempts"] == 1  # a gate not met is not retried: it would fail again
    assert "accuracy >= 1.01" in evaluate["error"]
    assert evaluate["output"]["gates"][0]["passed"] is False
    assert steps["deploy"]["status"] == "skipped" and steps["deploy"]["attempts"] == 0
    assert "evaluate did not succeed" in steps["deploy"]["error"]
    assert champion(client, sid) == before


def test_a_failing_training_step_is_retried_then_fails_and_its_dependents_are_skipped(
    client: httpx.Client, gateway: RunningGateway, sid: str
) -> None:
    define(
        gateway.settings,
        sid,
        [
            # No trainer of the test stack has a GPU: each attempt's run is refused (RunFailed).
            step("train", "model_training", retries=1, resources={"gpus": 1}, **GBM),
            step("evaluate", "evaluation", ["train"], gates=["accuracy >= 0.5"]),
            step("deploy", "deployment", ["evaluate"]),
            step("side", "evaluation", [], gates=["accuracy >= 0.5"]),
        ],
    )

    detail = wait_run(client, sid, run(client, sid)["id"])

    assert detail["status"] == "failed"
    steps = steps_of(detail)
    train = steps["train"]
    assert (train["status"], train["attempts"]) == ("failed", 2)
    assert "GPU" in train["error"]
    assert steps["evaluate"]["status"] == "skipped" and steps["deploy"]["status"] == "skipped"
    # an independent step ran (and failed on its own: there is no model before it)
    assert steps["side"]["status"] == "failed"
    assert "no model_training step precedes it" in steps["side"]["error"]
    runs = client.get(f"/api/scenarios/{sid}/runs", params={"limit": 200}).json()["items"]
    failed = [r for r in runs if r["status"] == "failed" and "GPU" in (r.get("error") or "")]
    assert len(failed) == 2  # one per attempt


def test_a_run_workflow_delivered_twice_makes_one_run(
    client: httpx.Client, gateway: RunningGateway, sid: str
) -> None:
    workflow_id = define(gateway.settings, sid, [step("train", "model_training", **GBM)])
    run_id = uuid.uuid4()
    command = RunWorkflow(
        scenario_id=uuid.UUID(sid), workflow_id=uuid.UUID(workflow_id), workflow_run_id=run_id
    )
    again = RunWorkflow(
        scenario_id=uuid.UUID(sid), workflow_id=uuid.UUID(workflow_id), workflow_run_id=run_id
    )  # another event, the same run
    settings = gateway.settings
    runs_before = _training_runs(client, sid)

    asyncio.run(_publish(settings, command, command, again))
    detail = wait_run(client, sid, str(run_id))

    assert detail["status"] == "succeeded"
    time.sleep(1.0)  # give a duplicate the time to show up, were there one
    listed = client.get(f"/api/scenarios/{sid}/workflows/train/runs", params={"limit": 200})
    assert [r["id"] for r in listed.json()["items"]].count(str(run_id)) == 1
    assert len(_training_runs(client, sid)) == len(runs_before) + 1


def test_preprocess_then_train_on_the_prepared_version(
    client: httpx.Client, gateway: RunningGateway, sid: str
) -> None:
    fields = PrepareDataset.model_fields
    if not {"dataset_id", "path", "workflow_run_id"} <= set(fields):
        pytest.skip("PrepareDataset does not carry dataset_id/path/workflow_run_id yet")
    define(
        gateway.settings,
        sid,
        [
            step(
                "prep",
                "data_preprocessing",
                input_path="train.csv",
                output_path="prepared.csv",
                select=["sepal_length", "petal_length", "petal_width", "petal_area", "species"],
                filter=None,
                impute={},
                derive={"petal_area": "petal_length * petal_width"},
            ),
            step("train", "model_training", ["prep"], target="species", **GBM),
        ],
    )

    detail = wait_run(client, sid, run(client, sid)["id"])

    steps = steps_of(detail)
    assert detail["status"] == "succeeded", detail
    prepared = steps["prep"]["output"]["dataset_id"]
    assert steps["train"]["output"]["dataset_id"] == prepared
    versions = client.get(f"/api/scenarios/{sid}/data/prepared.csv/versions")
    assert versions.status_code == 200, versions.text
    assert prepared in [v["id"] for v in versions.json()["items"]]
    model = client.get(f"/api/scenarios/{sid}/models/{steps['train']['output']['model_id']}")
    assert model.status_code == 200
    assert model.json()["lineage"]["dataset_id"] == prepared
    columns = [column["name"] for column in model.json()["signature"]["columns"]]
    assert "petal_area" in columns and "sepal_width" not in columns  # derived in, dropped out

    # Again: the same content, so the gateway keeps the version it has; the step goes on with it.
    again = wait_run(client, sid, run(client, sid)["id"])
    assert again["status"] == "succeeded", again
    prep = steps_of(again)["prep"]
    assert prep["output"]["dataset_id"] == prepared and prep["output"]["reused"] is True
    assert steps_of(again)["train"]["output"]["dataset_id"] == prepared


def test_a_notification_step_calls_its_webhook(
    client: httpx.Client, gateway: RunningGateway, sid: str
) -> None:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        define(
            gateway.settings,
            sid,
            [
                step("train", "model_training", **GBM),
                step("evaluate", "evaluation", ["train"], gates=["accuracy >= 0.5"]),
                step("notify", "notification", ["evaluate"], url=url, message="trained"),
            ],
        )
        started = run(client, sid)
        detail = wait_run(client, sid, started["id"])
        assert detail["status"] == "succeeded", detail
        assert steps_of(detail)["notify"]["output"]["url"] == url
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.shutdown()
    assert len(received) == 1
    body = received[0]
    assert body["type"] == "WorkflowNotification" and body["scenario_id"] == sid
    data = body["data"]
    assert data["workflow_run_id"] == started["id"] and data["message"] == "trained"
    assert data["steps"]["evaluate"]["status"] == "succeeded"
    assert data["steps"]["notify"]["status"] == "running"
    assert data["steps"]["train"]["output"]["model_id"]


def test_a_trigger_starts_a_run_in_its_own_transaction(
    client: httpx.Client, gateway: RunningGateway, sid: str
) -> None:
    """`start_train_workflow`, as the triggers call it: the run and its first command are
    staged in the caller's transaction; the running scheduler's relay sends them."""
    define(gateway.settings, sid, [step("train", "model_training", **GBM)])
    bare = client.post("/api/scenarios", json={"name": "bare", "task_type": "classification"})
    scheduler = Scheduler(runtime=SimpleNamespace(settings=gateway.settings))  # type: ignore[arg-type]

    async def start(scenario_id: str) -> uuid.UUID | None:
        db = Database.from_settings(gateway.settings)
        try:
            async with db.transaction() as session:
                run_id = await start_train_workflow(
                    session, scheduler, uuid.UUID(scenario_id), trigger="drift", reason="test"
                )
                await session.commit()
            return run_id
        finally:
            await db.close()

    assert asyncio.run(start(bare.json()["id"])) is None  # no train workflow there
    run_id = asyncio.run(start(sid))
    assert run_id is not None

    detail = wait_run(client, sid, str(run_id))
    assert detail["status"] == "succeeded", detail
    assert (detail["trigger"], detail["reason"], detail["requested_by"]) == ("drift", "test", None)


def test_refusals(client: httpx.Client, sid: str) -> None:
    missing = client.post(f"/api/scenarios/{sid}/workflows/predict/runs")
    assert missing.status_code == 404 and "no predict workflow" in missing.json()["detail"]
    bad_kind = client.post(f"/api/scenarios/{sid}/workflows/deploy/runs")
    assert bad_kind.status_code == 422
    assert bad_kind.json()["errors"][0]["loc"] == ["path", "kind"]
    unknown = client.get(f"/api/scenarios/{sid}/workflow-runs/{uuid.uuid4()}")
    assert unknown.status_code == 404
    elsewhere = client.get(f"/api/scenarios/{uuid.uuid4()}/workflows/train/runs")
    assert elsewhere.status_code == 404
    bad_cursor = client.get(f"/api/scenarios/{sid}/workflows/train/runs", params={"cursor": "x"})
    assert bad_cursor.status_code == 422


# --- helpers ---------------------------------------------------------------------------------


def _training_runs(client: httpx.Client, sid: str) -> list[dict[str, Any]]:
    return client.get(f"/api/scenarios/{sid}/runs", params={"limit": 200}).json()["items"]


async def _publish(settings: Settings, *commands: RunWorkflow) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.require_kafka(), enable_idempotence=False
    )
    await producer.start()
    try:
        for command in commands:
            await producer.send_and_wait(
                command.topic, command.model_dump_json().encode(), key=command.partition_key
            )
    finally:
        await producer.stop()
