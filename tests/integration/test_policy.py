"""Automatic deployment on the real local stack (gateway, trainers, scheduler, predictor and
monitor processes): the scenario's policy on every trained model, an A/B test decided by the
feedback, and a probation rollback — every decision recorded with its explanation.

Better and worse models come from the data: the true rule (`label = x1 + x2 > 0`) learnt by a
logistic regression, against a model of another rule (`x1 - x2 > 0`, right half the time on the
true one) or of the colour alone (no signal). Shuffled labels would not do: a linear model of
them still leans the true way. Feedback is written straight into the `feedback` table (what the
monitor's feedback path stores), keyed by the moment inside each prediction id.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from mloop_common.db.engine import Database
from mloop_common.db.feedback import Feedback
from mloop_common.prediction_ids import issued_at
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_support import experiment, scenario_with_data, start, wait_for

WAIT = 90.0
FEATURES = ["x1", "x2", "colour"]


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


@pytest.fixture
def diagnose(scheduler: RunningService, request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        lines = scheduler.log_file.read_text(errors="replace").splitlines()
        shown = [line for line in lines if "aiokafka" not in line and "Consumer" not in line]
        print("--- scheduler ---\n" + "\n".join(shown[-80:]))


# --- data and models -------------------------------------------------------------------------


def rule(rows: int, seed: int, *, kind: str = "sum") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, rows), rng.normal(0, 1, rows)
    score = x1 + x2 if kind == "sum" else x1 - x2
    return pd.DataFrame(
        {
            "x1": x1.round(4),
            "x2": x2.round(4),
            "colour": rng.choice(["red", "green", "blue"], rows),
            # Not yes/no, which a CSV types as booleans (feedback would then say true/false).
            "label": np.where(score > 0, "up", "down"),
        }
    )


def new_scenario(client: httpx.Client, policy: str, data: pd.DataFrame) -> tuple[str, dict]:
    return scenario_with_data(client, "classification", data, target="label", policy=policy)


def upload(client: httpx.Client, sid: str, data: pd.DataFrame) -> dict[str, Any]:
    sent = client.post(
        f"/api/scenarios/{sid}/data",
        files={"file": ("train.csv", data.to_csv(index=False).encode())},
        data={"path": "train.csv", "target": "label"},
    )
    assert sent.status_code in (200, 201), sent.text
    return sent.json()


def train(
    client: httpx.Client,
    sid: str,
    dataset: dict[str, Any],
    name: str,
    features: list[str] | None = None,
) -> str:
    created = experiment(
        client,
        sid,
        dataset,
        name=name,
        target="label",
        algorithm="logistic_regression",
        **({"features": features} if features else {}),
    )
    run = wait_for(client, sid, start(client, sid, created["id"])["id"])
    assert run["status"] == "completed", run["error"]
    return run["model_id"]


# --- reading the outcome ---------------------------------------------------------------------


def wait_until(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def deployment(client: httpx.Client, sid: str) -> dict[str, Any]:
    answer = client.get(f"/api/scenarios/{sid}/deployments")
    assert answer.status_code == 200, answer.text
    return answer.json()


def champion(client: httpx.Client, sid: str) -> str | None:
    found = deployment(client, sid)["champion"]
    return found["model_id"] if found else None


def ab_test(client: httpx.Client, sid: str, test_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/scenarios/{sid}/ab-tests/{test_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def decisions(client: httpx.Client, sid: str, **params: Any) -> list[dict[str, Any]]:
    answer = client.get(f"/api/scenarios/{sid}/deployments/decisions", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def decision_on(client: httpx.Client, sid: str, model_id: str, kind: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for item in decisions(client, sid, model_id=model_id):
            if item["decision"] == kind:
                return item
        return None

    return wait_until(f"a {kind} decision on {model_id}", found)


# --- traffic and feedback --------------------------------------------------------------------


def predict(client: httpx.Client, sid: str, data: pd.DataFrame) -> list[dict[str, Any]]:
    answers = []
    for first in range(0, len(data), 20):
        batch = data.iloc[first : first + 20][FEATURES].to_dict("records")
        deadline = time.monotonic() + WAIT
        while True:  # a first champion reaches the predictor shortly after it is promoted
            answer = client.post(f"/api/scenarios/{sid}/predict", json={"records": batch})
            if answer.status_code != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text
        answers += answer.json()["predictions"]
    return answers


async def feedback(db: Database, sid: str, answers: list[dict], labels: list[str]) -> None:
    """The true labels of `answers`, as the monitor's feedback path stores them."""
    rows = [
        {
            "predicted_at": issued_at(answer["prediction_id"]),
            "scenario_id": uuid.UUID(sid),
            "prediction_id": answer["prediction_id"],
            "actual": label,
            "received_at": datetime.now(UTC),
            "source": "api",
        }
        for answer, label in zip(answers, labels, strict=True)
    ]
    for day in {row["predicted_at"].date() for row in rows}:
        await _partition(db, day)
    async with db.transaction() as session:
        await session.execute(insert(Feedback).values(rows).on_conflict_do_nothing())
        await session.commit()


async def _partition(db: Database, day: Any) -> None:
    """The day's feedback partition (the monitor makes the same, by the same name)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ddl = (
        f"CREATE TABLE IF NOT EXISTS feedback_{start:%Y%m%d} PARTITION OF feedback "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')"
    )
    for _ in range(5):
        try:
            async with db.transaction() as session:
                await session.execute(text(ddl))
                await session.commit()
            return
        except Exception:  # another process creating it at the same moment
            await asyncio.sleep(0.2)


async def traffic(db: Database, client: httpx.Client, sid: str, data: pd.DataFrame) -> list[dict]:
    answers = predict(client, sid, data)
    await feedback(db, sid, answers, data["label"].tolist())
    return answers


async def logged(db: Database, sid: str, count: int) -> None:
    """Until the monitor has stored `count` predictions of the scenario."""
    deadline = time.monotonic() + WAIT
    query = text("SELECT count(*) FROM predictions WHERE scenario_id = :sid")
    while True:
        async with db.transaction() as session:
            if await session.scalar(query, {"sid": uuid.UUID(sid)}) >= count:
                return
        assert time.monotonic() < deadline, "the monitor did not store the predictions"
        await asyncio.sleep(0.2)


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.usefixtures("diagnose")
def test_auto_promotes_the_first_model_then_only_a_better_one(client: httpx.Client) -> None:
    sid, other = new_scenario(client, "auto", rule(400, 1, kind="diff"))
    assert client.get(f"/api/scenarios/{sid}").json()["deployment_policy"] == "auto"
    weak = train(client, sid, other, "other rule")
    wait_until("the first model promoted", lambda: champion(client, sid) == weak)
    first = decision_on(client, sid, weak, "promoted")
    assert first["policy"] == "auto" and "first model" in first["reason"]
    assert deployment(client, sid)["history"][0]["reason"] == "policy: first model"

    clean = upload(client, sid, rule(400, 2))
    strong = train(client, sid, clean, "clean")
    wait_until("the better model promoted", lambda: champion(client, sid) == strong)
    better = decision_on(client, sid, strong, "promoted")
    detail = better["detail"]
    assert detail["champion_source"] == "baseline", better
    assert detail["baseline"]["model_id"] == weak
    assert detail["candidate"] > detail["champion"] + 0.2
    assert "candidate's holdout rows" in better["reason"]
    history = deployment(client, sid)["history"]
    assert (history[0]["model_id"], history[0]["reason"]) == (strong, "policy")

    # No signal in the colour alone: worse on the same (clean) holdout, scored with the
    # champion's own columns x1, x2, which the candidate does not use.
    blind = train(client, sid, clean, "colour only", features=["colour"])
    kept = decision_on(client, sid, blind, "kept_champion")
    assert kept["detail"]["champion_source"] == "baseline", kept
    assert kept["detail"]["champion"] > kept["detail"]["candidate"]
    assert "not better" in kept["reason"] and "kept the champion" in kept["reason"]
    assert champion(client, sid) == strong
    kinds = [item["decision"] for item in decisions(client, sid)]
    assert kinds == ["kept_champion", "promoted", "promoted"]  # newest first

    page = client.get(f"/api/scenarios/{sid}/deployments/decisions", params={"limit": 2}).json()
    rest = client.get(
        f"/api/scenarios/{sid}/deployments/decisions",
        params={"limit": 2, "cursor": page["next_cursor"]},
    ).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [
        item["id"] for item in decisions(client, sid)
    ]
    assert rest["next_cursor"] is None
    bad = client.get(f"/api/scenarios/{sid}/deployments/decisions", params={"decision": "x"})
    assert bad.status_code == 422
    missing = client.get(f"/api/scenarios/{uuid.uuid4()}/deployments/decisions")
    assert missing.status_code == 404


@pytest.mark.usefixtures("diagnose")
def test_manual_leaves_every_model_as_a_candidate(client: httpx.Client) -> None:
    sid, data = new_scenario(client, "manual", rule(200, 3))
    model = train(client, sid, data, "clean")
    left = decision_on(client, sid, model, "left_as_candidate")
    assert left["policy"] == "manual" and "policy manual" in left["reason"]
    assert champion(client, sid) is None


@pytest.mark.usefixtures("diagnose")
async def test_ab_test_policy_tests_the_new_model_and_promotes_a_better_challenger(
    client: httpx.Client, db: Database
) -> None:
    sid, other = new_scenario(client, "ab_test", rule(400, 4, kind="diff"))
    weak = train(client, sid, other, "other rule")
    wait_until("the first model promoted", lambda: champion(client, sid) == weak)
    strong = train(client, sid, upload(client, sid, rule(400, 5)), "clean")
    started = decision_on(client, sid, strong, "ab_test_started")
    test_id = started["detail"]["test_id"]
    state = wait_until(
        "the A/B test", lambda: (found := deployment(client, sid))["mode"] == "ab_test" and found
    )
    assert state["challenger"]["model_id"] == strong and state["challenger_share"] == 0.5
    pending = ab_test(client, sid, test_id)
    assert pending["results"]["status"] == "pending_feedback"
    assert pending["primary_metric"] == "f1_weighted" and pending["min_samples"] == 60

    live = rule(1200, 6)
    row, answered = 0, 0
    while champion(client, sid) != strong:
        assert row < len(live), f"no verdict after {row} rows: {ab_test(client, sid, test_id)}"
        answered += len(await traffic(db, client, sid, live.iloc[row : row + 100]))
        row += 100
        await logged(db, sid, answered)
        await asyncio.sleep(1.0)

    ended = ab_test(client, sid, test_id)
    assert ended["status"] == "ended" and ended["winner_model_id"] == strong
    assert ended["end_reason"] == "policy"
    results, arms = ended["results"], ended["arms"]
    assert results["status"] == "challenger" and results["compared"] == "accuracy"
    assert results["p_value"] < 0.05
    for arm in arms.values():
        assert arm["labelled"] >= 60 and arm["predictions"] >= arm["labelled"]
        low, high = arm["confidence_interval"]
        assert low <= arm["metric"] <= high
    assert arms["challenger"]["metric"] > arms["champion"]["metric"] + 0.2
    promoted = decision_on(client, sid, strong, "promoted")
    assert f"A/B test {test_id}" in promoted["reason"]
    assert promoted["detail"]["verdict"] == "challenger"
    assert deployment(client, sid)["mode"] == "single"


@pytest.mark.usefixtures("diagnose")
async def test_a_champion_that_does_worse_live_is_rolled_back_on_probation(
    client: httpx.Client, db: Database
) -> None:
    sid, clean = new_scenario(client, "auto", rule(400, 7))
    old = train(client, sid, clean, "sum rule")
    wait_until("the first model promoted", lambda: champion(client, sid) == old)
    answered = len(await traffic(db, client, sid, rule(60, 8)))  # the old one's live record
    await logged(db, sid, answered)

    # Data saying the rule is x1 - x2: the new model wins on its own holdout (where the old
    # one is scored too), so `auto` promotes it; live, the rule is still x1 + x2.
    other = train(client, sid, upload(client, sid, rule(400, 9, kind="diff")), "diff rule")
    wait_until("the new model promoted", lambda: champion(client, sid) == other)
    assert decision_on(client, sid, other, "promoted")["detail"]["probation"] is True

    live = rule(600, 10)
    row = 0
    while champion(client, sid) != old:
        assert row < len(live), "the new champion was never rolled back"
        answered += len(await traffic(db, client, sid, live.iloc[row : row + 40]))
        row += 40
        await logged(db, sid, answered)
        await asyncio.sleep(1.0)

    rolled = decision_on(client, sid, other, "rolled_back")
    detail = rolled["detail"]
    assert detail["baseline_source"] == "live" and detail["labelled"] >= 40
    assert detail["fall"] > 0.05 and "rolled back" in rolled["reason"]
    latest = deployment(client, sid)["history"][0]
    assert (latest["action"], latest["reason"]) == ("rollback", "probation")
    assert latest["model_id"] == old


TRAIN_AND_DEPLOY = """\
steps:
  - name: train
    type: model_training
    config: {algorithm: logistic_regression, target: label}
  - name: gate
    type: evaluation
    needs: [train]
    config: {gates: ["accuracy >= 0"]}
  - name: deploy
    type: deployment
    needs: [gate]
"""
TRAIN_ONLY = """\
steps:
  - name: train
    type: model_training
    config: {algorithm: logistic_regression, target: label}
"""


def run_workflow(client: httpx.Client, sid: str, source: str) -> dict[str, Any]:
    """Define the train workflow, run it, and wait for the run to end."""
    defined = client.post(f"/api/scenarios/{sid}/workflows/train", json={"yaml": source})
    assert defined.status_code == 201, defined.text
    started = client.post(f"/api/scenarios/{sid}/workflows/train/runs")
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    def ended() -> dict[str, Any] | None:
        answer = client.get(f"/api/scenarios/{sid}/workflow-runs/{run_id}")
        if answer.status_code == 404:  # not taken on by the scheduler yet
            return None
        assert answer.status_code == 200, answer.text
        return answer.json() if answer.json()["status"] != "running" else None

    return wait_until(f"workflow run {run_id} to end", ended)


@pytest.mark.usefixtures("diagnose")
def test_a_workflows_deployment_step_decides_on_its_model_not_the_policy(
    client: httpx.Client,
) -> None:
    """Under `ab_test`, a model a workflow trained is its deployment step's to promote: the
    policy starts no A/B test (which would refuse the step) and records that it left it. A
    workflow without a deployment step leaves its model to the policy."""
    sid, data = new_scenario(client, "ab_test", rule(300, 7))
    first = train(client, sid, data, "first")
    wait_until("the first model promoted", lambda: champion(client, sid) == first)

    deployed = run_workflow(client, sid, TRAIN_AND_DEPLOY)
    steps = {step["name"]: step for step in deployed["steps"]}
    assert deployed["status"] == "succeeded", deployed
    model = steps["train"]["output"]["model_id"]
    assert steps["deploy"]["output"]["promoted"] is True, steps["deploy"]
    left = decision_on(client, sid, model, "left_as_candidate")
    assert left["detail"]["deferred_to"] == "workflow", left
    assert left["detail"]["workflow_run_id"] == deployed["id"]
    assert left["detail"]["step"] == "deploy" and "deployment step 'deploy'" in left["reason"]
    assert champion(client, sid) == model
    state = deployment(client, sid)
    assert state["mode"] == "single" and state["challenger"] is None
    assert [item["decision"] for item in decisions(client, sid, model_id=model)] == [
        "left_as_candidate"
    ]

    trained = run_workflow(client, sid, TRAIN_ONLY)
    assert trained["status"] == "succeeded", trained
    candidate = trained["steps"][0]["output"]["model_id"]
    started = decision_on(client, sid, candidate, "ab_test_started")
    assert started["policy"] == "ab_test"
