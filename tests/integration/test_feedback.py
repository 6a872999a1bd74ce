"""Feedback on the real local stack: the REST call (accepted items stored, refused ones with the
reason), the bare feedback topic (stored, last write wins, bad messages dead-lettered with the
reason), feedback that arrives before its prediction (joined when it comes) or whose prediction
never comes (dead-lettered after the time-to-live, 4 s here, and removed), and retention (old
daily partitions dropped whole).

Bare messages are produced straight onto the topic, as an app would, with ids signed by
`PredictionIds` at chosen moments.
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
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from mloop_common import topics
from mloop_common.db.engine import Database
from mloop_common.db.labelled import Labelled, labelled
from mloop_common.messages.events import PredictionMade, PredictionRecord
from mloop_common.prediction_ids import PredictionIds
from mloop_common.settings import Settings
from sqlalchemy import text

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import classification
from tests.integration.training_support import experiment, scenario_with_data, start, wait_for

WAIT = 30.0
TOPIC_CONSUMER = "mloop.monitor.feedback-topic"
TTL_CONSUMER = "mloop.monitor.feedback-ttl"


@pytest.fixture(scope="module")
def client(gateway: RunningGateway, monitor: RunningService) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


@pytest.fixture(scope="module")
def ids(gateway: RunningGateway) -> PredictionIds:
    return PredictionIds(gateway.settings.prediction_secret)


@pytest.fixture(scope="module")
def served(
    client: httpx.Client,
    trainers: list[RunningTrainer],
    scheduler: RunningService,
    predictor: RunningService,
) -> dict[str, Any]:
    """A classification scenario (manual policy) whose promoted champion answers online."""
    frame = classification()
    sid, dataset = scenario_with_data(client, "classification", frame)
    created = experiment(
        client, sid, dataset, name="lr", target="species", algorithm="logistic_regression"
    )
    run = wait_for(client, sid, start(client, sid, created["id"])["id"])
    assert run["status"] == "completed", run["error"]
    model_id = run["model_id"]
    assert client.post(f"/api/scenarios/{sid}/models/{model_id}/promote").status_code == 202
    records = frame.drop(columns=["species"]).head(6).astype(object).to_dict(orient="records")

    def answered() -> list[dict[str, Any]] | None:
        answer = client.post(f"/api/scenarios/{sid}/predict", json={"records": records})
        if answer.status_code == 200 and answer.json()["model_id"] == model_id:
            return answer.json()["predictions"]
        return None

    predictions = eventually(answered, timeout=90)
    return {"sid": uuid.UUID(sid), "model_id": model_id, "predictions": predictions}


# --- helpers ---------------------------------------------------------------------------------


def eventually(check: Callable[[], Any], *, timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in time {what}")
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


def db_exec(settings: Settings, statement: str, **params: Any) -> None:
    async def run() -> None:
        db = Database.from_settings(settings)
        try:
            async with db.transaction() as session:
                await session.execute(text(statement), params)
                await session.commit()
        finally:
            await db.close()

    asyncio.run(run())


def stored(settings: Settings, sid: uuid.UUID) -> dict[str, tuple[Any, str]]:
    """The scenario's stored feedback: prediction id -> (actual, source)."""
    rows = db_rows(
        settings,
        "SELECT prediction_id, actual, source FROM feedback WHERE scenario_id = :sid",
        sid=sid,
    )
    return {row.prediction_id: (row.actual, row.source) for row in rows}


def joined(settings: Settings, sid: uuid.UUID) -> list[Labelled]:
    async def run() -> list[Labelled]:
        db = Database.from_settings(settings)
        try:
            async with db.transaction() as session:
                return await labelled(session, sid)
        finally:
            await db.close()

    return asyncio.run(run())


def produce(
    settings: Settings, *messages: tuple[bytes | None, bytes | None], at: int | None = None
) -> None:
    """Publish (key, value) pairs to the feedback topic, in order, one at a time (`at`: the
    records' timestamp in milliseconds, now when None)."""

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=False
        )
        await producer.start()
        try:
            for key, value in messages:
                await producer.send_and_wait(
                    settings.feedback_topic, value, key=key, timestamp_ms=at
                )
        finally:
            await producer.stop()

    asyncio.run(send())


def publish(settings: Settings, message: PredictionMade) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=False
        )
        await producer.start()
        try:
            await producer.send_and_wait(
                message.topic, message.model_dump_json().encode(), key=message.partition_key
            )
        finally:
            await producer.stop()

    asyncio.run(send())


def bare(sid: uuid.UUID | str, prediction_id: str, actual: Any) -> tuple[bytes, bytes]:
    body = {"scenario_id": str(sid), "prediction_id": prediction_id, "actual": actual}
    return str(sid).encode(), orjson.dumps(body)


def dead_letters(settings: Settings, consumer: str, marker: str) -> list[dict[str, Any]]:
    """The dead letters of `consumer` whose payload holds `marker` (the whole topic is read)."""

    async def read() -> list[Any]:
        # From the start until a second passes with nothing new (the local broker's end
        # offsets are not to be trusted, so no stopping at them).
        reader = AIOKafkaConsumer(
            topics.DEAD_LETTER,
            bootstrap_servers=settings.require_kafka(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await reader.start()
        try:
            records: list[Any] = []
            loop = asyncio.get_running_loop()
            deadline, quiet_since = loop.time() + 10, loop.time()
            while loop.time() < deadline and loop.time() - quiet_since < 1.5:
                batches = await reader.getmany(timeout_ms=200)
                for batch in batches.values():
                    records.extend(batch)
                if batches:
                    quiet_since = loop.time()
            return records
        finally:
            await reader.stop()

    letters = (json.loads(record.value) for record in asyncio.run(read()))
    return [
        letter
        for letter in letters
        if letter["consumer"] == consumer and marker in letter["payload"]
    ]


def new_scenario(client: httpx.Client, task_type: str = "classification") -> uuid.UUID:
    created = client.post(
        "/api/scenarios",
        json={"name": "feedback", "task_type": task_type, "deployment_policy": "manual"},
    )
    assert created.status_code == 201, created.text
    return uuid.UUID(created.json()["id"])


def record(prediction_id: str, model_id: uuid.UUID, at: datetime) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=prediction_id,
        model_id=model_id,
        arm="champion",
        inputs={"x": 1.0},
        output={"prediction": 2.0},
        latency_ms=0.3,
        predicted_at=at,
    )


# --- the REST call ---------------------------------------------------------------------------


def test_rest_feedback_is_stored_and_refused_items_say_why(
    client: httpx.Client, gateway: RunningGateway, ids: PredictionIds, served: dict[str, Any]
) -> None:
    sid = served["sid"]
    answered = [p["prediction_id"] for p in served["predictions"]]
    url = f"/api/scenarios/{sid}/feedback"
    forged = answered[0][:-1] + ("A" if answered[0][-1] != "A" else "B")
    other_scenario = ids.issue(uuid.uuid4(), datetime.now(UTC))
    items = [
        {"prediction_id": answered[0], "actual": "setosa"},
        {"prediction_id": answered[1], "actual": "versicolor"},
        {"prediction_id": forged, "actual": "setosa"},
        {"prediction_id": other_scenario, "actual": "setosa"},
        {"prediction_id": answered[2], "actual": {"label": "setosa"}},
        {"prediction_id": answered[3]},
        "setosa",
        {"prediction_id": answered[4], "actual": "virginica"},
    ]
    sent = client.post(url, json={"items": items})
    assert sent.status_code == 202, sent.text
    body = sent.json()
    assert body["accepted"] == 3
    reasons = {r["index"]: (r["prediction_id"], r["reason"]) for r in body["refused"]}
    assert reasons[2] == (forged, "unknown or forged prediction id")
    assert reasons[3] == (other_scenario, "unknown or forged prediction id")
    assert reasons[4][1].startswith("wrong type for a classification model:")
    assert reasons[5] == (answered[3], "malformed item: missing actual")
    assert reasons[6][0] is None and reasons[6][1].startswith("malformed item")
    assert sorted(reasons) == [2, 3, 4, 5, 6]

    want = {
        answered[0]: ("setosa", "api"),
        answered[1]: ("versicolor", "api"),
        answered[4]: ("virginica", "api"),
    }
    eventually(lambda: stored(gateway.settings, sid) == want, what="REST feedback stored")

    # The last feedback on a prediction wins.
    again = client.post(
        url, json={"items": [{"prediction_id": answered[0], "actual": "virginica"}]}
    )
    assert again.json() == {"accepted": 1, "refused": []}
    eventually(
        lambda: stored(gateway.settings, sid).get(answered[0]) == ("virginica", "api"),
        what="the newer feedback",
    )

    # Joined with the logged predictions (the predictor logs them; the join is a query).
    def labelled_ids() -> set[str]:
        return {row.prediction_id for row in joined(gateway.settings, sid)}

    eventually(lambda: labelled_ids() == set(want), what="joined with the predictions")
    actuals = {row.prediction_id: row.actual for row in joined(gateway.settings, sid)}
    assert actuals[answered[0]] == "virginica"

    # Bodies that are not {"items": [...]} of at most feedback_max_items: 422 naming the field.
    for wrong in ({}, {"items": []}, {"items": "x"}, {"items": [], "extra": 1}, [1]):
        refused = client.post(url, json=wrong)
        assert refused.status_code == 422, (wrong, refused.text)
    too_many = [{"prediction_id": answered[0], "actual": "setosa"}] * 1001
    refused = client.post(url, json={"items": too_many})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "items"]
    assert (
        client.post(f"/api/scenarios/{uuid.uuid4()}/feedback", json={"items": items}).status_code
        == 404
    )

    # Keys: a predictor key for this scenario may send feedback; one for another scenario sees
    # nothing (404); a viewer may not (403).
    def key(role: str, scenarios: list[str] | None) -> dict[str, str]:
        made = client.post(
            "/api/keys", json={"name": f"fb-{role}", "role": role, "scenarios": scenarios}
        )
        assert made.status_code == 201, made.text
        return {"Authorization": f"Bearer {made.json()['key']}"}

    one = [{"prediction_id": answered[5], "actual": "setosa"}]
    mine = key("predictor", [str(sid)])
    elsewhere = key("predictor", [str(new_scenario(client))])
    viewer = key("viewer", None)
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        assert anonymous.post(url, json={"items": one}).status_code == 401
        assert anonymous.post(url, json={"items": one}, headers=viewer).status_code == 403
        assert anonymous.post(url, json={"items": one}, headers=elsewhere).status_code == 404
        accepted = anonymous.post(url, json={"items": one}, headers=mine)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["accepted"] == 1


# --- the bare topic --------------------------------------------------------------------------


def test_topic_feedback_is_stored_last_write_wins_and_bad_messages_are_dead_lettered(
    client: httpx.Client, gateway: RunningGateway, ids: PredictionIds
) -> None:
    settings = gateway.settings
    sid = new_scenario(client, "regression")
    now = datetime.now(UTC)
    p1, p2, p3 = (ids.issue(sid, now - timedelta(minutes=i)) for i in range(3))
    marker = "m-" + uuid.uuid4().hex
    forged = p1[:-1] + ("A" if p1[-1] != "A" else "B")
    expired = ids.issue(sid, now - timedelta(days=settings.retention_days + 1))
    stranger = uuid.uuid4()
    bad = {
        "not JSON": (None, f"not json {marker}".encode()),
        "missing field(s): actual": (
            None,
            orjson.dumps({"scenario_id": str(sid), "prediction_id": marker}),
        ),
        "is not a UUID": (
            None,
            orjson.dumps({"scenario_id": marker, "prediction_id": p1, "actual": 1}),
        ),
        f"unknown scenario {stranger}": bare(stranger, ids.issue(stranger, now), 1.0),
        "unknown or forged prediction id": bare(sid, forged, 1.0),
        "prediction is past retention": bare(sid, expired, 1.0),
        "wrong type for a regression model: a number is expected": bare(sid, p3, marker),
    }
    produce(
        settings,
        bare(sid, p1, 1.5),
        bare(sid, p2, 7.0),
        *bad.values(),
        bare(sid, p1, 2.5),  # later: wins
    )
    want = {p1: (2.5, "topic"), p2: (7.0, "topic")}
    eventually(lambda: stored(settings, sid) == want, what="topic feedback stored")

    def letters() -> dict[str, dict[str, Any]]:
        found = [
            letter
            for needle in (marker, str(sid), str(stranger))
            for letter in dead_letters(settings, TOPIC_CONSUMER, needle)
        ]
        by_reason = {}
        for reason in bad:
            matching = [letter for letter in found if reason in letter["error"]]
            if matching:
                by_reason[reason] = matching[0]
        return by_reason if len(by_reason) == len(bad) else {}

    found = eventually(letters, what="every bad message dead-lettered")
    for reason, (_key, value) in bad.items():
        letter = found[reason]
        assert letter["payload"] == value.decode(errors="replace"), reason
        assert letter["topic"] == settings.feedback_topic and letter["offset"] >= 0
    assert found["unknown or forged prediction id"]["key"] == str(sid)


def test_stored_feedback_is_overwritten_only_by_a_later_write(
    client: httpx.Client, gateway: RunningGateway, ids: PredictionIds
) -> None:
    """Feedback on a prediction already in the log (a correction, a batch delivered again):
    the later write wins, an older one changes nothing, and the new keys beside them are
    stored (the monitor copies batches in, and upserts those that meet stored keys)."""
    settings = gateway.settings
    sid = new_scenario(client, "regression")
    now = datetime.now(UTC)
    p1, p2, p3 = (ids.issue(sid, now - timedelta(seconds=i)) for i in range(3))
    t0 = int(time.time() * 1000)
    produce(settings, bare(sid, p1, 1.0), at=t0)
    eventually(lambda: stored(settings, sid) == {p1: (1.0, "topic")}, what="first write")

    produce(settings, bare(sid, p1, 2.0), bare(sid, p2, 3.0), at=t0 + 1000)
    want = {p1: (2.0, "topic"), p2: (3.0, "topic")}
    eventually(lambda: stored(settings, sid) == want, what="the later write")

    produce(settings, bare(sid, p1, 0.5), at=t0 - 60_000)  # received before: changes nothing
    produce(settings, bare(sid, p3, 4.0), at=t0 + 2000)
    want[p3] = (4.0, "topic")
    eventually(lambda: stored(settings, sid) == want, what="a new key after an older write")
    received = db_rows(
        settings,
        "SELECT received_at FROM feedback WHERE scenario_id = :sid AND prediction_id = :pid",
        sid=sid,
        pid=p1,
    )
    assert received[0].received_at == datetime.fromtimestamp((t0 + 1000) / 1000, UTC)


# --- before the prediction, and never -------------------------------------------------------


def test_feedback_sent_before_its_prediction_is_joined_when_it_arrives(
    client: httpx.Client, gateway: RunningGateway, ids: PredictionIds
) -> None:
    settings = gateway.settings
    sid = new_scenario(client, "regression")
    model = uuid.uuid4()
    now = datetime.now(UTC)
    by_topic, by_rest = ids.issue(sid, now), ids.issue(sid, now - timedelta(seconds=1))
    produce(settings, bare(sid, by_topic, 3.0))
    sent = client.post(
        f"/api/scenarios/{sid}/feedback", json={"items": [{"prediction_id": by_rest, "actual": 4}]}
    )
    assert sent.json() == {"accepted": 1, "refused": []}
    eventually(lambda: len(stored(settings, sid)) == 2, what="feedback stored")
    assert joined(settings, sid) == []  # nothing to join with yet

    # The predictions are logged now, within the feedback's time-to-live (4 s here).
    publish(
        settings,
        PredictionMade(
            scenario_id=sid,
            predictions=[record(by_topic, model, now), record(by_rest, model, now)],
        ),
    )
    rows = eventually(lambda: len(joined(settings, sid)) == 2 and joined(settings, sid))
    assert {(row.prediction_id, row.actual) for row in rows} == {(by_topic, 3.0), (by_rest, 4)}
    assert all(row.model_id == model for row in rows)
    time.sleep(settings.feedback_ttl + 2 * settings.retention_interval)
    assert len(joined(settings, sid)) == 2  # joined feedback outlives the time-to-live

    # A deleted scenario's feedback goes with it (and its predictions).
    assert client.delete(f"/api/scenarios/{sid}").status_code == 204
    eventually(lambda: stored(settings, sid) == {}, what="feedback of a deleted scenario deleted")


def test_feedback_whose_prediction_never_comes_is_dead_lettered_after_the_ttl(
    client: httpx.Client, gateway: RunningGateway, ids: PredictionIds
) -> None:
    settings = gateway.settings
    sid = new_scenario(client, "classification")
    lonely = ids.issue(sid, datetime.now(UTC))
    produce(settings, bare(sid, lonely, "yes"))
    eventually(lambda: lonely in stored(settings, sid), what="feedback stored")
    letters = eventually(
        lambda: dead_letters(settings, TTL_CONSUMER, lonely), timeout=settings.feedback_ttl + 20
    )
    letter = letters[0]
    assert letter["error"] == f"no prediction {lonely} was logged within 4 s"
    assert json.loads(letter["payload"]) == {
        "scenario_id": str(sid),
        "prediction_id": lonely,
        "actual": "yes",
    }
    assert letter["topic"] == settings.feedback_topic and letter["key"] == str(sid)
    eventually(lambda: stored(settings, sid) == {}, what="the dead-lettered feedback removed")


# --- retention -------------------------------------------------------------------------------


def test_retention_drops_whole_daily_partitions_past_the_retention_days(
    gateway: RunningGateway, monitor: RunningService
) -> None:
    settings = gateway.settings
    today = datetime.now(UTC).date()
    old = today - timedelta(days=settings.retention_days + 2)
    kept = today - timedelta(days=settings.retention_days - 2)

    def make(parent: str, day: Any) -> str:
        name = f"{parent}_{day:%Y%m%d}"
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        db_exec(
            settings,
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {parent} FOR VALUES FROM "
            f"('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')",
        )
        return name

    def exists(name: str) -> bool:
        return db_rows(settings, "SELECT to_regclass(:name) IS NOT NULL", name=name)[0][0]

    sid = uuid.uuid4()
    names = {}
    for day in (old, kept):
        for parent in ("predictions", "feedback"):
            names[(parent, day)] = make(parent, day)
        at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        db_exec(
            settings,
            "INSERT INTO feedback (predicted_at, scenario_id, prediction_id, actual, "
            "received_at, source) VALUES (:at, :sid, :pid, '1', now(), 'api')",
            at=at,
            sid=sid,
            pid=f"retention-{day:%Y%m%d}",
        )
    # The sweep drops the old day's partitions (with their rows), never the kept ones.
    eventually(
        lambda: not exists(names[("feedback", old)]) and not exists(names[("predictions", old)]),
        what="the old partitions dropped",
    )
    assert exists(names[("feedback", kept)]) and exists(names[("predictions", kept)])
    remaining = db_rows(
        settings, "SELECT prediction_id FROM feedback WHERE scenario_id = :sid", sid=sid
    )
    # The kept row has no prediction: the time-to-live sweep may have taken it out meanwhile.
    assert {row.prediction_id for row in remaining} <= {f"retention-{kept:%Y%m%d}"}
    assert "retention dropped" in monitor.log_tail(400)
