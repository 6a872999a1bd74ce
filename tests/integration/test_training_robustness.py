"""What must not break training: caps, unusable data, duplicated commands, refused profiles,
a trainer killed mid-run, and deleting a scenario while it trains."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer
from mloop_common import topics
from mloop_common.db.catalog import Scenario
from mloop_common.db.engine import Database
from mloop_common.db.training import Run
from mloop_common.messages.commands import RunSpec, TrainModel
from mloop_trainer.adapters.runs import reconcile

from tests.fixtures.services import RunningGateway
from tests.fixtures.training import RUN_MAX_MEMORY_MB, RUN_MAX_SECONDS, RunningTrainer
from tests.integration.training_data import DATASETS, SEED
from tests.integration.training_support import (
    experiment,
    logs,
    scenario_with_data,
    start,
    wait_for,
)


@pytest.fixture(scope="module")
def client(gateway: RunningGateway, trainers: list[RunningTrainer]) -> httpx.Client:
    with gateway.client() as client:
        yield client


def _forest_run(
    client: httpx.Client, name: str, *, trees: int, classes: int | None = None
) -> tuple[str, dict]:
    """A random forest of `trees` trees on 20,000 rows of 5 numbers, started: the scenario id
    and the run. With `classes`, a classification target of that many classes, else a
    regression one."""
    rng = np.random.default_rng(SEED)
    frame = pd.DataFrame(rng.normal(size=(20_000, 5)).round(4), columns=[f"x{i}" for i in range(5)])
    if classes is None:
        frame["y"] = (frame.sum(axis=1) + rng.normal(size=len(frame))).round(4)
    else:
        frame["y"] = [f"c{n}" for n in rng.integers(0, classes, size=len(frame))]
    task = "regression" if classes is None else "classification"
    sid, dataset = scenario_with_data(client, task, frame)
    created = experiment(
        client,
        sid,
        dataset,
        name=name,
        target="y",
        algorithm="random_forest",
        parameters={"n_estimators": trees},
    )
    return sid, start(client, sid, created["id"])


def test_memory_cap_fails_the_run_and_the_trainer_lives_on(client: httpx.Client) -> None:
    # A random forest keeps one value per class per node: 1,000 classes make every tree of
    # 20,000 rows weigh ~200 MB, far past the trainers' memory ceiling.
    sid, started = _forest_run(client, "hungry", trees=200, classes=1000)
    run = wait_for(client, sid, started["id"])
    assert run["status"] == "failed"
    assert run["error"].startswith("memory limit exceeded"), run["error"]
    assert run["resources"]["peak_memory_mb"] >= RUN_MAX_MEMORY_MB
    assert any("memory limit exceeded" in line for line in logs(client, sid, run["id"]))
    _next_run_completes(client)


def test_time_cap_kills_the_run_and_keeps_its_logs(client: httpx.Client) -> None:
    sid, started = _forest_run(client, "slow", trees=1000)
    run = wait_for(client, sid, started["id"], timeout=180)
    assert run["status"] == "failed"
    assert run["error"].startswith("timeout"), run["error"]
    assert run["resources"]["wall_seconds"] >= RUN_MAX_SECONDS
    lines = logs(client, sid, run["id"])
    assert any(line.startswith("read 20000 rows") for line in lines), lines[:5]
    _next_run_completes(client)


def _next_run_completes(client: httpx.Client) -> None:
    make, target = DATASETS["regression"]
    sid, dataset = scenario_with_data(client, "regression", make())
    ok = experiment(client, sid, dataset, name="ok", target=target, algorithm="linear_regression")
    assert wait_for(client, sid, start(client, sid, ok["id"])["id"])["status"] == "completed"


@pytest.mark.parametrize(
    ("frame", "target", "reason"),
    [
        (pd.DataFrame({"x": range(40), "y": ["a"] * 40}), "y", "one class"),
        (
            pd.DataFrame({"x": range(40), "empty": [None] * 40, "y": ["a", "b"] * 20}),
            "y",
            "empty",
        ),
    ],
    ids=["one-class", "all-empty-column"],
)
def test_data_that_cannot_train_fails_with_the_reason(
    client: httpx.Client, frame: pd.DataFrame, target: str, reason: str
) -> None:
    sid, dataset = scenario_with_data(client, "classification", frame)
    columns = [c["name"] for c in dataset["columns"] if c["name"] != target]
    created = experiment(
        client,
        sid,
        dataset,
        name="bad",
        target=target,
        algorithm="logistic_regression",
        features=columns,
    )
    run = wait_for(client, sid, start(client, sid, created["id"])["id"])
    assert run["status"] == "failed"
    assert reason in run["error"], run["error"]
    assert "Traceback" not in run["error"]


def test_text_in_a_numeric_only_algorithm_fails_with_the_reason(
    client: httpx.Client, gateway: RunningGateway
) -> None:
    frame = DATASETS["text_classification"][0]()
    sid, dataset = scenario_with_data(
        client, "anomaly_detection", frame.assign(n=range(len(frame)))
    )
    command = _command(
        sid,
        "anomaly_detection",
        dataset,
        target=None,
        features=["review", "n"],
        algorithm="isolation_forest",
    )
    run = _run_of(client, gateway, sid, command)
    assert run["status"] == "failed"
    assert "review" in run["error"] and "text" in run["error"], run["error"]


def test_a_target_missing_from_the_dataset_fails_the_run(
    client: httpx.Client, gateway: RunningGateway
) -> None:
    make, _ = DATASETS["regression"]
    sid, dataset = scenario_with_data(client, "regression", make())
    command = _command(
        sid,
        "regression",
        dataset,
        target="no_such_column",
        features=["age"],
        algorithm="linear_regression",
    )
    run = _run_of(client, gateway, sid, command)
    assert run["status"] == "failed"
    assert "no_such_column" in run["error"], run["error"]


def test_the_same_train_model_twice_makes_one_run(
    client: httpx.Client, gateway: RunningGateway
) -> None:
    make, target = DATASETS["regression"]
    sid, dataset = scenario_with_data(client, "regression", make())
    command = _command(
        sid,
        "regression",
        dataset,
        target=target,
        features=["age", "bmi"],
        algorithm="linear_regression",
    )
    again = command.model_copy(update={"event_id": uuid.uuid4()})  # another message, same run
    run = _run_of(client, gateway, sid, command, command, again)
    assert run["status"] == "completed" and run["attempts"] == 1
    runs = client.get(f"/api/scenarios/{sid}/runs").json()["items"]
    assert [r["id"] for r in runs] == [str(command.run_id)]
    assert len(client.get(f"/api/scenarios/{sid}/models").json()["items"]) == 1


def _command(
    sid: str,
    task: str,
    dataset: dict,
    *,
    target: str | None,
    features: list[str],
    algorithm: str,
) -> TrainModel:
    spec = RunSpec(
        task_type=task,
        dataset_id=dataset["id"],
        dataset_key=f"scenarios/{sid}/data/{dataset['id']}.csv",
        columns={c["name"]: c["type"] for c in dataset["columns"]},
        target=target,
        features=features,
        algorithm=algorithm,
    )
    return TrainModel(scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), spec=spec)


def _run_of(client: httpx.Client, gateway: RunningGateway, sid: str, *commands: TrainModel) -> dict:
    """Publish the commands straight onto the topic, as the scheduler will; the run they ask for."""
    asyncio.run(_publish(gateway.settings.kafka_bootstrap, commands))
    return wait_for(client, sid, str(commands[0].run_id))


async def _publish(bootstrap: str | None, commands: tuple[TrainModel, ...]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for command in commands:
            await producer.send_and_wait(
                topics.TRAIN_MODEL, command.model_dump_json().encode(), key=command.partition_key
            )
    finally:
        await producer.stop()


def test_profiles_are_checked_and_the_machine_refuses_what_it_cannot_give(
    client: httpx.Client,
) -> None:
    out_of_range = client.post(
        "/api/resource-profiles", json={"name": "huge", "cpu_cores": 33, "max_hours": 0.01}
    )
    assert out_of_range.status_code == 422
    assert {tuple(e["loc"]) for e in out_of_range.json()["errors"]} == {
        ("body", "cpu_cores"),
        ("body", "max_hours"),
    }
    gpu = client.post("/api/resource-profiles", json={"name": "gpu", "gpus": 1}).json()
    big = client.post("/api/resource-profiles", json={"name": "big", "memory_gb": 128}).json()
    make, target = DATASETS["regression"]
    sid, dataset = scenario_with_data(client, "regression", make())
    reasons = {}
    for profile in (gpu, big):
        created = experiment(
            client,
            sid,
            dataset,
            name=profile["name"],
            target=target,
            algorithm="linear_regression",
            resource_profile_id=profile["id"],
        )
        run = wait_for(client, sid, start(client, sid, created["id"])["id"])
        assert run["status"] == "failed"
        reasons[profile["name"]] = run["error"]
    assert reasons["gpu"].startswith("refused: the run asks for 1 GPU(s) and this trainer has none")
    assert reasons["big"].startswith("refused: the profile asks for 128 GB of memory")


def test_a_killed_trainer_s_run_is_retried_by_the_other(
    client: httpx.Client, trainers: list[RunningTrainer]
) -> None:
    sid, run = _forest_run(client, "retried", trees=40)
    running = wait_for(client, sid, run["id"], until=("running", "completed", "failed"))
    assert running["status"] == "running", running
    pid = int(running["worker"].split(":")[1].split("/")[0])
    victim = next(t for t in trainers if t.pid == pid)
    victim.kill()
    try:
        done = wait_for(client, sid, run["id"], timeout=180)
        assert done["status"] == "completed", done["error"]
        assert done["attempts"] == 2
        assert int(done["worker"].split(":")[1].split("/")[0]) != pid
    finally:
        victim.start()


def test_a_scenario_with_a_run_in_progress_is_deleted_only_when_forced(
    client: httpx.Client,
) -> None:
    sid, run = _forest_run(client, "busy", trees=1000)
    refused = client.delete(f"/api/scenarios/{sid}")
    assert refused.status_code == 409
    assert "queued or running" in refused.json()["detail"]
    wait_for(client, sid, run["id"], until=("running",))
    assert client.delete(f"/api/scenarios/{sid}", params={"force": "true"}).status_code == 204
    assert client.get(f"/api/scenarios/{sid}/runs/{run['id']}").status_code == 404
    _next_run_completes(client)  # the trainer dropped the deleted run and went on


async def test_a_run_whose_trainers_keep_dying_is_failed_with_the_reason(db: Database) -> None:
    """After `run_max_attempts` starts whose leases all expired, the reconciler (of any
    trainer: the session's trainers may get there first) fails the run instead of re-queueing."""
    scenario_id, run_id = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        session.add(Scenario(id=scenario_id, name="dying", task_type="regression"))
        await session.flush()
        session.add(
            Run(
                id=run_id,
                scenario_id=scenario_id,
                trigger="manual",
                algorithm="lightgbm",
                status="running",
                attempts=2,
                lease_owner="gone:1/0",
                lease_expires_at=datetime.now(UTC) - timedelta(seconds=5),
            )
        )
        await session.commit()
    await reconcile(db, max_attempts=2)
    async with db.transaction() as session:
        run = await session.get(Run, run_id)
    assert run is not None and run.status == "failed"
    assert run.error == (
        "the trainer running it stopped 2 time(s) (its lease expired); not retried again"
    )
    assert run.lease_owner is None
