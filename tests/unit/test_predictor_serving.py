"""The predictor's serving parts, in memory: arm routing, the deployment cache and its swaps,
the prediction log buffer, and the predict use case (ids, log entries, refusals)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from mloop_common.messages.events import DeploymentState, PredictionMade
from mloop_common.prediction_ids import PredictionIds, issued_at
from mloop_common.problems import Problem
from mloop_predictor import handlers
from mloop_predictor.adapters.prediction_log import PredictionLog
from mloop_predictor.deployments import Deployments, Served
from mloop_predictor.domain.routing import Router, sticky_share
from mloop_predictor.scoring import ArtifactRejected

SID = uuid.UUID("5c1a9f0e-0000-4000-8000-000000000001")
A, B = uuid.uuid4(), uuid.uuid4()


def state(version: int, champion: uuid.UUID | None = A, **fields: Any) -> DeploymentState:
    return DeploymentState(version=version, champion_model_id=champion, **fields)


# -- routing -------------------------------------------------------------------------------------


def test_single_mode_sends_everything_to_the_champion() -> None:
    assert Router(state(1)).arms([{}, {}]) == ["champion", "champion"]


def test_ab_share_without_sticky_column_is_one_draw_per_request() -> None:
    test = uuid.uuid4()
    router = Router(
        state(2, challenger_model_id=B, mode="ab_test", ab_test_id=test, challenger_share=0.3),
        draw=random.Random(1).random,
    )
    arms = [router.arms([{}, {}, {}]) for _ in range(5000)]
    assert all(len(set(request)) == 1 for request in arms)
    share = sum(request[0] == "challenger" for request in arms) / len(arms)
    assert share == pytest.approx(0.3, abs=0.03)


def test_sticky_column_keeps_a_value_on_one_arm() -> None:
    test = uuid.uuid4()
    router = Router(
        state(
            2,
            challenger_model_id=B,
            mode="ab_test",
            ab_test_id=test,
            challenger_share=0.5,
            sticky_column="user",
        )
    )
    users = [f"u{i}" for i in range(400)]
    first = router.arms([{"user": u} for u in users])
    for _ in range(3):
        assert router.arms([{"user": u} for u in users]) == first
    assert Counter(first)["challenger"] / len(users) == pytest.approx(0.5, abs=0.08)
    assert len({router.arms([{"user": v}])[0] for v in (7, 7.0, "7")}) == 1
    assert sticky_share(test, "u1") == sticky_share(test, "u1") != sticky_share(uuid.uuid4(), "u1")


def test_shadow_answers_with_the_champion() -> None:
    router = Router(state(3, challenger_model_id=B, mode="shadow"))
    assert router.shadow and not router.split
    assert router.arms([{}]) == ["champion"]


# -- the deployment cache ------------------------------------------------------------------------


class FakeModels:
    """Loads scorers on demand; a load waits until released, a rejected id raises."""

    def __init__(self) -> None:
        self.gates: dict[uuid.UUID, asyncio.Event] = {}
        self.rejected: set[uuid.UUID] = set()
        self.loads: Counter[uuid.UUID] = Counter()

    def gate(self, model_id: uuid.UUID) -> asyncio.Event:
        return self.gates.setdefault(model_id, asyncio.Event())

    async def load(self, model_id: uuid.UUID) -> Any:
        self.loads[model_id] += 1
        await self.gate(model_id).wait()
        if model_id in self.rejected:
            raise ArtifactRejected("the artifact's sha256 differs")
        return SimpleNamespace(
            model_id=model_id, fast_path="-", describe=lambda: {"model_id": str(model_id)}
        )


async def _exists(scenario_id: uuid.UUID) -> bool:
    return False


def test_a_new_state_swaps_in_only_once_loaded_and_old_ones_are_ignored() -> None:
    async def scenario() -> None:
        models = FakeModels()
        refusals = []
        deployments = Deployments(models.load, _exists, on_refusal=refusals.append)
        models.gate(A).set()
        await deployments.apply(SID, state(1, A))
        assert deployments.entries[SID].champion.model_id == A

        loading = deployments.apply(SID, state(2, B))
        await asyncio.sleep(0)
        assert deployments.entries[SID].state.version == 1  # A answers meanwhile
        assert deployments.apply(SID, state(2, B)) is None  # the same version again
        assert deployments.apply(SID, state(1, A)) is None  # an older one
        models.gate(B).set()
        await loading
        assert deployments.entries[SID].champion.model_id == B
        assert deployments.by_path[str(SID)] is deployments.entries[SID]

        # Back to A: loaded anew (unused scorers are dropped), the cache is shared by model id.
        await deployments.apply(SID, state(3, A))
        await deployments.apply(SID, state(4, A, challenger_model_id=B, mode="shadow"))
        assert deployments.entries[SID].challenger.model_id == B
        assert refusals == []

    asyncio.run(scenario())


def test_a_rejected_artifact_keeps_the_current_model_and_is_reported() -> None:
    async def scenario() -> None:
        models = FakeModels()
        refusals = []
        deployments = Deployments(models.load, _exists, on_refusal=refusals.append)
        models.gate(A).set()
        await deployments.apply(SID, state(1, A))
        models.rejected.add(B)
        models.gate(B).set()
        await deployments.apply(SID, state(2, B))
        assert deployments.entries[SID].champion.model_id == A
        assert [r.model_id for r in refusals] == [B]
        (described,) = deployments.describe()
        assert described["last_refusal"]["model_id"] == str(B)
        assert "sha256" in described["last_refusal"]["reason"]
        # The refused version may come again (a redelivery), and a newer state applies.
        models.rejected.clear()
        await deployments.apply(SID, state(2, B))
        assert deployments.entries[SID].champion.model_id == B

    asyncio.run(scenario())


def test_a_state_superseded_while_loading_is_dropped() -> None:
    async def scenario() -> None:
        models = FakeModels()
        deployments = Deployments(models.load, _exists)
        slow = deployments.apply(SID, state(1, A))
        models.gate(B).set()
        await deployments.apply(SID, state(2, B))
        models.gate(A).set()
        await slow
        assert deployments.entries[SID].champion.model_id == B

    asyncio.run(scenario())


def test_unknown_scenarios_are_looked_up_once_in_a_while_and_deleted_ones_vanish() -> None:
    async def scenario() -> None:
        asked: list[uuid.UUID] = []

        async def exists(scenario_id: uuid.UUID) -> bool:
            asked.append(scenario_id)
            return True

        models = FakeModels()
        models.gate(A).set()
        deployments = Deployments(models.load, exists)
        assert await deployments.exists(SID) and await deployments.exists(SID)
        assert asked == [SID]
        await deployments.apply(SID, state(1, A))
        deployments.delete(SID)
        assert SID not in deployments.entries and not await deployments.exists(SID)
        assert deployments.apply(SID, state(2, A)) is None

    asyncio.run(scenario())


# -- the prediction log --------------------------------------------------------------------------


def entry(scenario: uuid.UUID, n: int) -> tuple:
    now = time.time()
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(int(now * 1000) / 1000, UTC)
    return (scenario, f"{n:032d}", A, "champion", {"x": n}, {"prediction": n}, 0.5, at)


def test_the_buffer_drops_the_oldest_past_its_bound() -> None:
    log = PredictionLog(batch_size=10, flush_interval=1, buffer_max=3)
    dropped = []
    log.on_drop = dropped.append
    for n in range(5):
        log.append(entry(SID, n))
    assert log.dropped == 2 and dropped == [1, 1]
    assert [e[1] for e in log.buffer] == [f"{n:032d}" for n in (2, 3, 4)]


def test_flush_publishes_valid_prediction_made_batches_per_scenario() -> None:
    other = uuid.uuid4()
    log = PredictionLog(batch_size=2, flush_interval=1, buffer_max=100)
    for n in range(5):
        log.append(entry(SID, n))
    log.append(entry(other, 9))
    published: list[tuple[bytes, bytes]] = []

    async def publish(body: bytes, key: bytes) -> None:
        published.append((body, key))

    assert asyncio.run(log.flush(publish)) == 6
    assert not log.buffer and log.sent == 6
    messages = [PredictionMade.model_validate_json(body) for body, _ in published]
    assert [len(m.predictions) for m in messages] == [2, 2, 1, 1]
    assert [key for _, key in published] == [str(SID).encode()] * 3 + [str(other).encode()]
    assert messages[0].scenario_id == SID and messages[0].predictions[0].inputs == {"x": 0}


def test_a_refused_publish_is_counted_not_retried() -> None:
    log = PredictionLog(batch_size=10, flush_interval=1, buffer_max=100)
    log.append(entry(SID, 1))

    async def publish(body: bytes, key: bytes) -> None:
        raise RuntimeError("broker down")

    assert asyncio.run(log.flush(publish)) == 0
    assert log.failed == 1 and not log.buffer


# -- the predict use case ------------------------------------------------------------------------


class FakeScorer:
    def __init__(self, model_id: uuid.UUID, required: str = "x") -> None:
        self.model_id, self.required = model_id, required

    def check_k(self, k: Any) -> str | None:
        return None if k is None else "k applies to recommendation models only"

    def validate(self, records: list) -> list[dict]:
        return [
            {"record": i, "field": self.required, "message": "missing column"}
            for i, r in enumerate(records)
            if self.required not in r
        ]

    def predict(self, records: list, *, k: Any = None) -> list[dict]:
        return [{"prediction": r[self.required] * 2} for r in records]


def context(max_records: int = 10) -> SimpleNamespace:
    counters = SimpleNamespace(inc=lambda n=1: None)
    return SimpleNamespace(
        settings=SimpleNamespace(predict_max_records=max_records),
        ids=PredictionIds("a-secret-of-16-chars"),
        log=PredictionLog(batch_size=100, flush_interval=1, buffer_max=1000),
        metrics=SimpleNamespace(predictions=SimpleNamespace(labels=lambda arm: counters)),
    )


def served(deployment: DeploymentState, champion: Any, challenger: Any = None) -> Served:
    return Served(SID, deployment, Router(deployment), champion, challenger)


def test_predict_answers_logs_and_signs_every_record() -> None:
    ctx = context()
    body = orjson.dumps({"records": [{"x": 1}, {"x": 2, "extra": True}]})
    answer = orjson.loads(
        handlers.predict(ctx, served(state(1), FakeScorer(A)), body, time.perf_counter())
    )
    assert answer["model_id"] == str(A)
    assert [p["prediction"] for p in answer["predictions"]] == [2, 4]
    assert {p["arm"] for p in answer["predictions"]} == {"champion"}
    for prediction, logged in zip(answer["predictions"], ctx.log.buffer, strict=True):
        assert ctx.ids.verify(SID, prediction["prediction_id"]) is not None
        assert logged[1] == prediction["prediction_id"] and logged[3] == "champion"
        assert logged[7] == issued_at(prediction["prediction_id"])
    assert ctx.log.buffer[1][4] == {"x": 2, "extra": True}  # the record as received


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{nope", 422, "records"),
        (b"[]", 422, "records"),
        (b'{"records": {}}', 422, "records"),
        (b'{"records": []}', 422, "records"),
        (orjson.dumps({"records": [{"x": 1}] * 11}), 422, "records"),
        (b'{"records": [{"x": 1}], "k": 2}', 422, "k"),
        (b'{"records": [{"x": 1}, {"y": 1}]}', 422, "x"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(body: bytes, status: int, field: str) -> None:
    with pytest.raises(Problem) as caught:
        handlers.predict(context(), served(state(1), FakeScorer(A)), body, time.perf_counter())
    assert caught.value.status == status
    assert caught.value.errors[-1]["field"] == field


def test_no_champion_is_a_conflict() -> None:
    with pytest.raises(Problem) as caught:
        handlers.predict(context(), served(state(1, None), None), b"{}", time.perf_counter())
    assert caught.value.status == 409 and caught.value.detail == "scenario has no champion yet"


def test_ab_records_are_checked_against_the_model_that_answers_them() -> None:
    deployment = state(
        2,
        challenger_model_id=B,
        mode="ab_test",
        ab_test_id=uuid.uuid4(),
        challenger_share=0.5,
        sticky_column="user",
    )
    router = Router(deployment)
    users = [f"u{i}" for i in range(40)]
    arms = router.arms([{"user": u} for u in users])
    entry_ = served(deployment, FakeScorer(A), FakeScorer(B, required="z"))
    records = [
        {"user": u, "x": 1, **({"z": 3} if arm == "challenger" else {})}
        for u, arm in zip(users, arms, strict=True)
    ]
    answer = orjson.loads(
        handlers.predict(
            context(100), entry_, orjson.dumps({"records": records}), time.perf_counter()
        )
    )
    assert [p["arm"] for p in answer["predictions"]] == arms
    assert [p["prediction"] for p in answer["predictions"]] == [
        6 if arm == "challenger" else 2 for arm in arms
    ]
    missing = [dict(r) for r in records]
    first = arms.index("challenger")
    del missing[first]["z"]
    with pytest.raises(Problem) as caught:
        handlers.predict(
            context(100), entry_, orjson.dumps({"records": missing}), time.perf_counter()
        )
    assert caught.value.errors[0]["record"] == first
    assert caught.value.errors[0]["loc"] == ["body", "records", first, "z"]


def test_shadow_logs_the_challenger_with_the_champion_ids_after_answering() -> None:
    async def scenario() -> None:
        ctx = context()
        deployment = state(3, challenger_model_id=B, mode="shadow")
        body = orjson.dumps({"records": [{"x": 1}, {"x": 5}]})
        answer = orjson.loads(
            handlers.predict(
                ctx, served(deployment, FakeScorer(A), FakeScorer(B)), body, time.perf_counter()
            )
        )
        assert {p["arm"] for p in answer["predictions"]} == {"champion"}
        assert len(ctx.log.buffer) == 2  # the shadow is scored after the answer
        await asyncio.sleep(0)
        logged = list(ctx.log.buffer)
        shadows = [e for e in logged if e[3] == "shadow"]
        assert [e[1] for e in shadows] == [p["prediction_id"] for p in answer["predictions"]]
        assert {e[2] for e in shadows} == {B}

    asyncio.run(scenario())
