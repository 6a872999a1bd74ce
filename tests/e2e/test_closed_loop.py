"""The closed loop on the real local stack (`make run`), through the public API and the bare
feedback topic only: a drifted scenario retrains and redeploys itself, an A/B test ends in a
promotion, and a promotion that does worse live is rolled back on probation.

Windows, episodes, cooldowns and sample sizes are shrunk by settings so each story takes
seconds of traffic; the models are small LightGBMs on a synthetic rule that the "shifted" data
changes (so a model trained on the new data is truly better on it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer

from bench.loop_data import frame, records
from tests.e2e.platform import Platform, start

SETTINGS = {
    "heartbeat_interval": "0.5",
    "heartbeat_timeout": "3",
    "outbox_poll_interval": "0.05",
    "prediction_flush_interval": "0.1",
    "monitor_window": "6",
    "monitor_interval": "1",
    "monitor_episode_windows": "2",
    "monitor_min_predictions": "30",
    "monitor_min_labelled": "20",
    "scheduler_tick": "0.5",
    "trigger_cooldown": "5",
    "ab_min_samples": "60",
    "ab_max_samples": "600",
    "probation_predictions": "40",
    "feedback_ttl": "120",
}
WAIT = 180.0


def wait_until(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = start(tmp_path_factory.mktemp("loop"), SETTINGS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(platform: Platform) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {platform.admin_key}"}
    with httpx.Client(base_url=platform.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def diagnose(platform: Platform, request: pytest.FixtureRequest) -> Iterator[None]:
    """On failure, print the tails of the loop's service logs."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for service in ("monitor", "scheduler", "trainer", "predictor"):
            print(f"--- {service} ---\n{platform.log(service)}")


def scenario(api: httpx.Client, name: str, policy: str, **extra: Any) -> str:
    created = api.post(
        "/api/scenarios",
        json={"name": name, "task_type": "classification", "deployment_policy": policy, **extra},
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def upload(api: httpx.Client, sid: str, data: pd.DataFrame) -> dict[str, Any]:
    sent = api.post(
        f"/api/scenarios/{sid}/data",
        files={"file": ("data.csv", data.to_csv(index=False).encode())},
        data={"path": "data.csv", "target": "label"},
    )
    assert sent.status_code in (200, 201), sent.text
    return sent.json()


def train(api: httpx.Client, sid: str, dataset: dict[str, Any], name: str) -> dict[str, Any]:
    experiment = api.post(
        f"/api/scenarios/{sid}/experiments",
        json={
            "name": name,
            "dataset_id": dataset["id"],
            "target": "label",
            "model": {"algorithm": "lightgbm", "parameters": {"n_estimators": 40}},
        },
    )
    assert experiment.status_code == 201, experiment.text
    run = api.post(f"/api/scenarios/{sid}/experiments/{experiment.json()['id']}/runs")
    assert run.status_code == 202, run.text
    return finished(api, sid, run.json()["id"])


def finished(api: httpx.Client, sid: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = api.get(f"/api/scenarios/{sid}/runs/{run_id}").json()
        return run if run["status"] in ("completed", "failed") else None

    run = wait_until(f"run {run_id}", done)
    assert run["status"] == "completed", run
    return run


def deployment(api: httpx.Client, sid: str) -> dict[str, Any]:
    answer = api.get(f"/api/scenarios/{sid}/deployments")
    assert answer.status_code == 200, answer.text
    return answer.json()


def champion(api: httpx.Client, sid: str) -> str | None:
    state = deployment(api, sid)
    return state["champion"]["id"] if state["champion"] else None


def predict(api: httpx.Client, sid: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = api.post(f"/api/scenarios/{sid}/predict", json={"records": batch})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def serving(api: httpx.Client, sid: str, model_id: str, data: pd.DataFrame) -> None:
    """Wait until the predictor answers with `model_id` (it learns of promotions by event)."""

    def answered_by_it() -> bool:
        answer = api.post(f"/api/scenarios/{sid}/predict", json={"records": records(data.head(3))})
        return answer.status_code == 200 and {
            p["model_id"] for p in answer.json()["predictions"]
        } == {model_id}

    wait_until(f"the predictor to serve {model_id}", answered_by_it, timeout=60)


def send_feedback(platform: Platform, messages: list[dict[str, Any]]) -> None:
    """Bare JSON on the feedback topic, as an app that is not ours would send it."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=platform.kafka)
        await producer.start()
        try:
            for message in messages:
                await producer.send(
                    "mloop.feedback", orjson.dumps(message), key=message["scenario_id"].encode()
                )
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def traffic(
    api: httpx.Client,
    platform: Platform,
    sid: str,
    data: pd.DataFrame,
    *,
    per_request: int = 10,
    pause: float = 0.05,
) -> list[dict[str, Any]]:
    """Predict every row of `data` through the gateway, then send the true labels as feedback."""
    answers = []
    for start_row in range(0, len(data), per_request):
        answers += predict(api, sid, records(data.iloc[start_row : start_row + per_request]))
        time.sleep(pause)
    send_feedback(
        platform,
        [
            {"scenario_id": sid, "prediction_id": answer["prediction_id"], "actual": label}
            for answer, label in zip(answers, data["label"], strict=True)
        ],
    )
    return answers


def history_reasons(api: httpx.Client, sid: str) -> list[str]:
    return [entry["reason"] for entry in deployment(api, sid)["history"]]


@pytest.mark.usefixtures("diagnose")
def test_drift_retrains_on_the_new_data_and_the_new_model_answers(
    api: httpx.Client, platform: Platform
) -> None:
    sid = scenario(
        api,
        "loop-drift",
        "auto",
        monitoring={"window_seconds": 6, "episode_windows": 2, "min_predictions": 30},
    )
    first = train(api, sid, upload(api, sid, frame(600, 1)), "first")
    wait_until("the first model to be promoted", lambda: champion(api, sid) == first["model_id"])
    serving(api, sid, first["model_id"], frame(3, 0))
    trigger = api.post(
        f"/api/scenarios/{sid}/triggers",
        json={"name": "on drift", "kind": "drift", "config": {"min_share": 0.3}},
    )
    assert trigger.status_code == 201, trigger.text

    calm = traffic(api, platform, sid, frame(120, 2))
    assert {answer["model_id"] for answer in calm} == {first["model_id"]}
    drift = wait_until(
        "a monitoring window",
        lambda: (
            (found := api.get(f"/api/scenarios/{sid}/monitoring/drift")).status_code == 200
            and found.json()
        ),
    )
    assert drift["drifted"] is False, drift

    newer = upload(api, sid, frame(600, 3, shift=3.0, rule="diff"))
    shifted = frame(2000, 4, shift=3.0, rule="diff")
    answered_by: set[str] = set()
    deadline = time.monotonic() + WAIT
    row = 0
    while champion(api, sid) == first["model_id"]:
        assert time.monotonic() < deadline, "no new champion after the drift"
        batch = shifted.iloc[row % 1900 : row % 1900 + 20]
        answered_by |= {answer["model_id"] for answer in predict(api, sid, records(batch))}
        row += 20
        time.sleep(0.1)

    state = deployment(api, sid)
    retrained = state["champion"]["id"]
    assert retrained != first["model_id"]
    runs = api.get(f"/api/scenarios/{sid}/runs").json()["items"]
    run = next(item for item in runs if item["model_id"] == retrained)
    assert run["trigger"] == "drift"
    model = api.get(f"/api/scenarios/{sid}/models/{retrained}").json()
    assert model["lineage"]["dataset_id"] == newer["id"], "the retrain did not use the newest data"
    firings = api.get(f"/api/scenarios/{sid}/triggers/{trigger.json()['id']}/firings").json()
    assert [firing["outcome"] for firing in firings["items"]].count("started") == 1
    assert api.get(f"/api/scenarios/{sid}/monitoring/drift").json()["drifted"] is True

    def new_model_answers() -> bool:
        return {a["model_id"] for a in predict(api, sid, records(shifted.head(5)))} == {retrained}

    wait_until("predictions from the retrained model", new_model_answers, timeout=30)


@pytest.mark.usefixtures("diagnose")
def test_an_ab_test_ends_by_promoting_the_better_challenger(
    api: httpx.Client, platform: Platform
) -> None:
    sid = scenario(api, "loop-ab", "ab_test")
    good = frame(600, 11)
    noisy = good.assign(label=np.random.default_rng(12).permutation(good["label"].to_numpy()))
    weak = train(api, sid, upload(api, sid, noisy), "weak")
    wait_until("the first model to be promoted", lambda: champion(api, sid) == weak["model_id"])
    serving(api, sid, weak["model_id"], good)
    strong = train(api, sid, upload(api, sid, good), "strong")
    test = wait_until(
        "an A/B test", lambda: (state := deployment(api, sid))["mode"] == "ab_test" and state
    )
    assert test["challenger"]["id"] == strong["model_id"]

    live = frame(3000, 13)
    row = 0
    while champion(api, sid) != strong["model_id"]:
        assert row < len(live), f"no decision after {row} labelled predictions"
        traffic(api, platform, sid, live.iloc[row : row + 100], per_request=5, pause=0)
        row += 100
        time.sleep(0.5)
    assert deployment(api, sid)["mode"] == "single"
    decisions = api.get(f"/api/scenarios/{sid}/deployments/decisions").json()["items"]
    promoted = [d["model_id"] for d in decisions if d["decision"] == "promoted"]
    assert strong["model_id"] in promoted


@pytest.mark.usefixtures("diagnose")
def test_a_promotion_that_does_worse_live_is_rolled_back_on_probation(
    api: httpx.Client, platform: Platform
) -> None:
    sid = scenario(api, "loop-probation", "auto")
    old = train(api, sid, upload(api, sid, frame(600, 21)), "old")
    wait_until("the first model to be promoted", lambda: champion(api, sid) == old["model_id"])
    serving(api, sid, old["model_id"], frame(3, 0))
    traffic(api, platform, sid, frame(100, 22))  # the old champion's live record: good

    # Training data that says the rule changed (it did not): the new model wins on its own
    # holdout, so `auto` promotes it, and then loses on live feedback.
    new = train(api, sid, upload(api, sid, frame(600, 23, rule="diff")), "new")
    wait_until("the new model to be promoted", lambda: champion(api, sid) == new["model_id"])
    serving(api, sid, new["model_id"], frame(3, 0))

    live = frame(2000, 24)
    row = 0
    while champion(api, sid) != old["model_id"]:
        assert row < len(live), "the new champion was never rolled back"
        traffic(api, platform, sid, live.iloc[row : row + 50], pause=0)
        row += 50
        time.sleep(0.5)
    assert "probation" in history_reasons(api, sid)
