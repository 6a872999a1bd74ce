"""The prediction log on the real local stack: the monitor stores `PredictionMade` batches
(once, however often delivered), the gateway pages, filters and shows them, and cleanup asks the
monitor to delete old ones.

Most messages here are published straight onto the topic (as the predictor does), with ids
signed by `PredictionIds` at chosen moments, so old predictions can be made on purpose.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from mloop_common import topics
from mloop_common.db.engine import Database
from mloop_common.messages import Message
from mloop_common.messages.events import PredictionMade, PredictionRecord
from mloop_common.prediction_ids import PredictionIds
from mloop_common.settings import Settings
from sqlalchemy import text

from tests.fixtures.messaging import read_topic
from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification
from tests.integration.training_support import experiment, scenario_with_data, start, wait_for

WAIT = 30.0


@pytest.fixture(scope="module")
def client(gateway: RunningGateway, monitor: RunningService) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


@pytest.fixture(scope="module")
def ids(gateway: RunningGateway) -> PredictionIds:
    return PredictionIds(gateway.settings.prediction_secret)


def new_scenario(client: httpx.Client) -> uuid.UUID:
    created = client.post("/api/scenarios", json={"name": "log", "task_type": "regression"})
    assert created.status_code == 201, created.text
    return uuid.UUID(created.json()["id"])


def record(
    prediction_id: str,
    model_id: uuid.UUID,
    *,
    arm: str = "champion",
    x: float = 1.0,
    output: Any = None,
) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=prediction_id,
        model_id=model_id,
        arm=arm,
        inputs={"x": x, "shop": "north"},
        output={"prediction": x * 2} if output is None else output,
        latency_ms=0.4,
        predicted_at=datetime.now(UTC),
    )


def publish(settings: Settings, *messages: Message) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=False
        )
        await producer.start()
        try:
            for message in messages:
                await producer.send_and_wait(
                    message.topic, message.model_dump_json().encode(), key=message.partition_key
                )
        finally:
            await producer.stop()

    asyncio.run(send())


def all_items(client: httpx.Client, sid: uuid.UUID, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(
            f"/api/scenarios/{sid}/predictions",
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def eventually(check: Callable[[], Any], *, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def db_rows(settings: Settings, query: str, **params: Any) -> list[Any]:
    async def run() -> list[Any]:
        db = Database.from_settings(settings)
        try:
            async with db.transaction() as session:
                return list((await session.execute(text(query), params)).all())
        finally:
            await db.close()

    return asyncio.run(run())


def test_logged_predictions_are_stored_once_paged_filtered_and_shown(
    client: httpx.Client, gateway: RunningGateway, ids: PredictionIds
) -> None:
    sid = new_scenario(client)
    champion, challenger, shadow = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    moments = [now - timedelta(minutes=minutes) for minutes in range(9)]
    answered = [ids.issue(sid, at) for at in moments]
    records = [record(pid, champion, x=float(i)) for i, pid in enumerate(answered)]
    records.append(record(answered[2], shadow, arm="shadow", x=2.0, output={"prediction": 99}))
    records.append(record(answered[8], shadow, arm="shadow", x=8.0))
    by_challenger = ids.issue(sid, now - timedelta(seconds=30))
    records.append(record(by_challenger, challenger, arm="challenger", x=42.0))
    first = PredictionMade(scenario_id=sid, predictions=records)
    again = PredictionMade(scenario_id=sid, predictions=records[:3])  # other message, same rows
    publish(gateway.settings, first, first, again)  # `first` delivered twice

    expected = len(records)
    eventually(lambda: len(all_items(client, sid)) >= expected)
    time.sleep(1.0)  # let the duplicates arrive too: they must add nothing
    items = all_items(client, sid, limit=4)
    assert len(items) == expected
    keys = [(i["predicted_at"], i["prediction_id"], i["arm"]) for i in items]
    assert len(set(keys)) == expected
    times = [datetime.fromisoformat(i["predicted_at"]) for i in items]
    assert times == sorted(times, reverse=True)
    stored = db_rows(
        gateway.settings,
        "SELECT count(*) FROM predictions WHERE scenario_id = :sid",
        sid=sid,
    )
    assert stored[0][0] == expected

    # The stored moment is the one inside the id; inputs and outputs come back as sent.
    top = items[0]
    assert top["prediction_id"] == answered[0]
    assert datetime.fromisoformat(top["predicted_at"]) == ids.verify(sid, answered[0])
    assert top["inputs"] == {"x": 0.0, "shop": "north"} and top["output"] == {"prediction": 0.0}

    # Filters: model, arm, time range (since inclusive, until exclusive).
    only = all_items(client, sid, model_id=str(challenger))
    assert [i["prediction_id"] for i in only] == [by_challenger]
    shadows = all_items(client, sid, arm="shadow")
    assert {i["prediction_id"] for i in shadows} == {answered[2], answered[8]}
    since = ids.verify(sid, answered[4])
    until = ids.verify(sid, answered[1])
    window = all_items(
        client, sid, since=since.isoformat(), until=until.isoformat(), arm="champion"
    )
    assert [i["prediction_id"] for i in window] == answered[2:5]

    # One prediction: the answer and, in shadow mode, the challenger's output beside it.
    shown = client.get(f"/api/scenarios/{sid}/predictions/{answered[2]}")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["arm"], body["model_id"]) == ("champion", str(champion))
    assert body["shadow"]["model_id"] == str(shadow)
    assert body["shadow"]["output"] == {"prediction": 99}
    plain = client.get(f"/api/scenarios/{sid}/predictions/{by_challenger}").json()
    assert plain["arm"] == "challenger" and plain["shadow"] is None

    # Ids this deployment did not issue for this scenario are 404 (checked before Postgres).
    forged = answered[0][:-1] + ("A" if answered[0][-1] != "A" else "B")
    other = ids.issue(uuid.uuid4(), now)
    for bad in (forged, other, "not-an-id", answered[0] + "x"):
        missing = client.get(f"/api/scenarios/{sid}/predictions/{bad}")
        assert missing.status_code == 404, (bad, missing.text)
    unlogged = ids.issue(sid, now)
    assert client.get(f"/api/scenarios/{sid}/predictions/{unlogged}").status_code == 404

    # A bad cursor or filter is a 422 naming it.
    bad_cursor = client.get(f"/api/scenarios/{sid}/predictions", params={"cursor": "zzz"})
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["loc"] == ["query", "cursor"]
    bad_arm = client.get(f"/api/scenarios/{sid}/predictions", params={"arm": "left"})
    assert bad_arm.status_code == 422
    assert client.get(f"/api/scenarios/{uuid.uuid4()}/predictions").status_code == 404


def test_a_message_with_an_id_that_does_not_verify_is_parked_whole(
    client: httpx.Client, gateway: RunningGateway, ids: PredictionIds
) -> None:
    sid = new_scenario(client)
    model = uuid.uuid4()
    good = ids.issue(sid, datetime.now(UTC))
    stranger = PredictionIds("another-secret-0123456789").issue(sid, datetime.now(UTC))
    mixed = PredictionMade(
        scenario_id=sid, predictions=[record(good, model), record(stranger, model)]
    )
    publish(gateway.settings, mixed)

    def parked() -> list[dict[str, Any]]:
        letters = asyncio.run(
            read_topic(gateway.settings, topics.DEAD_LETTER, expect=10**6, timeout=1)
        )
        return [
            letter
            for letter in (json.loads(r.value) for r in letters)
            if letter["consumer"] == "mloop.monitor.predictions"
            and str(mixed.event_id) in letter["payload"]
        ]

    letters = eventually(parked)
    assert "does not verify" in letters[0]["error"] and "1 of 2" in letters[0]["error"]
    assert all_items(client, sid) == []


def test_cleanup_deletes_predictions_older_than_an_age_or_a_moment(
    client: httpx.Client, gateway: RunningGateway, ids: PredictionIds
) -> None:
    sid = new_scenario(client)
    model = uuid.uuid4()
    now = datetime.now(UTC)
    ages = {"ancient": 40, "old": 10, "recent": 3, "new": 0}
    made = {name: ids.issue(sid, now - timedelta(days=days)) for name, days in ages.items()}
    publish(
        gateway.settings,
        PredictionMade(scenario_id=sid, predictions=[record(pid, model) for pid in made.values()]),
    )
    eventually(lambda: len(all_items(client, sid)) == 4)
    partitions = db_rows(
        gateway.settings,
        "SELECT relname FROM pg_class WHERE relname = :name",
        name=f"predictions_{(now - timedelta(days=40)):%Y%m%d}",
    )
    assert partitions, "the day of the ancient prediction got its partition"

    both = {"older_than_days": 5, "older_than": now.isoformat()}
    for wrong in ({}, both, {"older_than_days": 0}, {"older_than_days": 1e9}):
        refused = client.post(f"/api/scenarios/{sid}/predictions/cleanup", json=wrong)
        assert refused.status_code == 422, (wrong, refused.text)

    accepted = client.post(f"/api/scenarios/{sid}/predictions/cleanup", json={"older_than_days": 5})
    assert accepted.status_code == 202, accepted.text
    cut = datetime.fromisoformat(accepted.json()["older_than"])
    assert abs((now - timedelta(days=5) - cut).total_seconds()) < 60
    kept = {made["recent"], made["new"]}
    eventually(lambda: {i["prediction_id"] for i in all_items(client, sid)} == kept)

    moment = (now - timedelta(days=1)).isoformat()
    accepted = client.post(f"/api/scenarios/{sid}/predictions/cleanup", json={"older_than": moment})
    assert accepted.status_code == 202, accepted.text
    eventually(lambda: [i["prediction_id"] for i in all_items(client, sid)] == [made["new"]])
    assert client.get(f"/api/scenarios/{sid}/predictions/{made['old']}").status_code == 404

    # A deleted scenario's predictions go with it (the log has no foreign key).
    assert client.delete(f"/api/scenarios/{sid}").status_code == 204

    def gone() -> bool:
        count = db_rows(
            gateway.settings, "SELECT count(*) FROM predictions WHERE scenario_id = :sid", sid=sid
        )
        return count[0][0] == 0

    eventually(gone)


@pytest.fixture(scope="module")
def served(
    client: httpx.Client,
    trainers: list[RunningTrainer],
    scheduler: RunningService,
    predictor: RunningService,
) -> dict[str, Any]:
    """A classification scenario whose champion (a logistic regression) answers online."""
    frame = classification()
    sid, dataset = scenario_with_data(client, "classification", frame)
    created = experiment(
        client, sid, dataset, name="lr", target="species", algorithm="logistic_regression"
    )
    run = wait_for(client, sid, start(client, sid, created["id"])["id"])
    assert run["status"] == "completed", run["error"]
    model_id = run["model_id"]
    assert client.post(f"/api/scenarios/{sid}/models/{model_id}/promote").status_code == 202

    def champion() -> str | None:
        state = client.get(f"/api/scenarios/{sid}/deployments").json()
        return (state.get("champion") or {}).get("model_id")

    eventually(lambda: champion() == model_id, timeout=90)
    probe = {"records": frame.drop(columns=["species"]).head(1).to_dict(orient="records")}

    def serving() -> bool:  # the predictor loads the new champion on its broadcast
        answer = client.post(f"/api/scenarios/{sid}/predict", json=probe)
        return answer.status_code == 200 and answer.json()["model_id"] == model_id

    eventually(serving, timeout=90)
    return {"sid": sid, "model_id": model_id, "frame": frame}


def test_online_predictions_are_logged_and_shown(
    client: httpx.Client, served: dict[str, Any]
) -> None:
    sid, frame = served["sid"], served["frame"]
    records = frame.drop(columns=["species"]).head(5).astype(object).to_dict(orient="records")
    answered = client.post(f"/api/scenarios/{sid}/predict", json={"records": records})
    assert answered.status_code == 200, answered.text
    predictions = answered.json()["predictions"]
    ids = [p["prediction_id"] for p in predictions]

    def logged() -> list[dict[str, Any]]:
        found = all_items(client, sid, model_id=served["model_id"])
        return found if {i["prediction_id"] for i in found} >= set(ids) else []

    assert all(item["arm"] == "champion" for item in eventually(logged))
    for record_sent, prediction in zip(records, predictions, strict=True):
        shown = client.get(f"/api/scenarios/{sid}/predictions/{prediction['prediction_id']}")
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert body["inputs"] == record_sent
        assert body["model_id"] == served["model_id"] and body["shadow"] is None
        assert body["output"]["prediction"] == prediction["prediction"]
