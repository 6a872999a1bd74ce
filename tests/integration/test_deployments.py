"""Deployments on the real local stack: the gateway accepts promote / rollback / A/B commands,
the scheduler process applies them through Kafka and Postgres, and GET shows the result.

One scenario with four trained models (A, B, C, D) goes through the tests in order:
promotions and rollbacks, A/B and shadow tests, a redelivered command, then a cleanup that must
keep the deployed models.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from mloop_client import MLoopClient
from mloop_common import topics
from mloop_common.messages.commands import PromoteModel

from tests.fixtures.messaging import read_topic
from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification
from tests.integration.training_support import experiment, scenario_with_data, start, wait_for

MLOOP = shutil.which("mloop", path=str(Path(sys.executable).parent)) or shutil.which("mloop")
WAIT = 60.0  # the scheduler's consumer groups may still be joining for the first command


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


@pytest.fixture(scope="module")
def scenario(client: httpx.Client) -> tuple[str, list[str]]:
    """A classification scenario with four trained models, A to D."""
    sid, dataset = scenario_with_data(client, "classification", classification())
    created = experiment(
        client,
        sid,
        dataset,
        name="lr",
        target="species",
        algorithm="logistic_regression",
    )
    runs = [start(client, sid, created["id"]) for _ in range(4)]
    models = []
    for run in runs:
        done = wait_for(client, sid, run["id"])
        assert done["status"] == "completed", done["error"]
        models.append(done["model_id"])
    return sid, models


def state(client: httpx.Client, sid: str, **params: Any) -> dict[str, Any]:
    answer = client.get(f"/api/scenarios/{sid}/deployments", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def accepted(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "accepted"
    return answer.json()


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return answer.json()


def promote(
    client: httpx.Client, mloop: MLoopClient, sid: str, model_id: str, **body: Any
) -> dict[str, Any]:
    """Promote through the API and wait until the scheduler applied it."""
    sent = accepted(client.post(f"/api/scenarios/{sid}/models/{model_id}/promote", json=body))
    return mloop.wait_for_deployment(
        sid, champion=model_id, version_at_least=sent["version"] + 1, timeout=WAIT
    )


def rollback(client: httpx.Client, mloop: MLoopClient, sid: str, expect: str) -> dict[str, Any]:
    sent = accepted(client.post(f"/api/scenarios/{sid}/models/rollback"))
    assert sent["model_id"] == expect
    return mloop.wait_for_deployment(
        sid, champion=expect, version_at_least=sent["version"] + 1, timeout=WAIT
    )


def test_promote_and_roll_back_with_history(
    client: httpx.Client, mloop: MLoopClient, scenario: tuple[str, list[str]]
) -> None:
    sid, (a, b, c, _) = scenario
    empty = state(client, sid)
    assert (empty["version"], empty["champion"], empty["history"]) == (0, None, [])
    assert (
        "no champion"
        in problem(client.post(f"/api/scenarios/{sid}/models/rollback"), 409)["detail"]
    )
    problem(client.post(f"/api/scenarios/{sid}/models/{uuid.uuid4()}/promote"), 404)
    other = client.post("/api/scenarios", json={"name": "other", "task_type": "classification"})
    problem(client.post(f"/api/scenarios/{other.json()['id']}/models/{a}/promote"), 404)
    problem(client.post(f"/api/scenarios/{sid}/models/{a}/promote", json={"reason": "x"}), 422)

    first = promote(client, mloop, sid, a)
    shown = state(client, sid)
    assert first["version"] == shown["version"] == 1 and shown["mode"] == "single"
    champion = shown["champion"]
    assert champion["model_id"] == a and champion["algorithm"] == "logistic_regression"
    assert champion["primary_metric"] == "f1_weighted" and champion["primary_value"] > 0.5
    assert champion["since"] is not None and shown["rollback_target"] is None
    (entry,) = shown["history"]
    assert entry | {"id": None, "at": None, "requested_by": None} == {
        "id": None,
        "version": 1,
        "alias": "champion",
        "action": "promote",
        "model_id": a,
        "previous_model_id": None,
        "reason": "manual",
        "requested_by": None,
        "requested_by_name": "bootstrap admin",
        "at": None,
    }
    assert entry["requested_by"] and entry["at"]

    assert (
        "already" in problem(client.post(f"/api/scenarios/{sid}/models/{a}/promote"), 409)["detail"]
    )
    assert (
        "first champion"
        in problem(client.post(f"/api/scenarios/{sid}/models/rollback"), 409)["detail"]
    )

    promote(client, mloop, sid, b, reason="policy")
    promote(client, mloop, sid, c)
    assert state(client, sid)["rollback_target"] == b

    back = rollback(client, mloop, sid, expect=b)
    assert back["version"] == 4
    latest = state(client, sid)["history"][0]
    assert (
        latest["action"],
        latest["reason"],
        latest["model_id"],
        latest["previous_model_id"],
    ) == (
        "rollback",
        "rollback",
        b,
        c,
    )
    rollback(client, mloop, sid, expect=a)
    refused = problem(client.post(f"/api/scenarios/{sid}/models/rollback"), 409)
    assert refused["title"] == "Nothing to roll back"

    history = state(client, sid, history_limit=2)
    assert [e["version"] for e in history["history"]] == [5, 4]
    older = client.get(
        f"/api/scenarios/{sid}/deployments/history",
        params={"cursor": history["history_next_cursor"]},
    ).json()
    assert [(e["version"], e["action"]) for e in older["items"]] == [
        (3, "promote"),
        (2, "promote"),
        (1, "promote"),
    ]
    assert older["items"][1]["reason"] == "policy"

    if MLOOP:  # the CLI shows the same state
        env = {**os.environ, "MLOOP_URL": mloop.url, "MLOOP_API_KEY": mloop.api_key or ""}
        shown_by_cli = subprocess.run(
            [MLOOP, "--json", "deployments", sid], env=env, capture_output=True, text=True
        )
        assert shown_by_cli.returncode == 0, shown_by_cli.stderr
        assert json.loads(shown_by_cli.stdout)["champion"]["model_id"] == a


def test_ab_and_shadow_tests(
    client: httpx.Client, mloop: MLoopClient, scenario: tuple[str, list[str]]
) -> None:
    sid, (a, b, c, _) = scenario
    assert state(client, sid)["champion"]["model_id"] == a
    tests = f"/api/scenarios/{sid}/ab-tests"

    def refused(status: int, field: str | None, **body: Any) -> dict[str, Any]:
        found = problem(client.post(tests, json={"challenger_model_id": b} | body), status)
        if field is not None:
            assert [e["loc"] for e in found["errors"]] == [["body", field]], found
        return found

    refused(422, "challenger_share", challenger_share=1.5)
    refused(422, "challenger_share", challenger_share=0)
    refused(422, "challenger_share", mode="shadow", challenger_share=0.3)
    refused(422, "primary_metric", primary_metric="rmse")
    refused(422, "sticky_column", sticky_column="no_such_column")
    refused(422, "min_samples", min_samples=0)
    refused(404, "challenger_model_id", challenger_model_id=str(uuid.uuid4()))
    refused(409, "champion_model_id", champion_model_id=b)
    refused(409, "challenger_model_id", challenger_model_id=a)

    started = accepted(
        client.post(
            tests,
            json={
                "challenger_model_id": b,
                "champion_model_id": a,
                "challenger_share": 0.3,
                "sticky_column": "colour",
                "primary_metric": "accuracy",
                "min_samples": 50,
            },
        )
    )
    test_id = started["test_id"]
    running = mloop.wait_for_ab_test(sid, test_id, timeout=WAIT)
    assert running["mode"] == "ab_test" and running["challenger_share"] == 0.3
    assert running["arms"]["champion"] == {
        "model_id": a,
        "arm": "champion",
        "predictions": 0,
        "labelled": 0,
        "metric": None,
        "confidence_interval": None,
        "primary_value": None,
    }
    assert running["arms"]["challenger"]["model_id"] == b
    assert running["results"]["status"] == "pending_feedback"
    shown = state(client, sid)
    assert (shown["mode"], shown["challenger"]["model_id"], shown["sticky_column"]) == (
        "ab_test",
        b,
        "colour",
    )
    assert shown["ab_test"]["id"] == test_id and shown["challenger_share"] == 0.3
    listed = client.get(tests, params={"status": "running"}).json()["items"]
    assert [t["id"] for t in listed] == [test_id]

    assert "end it before" in refused(409, None, challenger_model_id=c)["detail"]
    problem(client.post(f"/api/scenarios/{sid}/models/{c}/promote"), 409)

    ended = accepted(client.post(f"{tests}/{test_id}/end", json={"promote_challenger": False}))
    assert ended["model_id"] == a
    after = mloop.wait_for_deployment(sid, version_at_least=ended["version"] + 1, timeout=WAIT)
    assert (after["mode"], after["champion"]["model_id"], after["challenger"]) == (
        "single",
        a,
        None,
    )
    closed = client.get(f"{tests}/{test_id}").json()
    assert (closed["status"], closed["winner_model_id"], closed["end_reason"]) == (
        "ended",
        None,
        "manual",
    )
    problem(client.post(f"{tests}/{test_id}/end"), 409)
    problem(client.post(f"{tests}/{uuid.uuid4()}/end"), 404)
    problem(client.get(f"{tests}/{uuid.uuid4()}"), 404)

    shadow = accepted(client.post(tests, json={"challenger_model_id": c, "mode": "shadow"}))
    assert shadow["challenger_share"] == 0 and shadow["primary_metric"] == "f1_weighted"
    shadowing = mloop.wait_for_ab_test(sid, shadow["test_id"], timeout=WAIT)
    assert shadowing["arms"]["challenger"]["arm"] == "shadow"
    shown = state(client, sid)
    assert (shown["mode"], shown["challenger_share"], shown["challenger"]["model_id"]) == (
        "shadow",
        0.0,
        c,
    )

    won = accepted(
        client.post(f"{tests}/{shadow['test_id']}/end", json={"promote_challenger": True})
    )
    assert won["model_id"] == c
    after = mloop.wait_for_deployment(
        sid, champion=c, version_at_least=won["version"] + 1, timeout=WAIT
    )
    assert after["mode"] == "single" and after["challenger"] is None
    newest = state(client, sid)["history"][:2]
    assert {(e["alias"], e["action"], e["model_id"], e["previous_model_id"]) for e in newest} == {
        ("champion", "promote", c, a),
        ("challenger", "ab_test_ended", None, c),
    }
    assert client.get(f"{tests}/{shadow['test_id']}").json()["winner_model_id"] == c

    # A rollback is the emergency brake: it works during a test, and ends it.
    again = accepted(client.post(tests, json={"challenger_model_id": b, "challenger_share": 0.5}))
    mloop.wait_for_ab_test(sid, again["test_id"], timeout=WAIT)
    rollback(client, mloop, sid, expect=a)
    stopped = client.get(f"{tests}/{again['test_id']}").json()
    assert (stopped["status"], stopped["end_reason"]) == ("ended", "rollback")
    assert state(client, sid)["mode"] == "single"
    assert len(client.get(tests).json()["items"]) == 3


def test_a_redelivered_command_is_applied_once_and_an_impossible_one_writes_nothing(
    client: httpx.Client,
    mloop: MLoopClient,
    gateway: RunningGateway,
    scenario: tuple[str, list[str]],
) -> None:
    sid, (a, b, c, _) = scenario
    before = state(client, sid)
    assert before["champion"]["model_id"] == a
    scenario_id = uuid.UUID(sid)
    twice = PromoteModel(scenario_id=scenario_id, model_id=uuid.UUID(b))
    impossible = PromoteModel(scenario_id=scenario_id, model_id=uuid.uuid4())
    follower = PromoteModel(scenario_id=scenario_id, model_id=uuid.UUID(c))
    # One topic, one key: delivered in this order.
    asyncio.run(_publish(gateway.settings.kafka_bootstrap, twice, twice, impossible, follower))

    after = mloop.wait_for_deployment(
        sid, champion=c, version_at_least=before["version"] + 2, timeout=WAIT
    )
    assert after["version"] == before["version"] + 2
    added = state(client, sid, history_limit=2)["history"]
    assert [(e["version"], e["model_id"], e["previous_model_id"]) for e in added] == [
        (before["version"] + 2, c, b),
        (before["version"] + 1, b, a),
    ]
    assert added[0]["requested_by"] is None and added[0]["requested_by_name"] is None

    letters = asyncio.run(read_topic(gateway.settings, topics.DEAD_LETTER, expect=10**6, timeout=2))
    mine = [json.loads(r.value) for r in letters]
    refusals = [
        letter
        for letter in mine
        if letter["topic"] == topics.PROMOTE_MODEL and str(impossible.event_id) in letter["payload"]
    ]
    assert len(refusals) == 1 and "does not exist in scenario" in refusals[0]["error"]


async def _publish(bootstrap: str | None, *commands: PromoteModel) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for command in commands:
            await producer.send_and_wait(
                command.topic, command.model_dump_json().encode(), key=command.partition_key
            )
    finally:
        await producer.stop()


def test_cleanup_keeps_the_deployed_models(
    client: httpx.Client, mloop: MLoopClient, scenario: tuple[str, list[str]]
) -> None:
    sid, (a, b, c, d) = scenario
    shown = state(client, sid)
    assert (shown["champion"]["model_id"], shown["rollback_target"]) == (c, b)
    test = mloop.start_ab_test(sid, d, mode="shadow")
    mloop.wait_for_ab_test(sid, test["test_id"], timeout=WAIT)

    cleaned = client.post(f"/api/scenarios/{sid}/models/cleanup", json={"keep": 0})

    assert cleaned.status_code == 202, cleaned.text
    assert set(cleaned.json()["kept"]) == {b, c, d}
    assert cleaned.json()["deleted"] == [a]
