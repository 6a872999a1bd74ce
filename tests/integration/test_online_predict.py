"""Online prediction on the real local stack: gateway, trainers, scheduler and predictor
processes over the local broker, Postgres and artifact folder.

One classification scenario with three LightGBM models (A, B, C) goes through the tests in
order: refusals before any champion, a first promotion, signature refusals, keys, the gateway's
forwarding, a hot swap under load, a tampered artifact, A/B routing, shadow mode, and a
predictor restart.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from mloop_client import MLoopClient
from mloop_common import topics

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification
from tests.integration.training_support import experiment, scenario_with_data, start, wait_for

WAIT = 60.0
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "colour"]


@pytest.fixture(scope="module")
def client(
    gateway: RunningGateway,
    trainers: list[RunningTrainer],
    scheduler: RunningService,
    predictor: RunningService,
) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


@pytest.fixture(scope="module")
def mloop(gateway: RunningGateway, client: httpx.Client) -> Iterator[MLoopClient]:
    with MLoopClient(gateway.url, gateway.admin_key) as mloop:
        yield mloop


@pytest.fixture(scope="module")
def direct(predictor: RunningService, gateway: RunningGateway) -> Iterator[httpx.Client]:
    """The predictor itself, with the admin key."""
    headers = {"Authorization": f"Bearer {gateway.admin_key}"}
    with httpx.Client(base_url=predictor.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def scenario(client: httpx.Client) -> tuple[str, list[str]]:
    """A classification scenario with three trained LightGBM models, A to C."""
    frame = classification()
    sid, dataset = scenario_with_data(client, "classification", frame)
    created = experiment(
        client,
        sid,
        dataset,
        name="gbm",
        target="species",
        algorithm="lightgbm",
        parameters={"n_estimators": 20},
    )
    runs = [start(client, sid, created["id"]) for _ in range(3)]
    models = []
    for run in runs:
        done = wait_for(client, sid, run["id"])
        assert done["status"] == "completed", done["error"]
        models.append(done["model_id"])
    return sid, models


def record(i: int = 0) -> dict[str, Any]:
    rows = classification().head(150)
    row = rows.iloc[i % len(rows)]
    return {name: row[name].item() if hasattr(row[name], "item") else row[name] for name in COLUMNS}


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return answer.json()


def served(direct: httpx.Client, sid: str) -> dict[str, Any] | None:
    for entry in direct.get("/api/deployments").json()["scenarios"]:
        if entry["scenario_id"] == sid:
            return entry
    return None


def wait_served(direct: httpx.Client, sid: str, version: int) -> dict[str, Any]:
    """Until the predictor serves deployment `version` (or a later one) of the scenario."""
    deadline = time.monotonic() + WAIT
    while True:
        entry = served(direct, sid)
        if entry and entry["state"] and entry["state"]["version"] >= version:
            return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"predictor still serves {entry} of {sid}")
        time.sleep(0.1)


def promote(client: httpx.Client, mloop: MLoopClient, sid: str, model_id: str) -> int:
    """Promote through the API; the version the scheduler applied."""
    sent = client.post(f"/api/scenarios/{sid}/models/{model_id}/promote", json={})
    assert sent.status_code == 202, sent.text
    state = mloop.wait_for_deployment(
        sid, champion=model_id, version_at_least=sent.json()["version"] + 1, timeout=WAIT
    )
    return state["version"]


def predict(http: httpx.Client, sid: str, records: list[Any], **extra: Any) -> httpx.Response:
    return http.post(f"/api/scenarios/{sid}/predict", json={"records": records, **extra})


def test_refusals_before_a_champion(
    client: httpx.Client, direct: httpx.Client, scenario: tuple[str, list[str]]
) -> None:
    sid, _ = scenario
    unknown = "00000000-0000-4000-8000-000000000000"
    for http in (direct, client):
        problem(predict(http, unknown, [record()]), 404)
        problem(predict(http, "not-a-uuid", [record()]), 404)
        assert problem(predict(http, sid, [record()]), 409)["detail"] == (
            "scenario has no champion yet"
        )
    anonymous = httpx.post(f"{direct.base_url}/api/scenarios/{sid}/predict", json={"records": []})
    problem(anonymous, 401)


def test_first_champion_answers_with_labels_and_probabilities(
    client: httpx.Client, mloop: MLoopClient, direct: httpx.Client, scenario
) -> None:
    sid, (a, _, _) = scenario
    version = promote(client, mloop, sid, a)
    entry = wait_served(direct, sid, version)
    assert entry["champion"]["model_id"] == a
    assert entry["champion"]["fast_path"].startswith("lightgbm booster"), entry
    answer = predict(direct, sid, [record(0), record(60), record(120)])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_id"] == a
    labels = [p["prediction"] for p in body["predictions"]]
    assert labels == ["setosa", "versicolor", "virginica"]
    for one in body["predictions"]:
        assert set(one["probabilities"]) == {"setosa", "versicolor", "virginica"}
        assert sum(one["probabilities"].values()) == pytest.approx(1.0)
        assert one["arm"] == "champion" and one["model_id"] == a
        assert len(one["prediction_id"]) == 32
    through_gateway = predict(client, sid, [record(0)])
    assert through_gateway.status_code == 200, through_gateway.text
    assert through_gateway.json()["predictions"][0]["prediction"] == "setosa"


def test_signature_refusals_list_each_record_and_field(
    client: httpx.Client, direct: httpx.Client, scenario
) -> None:
    sid, _ = scenario
    good = record(0)
    records = [
        good,
        {k: v for k, v in good.items() if k != "petal_width"},  # missing column
        dict(good, sepal_length="long"),  # unusable value
        dict(good, sepal_width=[1.0]),  # wrong type
        dict(good, colour={"r": 1}),  # wrong type for a category
        "a string",  # not an object
        dict(good, colour="purple", sepal_length="5.1"),  # unseen category, numeric text: fine
    ]
    for http in (direct, client):
        body = problem(predict(http, sid, records), 422)
        faults = [(e["record"], e["field"]) for e in body["errors"]]
        assert faults == [
            (1, "petal_width"),
            (2, "sepal_length"),
            (3, "sepal_width"),
            (4, "colour"),
            (5, None),
        ]
        assert body["errors"][0]["message"] == "missing column"
        assert body["errors"][0]["loc"] == ["body", "records", 1, "petal_width"]
    assert predict(direct, sid, [records[-1]]).status_code == 200
    problem(predict(direct, sid, []), 422)
    problem(direct.post(f"/api/scenarios/{sid}/predict", json={"rows": [good]}), 422)
    problem(direct.post(f"/api/scenarios/{sid}/predict", content=b"{nope"), 422)
    problem(predict(direct, sid, [good] * 1001), 422)  # MLOOP_PREDICT_MAX_RECORDS
    problem(predict(direct, sid, [good], k=3), 422)  # k is for recommendation
    huge = [dict(good, note="x" * 1000) for _ in range(1100)]
    problem(predict(direct, sid, huge), 413)
    problem(predict(client, sid, huge), 413)


def test_keys_predictor_role_scenario_limits_and_revocation(
    client: httpx.Client, predictor: RunningService, scenario
) -> None:
    sid, _ = scenario

    def key(role: str, **extra: Any) -> dict[str, Any]:
        created = client.post("/api/keys", json={"name": f"p1 {role}", "role": role, **extra})
        assert created.status_code == 201, created.text
        return created.json()

    def call(base: str, secret: str) -> httpx.Response:
        return httpx.post(
            f"{base}/api/scenarios/{sid}/predict",
            json={"records": [record()]},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )

    predictor_key = key("predictor")
    other = client.post("/api/scenarios", json={"name": "p1 other", "task_type": "regression"})
    elsewhere = key("predictor", scenarios=[other.json()["id"]])
    viewer = key("viewer")
    gateway_url = str(client.base_url).rstrip("/")
    deadline = time.monotonic() + WAIT  # new keys reach the replicas through KeysChanged
    while call(predictor.url, viewer["key"]).status_code == 401:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for base in (predictor.url, gateway_url):
        assert call(base, predictor_key["key"]).status_code == 200
        problem(call(base, elsewhere["key"]), 404)
        problem(call(base, viewer["key"]), 403)
        problem(call(base, "forged-key-forged-key"), 401)

    assert client.delete(f"/api/keys/{predictor_key['id']}").status_code == 204
    revoked_at = time.monotonic()
    while call(predictor.url, predictor_key["key"]).status_code != 401:
        assert time.monotonic() - revoked_at < 5.0, "a revoked key still works after 5 s"
        time.sleep(0.1)
    problem(call(gateway_url, predictor_key["key"]), 401)


def test_hot_swap_under_load_fails_no_request(
    client: httpx.Client, mloop: MLoopClient, direct: httpx.Client, predictor, scenario
) -> None:
    sid, (a, b, _) = scenario
    statuses: Counter[int] = Counter()
    models: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def hammer(n: int) -> None:
        with httpx.Client(base_url=predictor.url, headers=direct.headers, timeout=30) as http:
            while not stop.is_set():
                answer = predict(http, sid, [record(n)])
                with lock:
                    statuses[answer.status_code] += 1
                    if answer.status_code == 200:
                        models.append(answer.json()["model_id"])

    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        version = promote(client, mloop, sid, b)
        wait_served(direct, sid, version)
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert set(statuses) == {200}, statuses
    assert models[0] == a and models[-1] == b
    switched = models.index(b)
    assert set(models[:switched]) == {a}
    assert models.count(a) + models.count(b) == len(models)


def artifact_path(gateway: RunningGateway, sid: str, model_id: str) -> Path:
    root = Path(urlsplit(gateway.settings.resolved_artifact_url).path)
    return root / "scenarios" / sid / "models" / model_id / "model.joblib"


def test_a_tampered_artifact_is_refused_and_the_current_model_keeps_serving(
    client: httpx.Client,
    mloop: MLoopClient,
    direct: httpx.Client,
    gateway: RunningGateway,
    scenario,
) -> None:
    sid, (_, b, c) = scenario
    path = artifact_path(gateway, sid, c)
    original = path.read_bytes()
    path.write_bytes(original + b"tampered")
    try:
        promote(client, mloop, sid, c)
        deadline = time.monotonic() + WAIT
        while not (served(direct, sid) or {}).get("last_refusal"):
            assert time.monotonic() < deadline, served(direct, sid)
            time.sleep(0.1)
        entry = served(direct, sid)
        assert entry["champion"]["model_id"] == b
        assert entry["last_refusal"]["model_id"] == c
        assert "sha256" in entry["last_refusal"]["reason"]
        answer = predict(direct, sid, [record()])
        assert answer.status_code == 200 and answer.json()["model_id"] == b
        metrics = direct.get("/metrics").text
        assert "mloop_predictor_model_refusals_total 1.0" in metrics
    finally:
        path.write_bytes(original)
    version = promote(client, mloop, sid, b)
    wait_served(direct, sid, version)


def arms_of(http: httpx.Client, sid: str, records: list[dict[str, Any]]) -> list[str]:
    out = []
    for one in records:
        answer = predict(http, sid, [one])
        assert answer.status_code == 200, answer.text
        out.append(answer.json()["predictions"][0]["arm"])
    return out


def test_ab_shares_and_stickiness(
    client: httpx.Client, mloop: MLoopClient, direct: httpx.Client, scenario
) -> None:
    sid, (a, b, _) = scenario
    test = mloop.start_ab_test(sid, a, challenger_share=0.3)
    running = mloop.wait_for_ab_test(sid, test["test_id"], timeout=WAIT)
    entry = wait_served(direct, sid, running.get("version", 0))
    deadline = time.monotonic() + WAIT
    while (entry["state"] or {}).get("mode") != "ab_test":
        assert time.monotonic() < deadline, entry
        time.sleep(0.1)
        entry = served(direct, sid)
    arms = arms_of(direct, sid, [record(i) for i in range(1000)])
    share = arms.count("challenger") / len(arms)
    assert 0.25 <= share <= 0.35, share
    answer = predict(direct, sid, [record()]).json()
    arm = answer["predictions"][0]["arm"]
    assert answer["predictions"][0]["model_id"] == (a if arm == "challenger" else b)
    mloop.end_ab_test(sid, test["test_id"])
    mloop.wait_for_ab_test(sid, test["test_id"], status="ended", timeout=WAIT)

    sticky = mloop.start_ab_test(sid, a, challenger_share=0.5, sticky_column="colour")
    mloop.wait_for_ab_test(sid, sticky["test_id"], timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while ((served(direct, sid) or {}).get("state") or {}).get("sticky_column") != "colour":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    by_colour: dict[str, set[str]] = {}
    for i in range(90):
        one = record(i)
        (arm,) = arms_of(direct, sid, [one])
        by_colour.setdefault(one["colour"], set()).add(arm)
    assert all(len(found) == 1 for found in by_colour.values()), by_colour
    mloop.end_ab_test(sid, sticky["test_id"])
    mloop.wait_for_ab_test(sid, sticky["test_id"], status="ended", timeout=WAIT)


async def _logged(settings: Any, wanted: set[str], timeout: float) -> list[dict[str, Any]]:
    """PredictionMade records whose prediction id is in `wanted`, read from the topic."""
    consumer = AIOKafkaConsumer(
        topics.PREDICTION_MADE,
        bootstrap_servers=settings.require_kafka(),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for message in records:
                    for one in orjson.loads(message.value)["predictions"]:
                        if one["prediction_id"] in wanted:
                            found.append(one)
            arms = Counter(one["arm"] for one in found)
            if arms["shadow"] >= len(wanted) and arms["champion"] >= len(wanted):
                break
    finally:
        await consumer.stop()
    return found


def test_shadow_scores_every_request_and_only_the_champion_answers(
    client: httpx.Client,
    mloop: MLoopClient,
    direct: httpx.Client,
    gateway: RunningGateway,
    scenario,
) -> None:
    sid, (a, b, _) = scenario
    test = mloop.start_ab_test(sid, a, mode="shadow")
    mloop.wait_for_ab_test(sid, test["test_id"], timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while ((served(direct, sid) or {}).get("state") or {}).get("mode") != "shadow":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    ids = set()
    for i in range(20):
        body = predict(direct, sid, [record(i), record(i + 70)]).json()
        assert body["model_id"] == b
        for one in body["predictions"]:
            assert one["arm"] == "champion" and one["model_id"] == b
            ids.add(one["prediction_id"])
    logged = asyncio.run(_logged(gateway.settings, ids, WAIT))
    shadow = {one["prediction_id"]: one for one in logged if one["arm"] == "shadow"}
    champion = {one["prediction_id"]: one for one in logged if one["arm"] == "champion"}
    assert set(shadow) == ids and set(champion) == ids
    assert {one["model_id"] for one in shadow.values()} == {a}
    assert {one["model_id"] for one in champion.values()} == {b}
    some = next(iter(ids))
    assert shadow[some]["inputs"] == champion[some]["inputs"]
    assert set(shadow[some]["output"]) == {"prediction", "probabilities"}
    mloop.end_ab_test(sid, test["test_id"])
    mloop.wait_for_ab_test(sid, test["test_id"], status="ended", timeout=WAIT)


def test_a_restarted_predictor_serves_the_current_champion(
    client: httpx.Client, mloop: MLoopClient, direct: httpx.Client, predictor, scenario
) -> None:
    sid, (_, b, _) = scenario
    champion = mloop.deployments(sid)["champion"]["model_id"]
    assert champion == b
    predictor.kill()
    try:
        down = predict(client, sid, [record()])
        problem(down, 503)
    finally:
        predictor.start()
    answer = predict(direct, sid, [record()])
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_id"] == champion
    through_gateway = predict(client, sid, [record()])
    assert through_gateway.status_code == 200, through_gateway.text
