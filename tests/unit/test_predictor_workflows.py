"""The predict workflow in the predictor, in memory: records and batch chunks transformed by a
scenario's data_preprocessing steps, the refusals naming each record, the predict use case
scoring and logging the transformed records, and the per-scenario holder's refreshes."""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace
from typing import Any

import orjson
import pyarrow as pa
import pytest
from mloop_common.messages.events import DeploymentState
from mloop_common.prediction_ids import PredictionIds
from mloop_common.problems import Problem
from mloop_common.workflows.spec import parse
from mloop_predictor import handlers
from mloop_predictor.adapters.prediction_log import PredictionLog
from mloop_predictor.batches.frames import BadInput
from mloop_predictor.batches.workflow import check_columns, transformed_frame
from mloop_predictor.deployments import Served
from mloop_predictor.domain.routing import Router
from mloop_predictor.domain.transform import PredictTransform, TransformBroken, TransformFailed
from mloop_predictor.transforms import Transforms

SID = uuid.UUID("5c1a9f0e-0000-4000-8000-000000000002")
MODEL = uuid.uuid4()

BMI = """
steps:
  - name: fill
    type: data_preprocessing
    config: {impute: {height: 1.7}}
  - name: bmi
    type: data_preprocessing
    needs: [fill]
    config:
      derive: {bmi: "weight / (height * height)", heavy: "bmi > 30"}
      select: [age, bmi, heavy]
"""


def transform(text: str = BMI, version: int = 1) -> PredictTransform:
    spec = parse("predict", text)
    return PredictTransform.from_spec(uuid.uuid4(), version, spec.to_json())


# -- the transform -------------------------------------------------------------------------------


def test_steps_run_in_order_and_records_keep_their_place() -> None:
    t = transform()
    assert [item.column for item in t.inputs] == ["height", "weight", "age"]
    assert t.derived == {"bmi", "heavy"}
    out = t.records(
        [
            {"age": 30, "weight": 70.0, "height": 1.75, "ignored": "x"},
            {"age": 40, "weight": 100.0, "height": None},
        ]
    )
    assert out[0] == {"age": 30, "bmi": pytest.approx(70 / 1.75**2), "heavy": False}
    assert out[1] == {"age": 40, "bmi": pytest.approx(100 / 1.7**2), "heavy": True}


def test_a_record_lacking_a_column_the_workflow_reads_is_named() -> None:
    with pytest.raises(TransformFailed) as caught:
        transform().records([{"age": 1, "weight": 2, "height": 3}, {"age": 1, "height": 2}, 7])
    errors = caught.value.errors
    assert errors[0] == {
        "record": 1,
        "field": "weight",
        "message": "missing column: step 'bmi' of the predict workflow reads it",
    }
    assert errors[1]["record"] == 2 and "object" in errors[1]["message"]


def test_a_value_the_workflow_cannot_compute_with_names_its_record() -> None:
    records = [{"age": 1, "weight": 70, "height": 1.8}, {"age": 2, "weight": "heavy", "height": 2}]
    with pytest.raises(TransformFailed) as caught:
        transform().records(records)
    (error,) = caught.value.errors
    assert error["record"] == 1 and "derive 'bmi'" in error["message"]
    assert "needs numbers" in error["message"]


def test_keys_a_record_did_not_send_are_not_added_as_nulls() -> None:
    t = transform("steps: [{name: d, type: data_preprocessing, config: {derive: {y: 'x * 2'}}}]")
    out = t.records([{"x": 1, "a": 5}, {"x": 2}])
    assert out == [{"x": 1, "a": 5, "y": 2}, {"x": 2, "y": 4}]  # no "a": None for the second


def test_a_column_derived_from_a_derived_one_needs_only_the_inputs() -> None:
    t = transform(
        "steps: [{name: d, type: data_preprocessing, config: {derive: {y: 'x + 1', z: 'y * y'}}}]"
    )
    assert [item.column for item in t.inputs] == ["x"]
    assert t.records([{"x": 2}]) == [{"x": 2, "y": 3, "z": 9}]


def test_a_stored_workflow_that_filters_is_refused_at_every_use() -> None:
    spec = {
        "steps": [
            {"name": "f", "type": "data_preprocessing", "config": {"filter": "x > 1"}, "needs": []}
        ]
    }
    t = PredictTransform.from_spec(uuid.uuid4(), 3, spec)
    assert t.broken and "cannot filter" in t.broken
    with pytest.raises(TransformBroken, match="version 3"):
        t.records([{"x": 1}])


# -- the predict use case ------------------------------------------------------------------------


class SeeingScorer:
    """Answers 2 * bmi and remembers what it was given."""

    model_id = MODEL

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def check_k(self, k: Any) -> str | None:
        return None

    def validate(self, records: list) -> list[dict]:
        return [
            {"record": i, "field": "bmi", "message": "missing column"}
            for i, r in enumerate(records)
            if "bmi" not in r
        ]

    def predict(self, records: list, *, k: Any = None) -> list[dict]:
        self.seen += records
        return [{"prediction": r["bmi"] * 2} for r in records]


def context() -> SimpleNamespace:
    counters = SimpleNamespace(inc=lambda n=1: None)
    return SimpleNamespace(
        settings=SimpleNamespace(predict_max_records=10),
        ids=PredictionIds("a-secret-of-16-chars"),
        log=PredictionLog(batch_size=100, flush_interval=1, buffer_max=1000),
        metrics=SimpleNamespace(predictions=SimpleNamespace(labels=lambda arm: counters)),
    )


def served(scorer: Any) -> Served:
    state = DeploymentState(version=1, champion_model_id=MODEL)
    return Served(SID, state, Router(state), scorer, None)


def test_the_model_scores_and_the_log_keeps_the_transformed_records() -> None:
    ctx, scorer = context(), SeeingScorer()
    body = orjson.dumps({"records": [{"age": 30, "weight": 81, "height": 1.8}]})
    answer = orjson.loads(
        handlers.predict(ctx, served(scorer), body, time.perf_counter(), transform=transform())
    )
    assert answer["predictions"][0]["prediction"] == pytest.approx(2 * 81 / 1.8**2)
    assert scorer.seen == [{"age": 30, "bmi": pytest.approx(81 / 1.8**2), "heavy": False}]
    assert ctx.log.buffer[0][4] == scorer.seen[0]


def test_without_a_workflow_the_records_go_as_sent() -> None:
    ctx = context()
    with pytest.raises(Problem) as caught:
        handlers.predict(
            ctx, served(SeeingScorer()), b'{"records": [{"weight": 1}]}', time.perf_counter()
        )
    assert caught.value.errors[0]["field"] == "bmi"  # the model's own signature check


def test_a_record_the_workflow_cannot_transform_is_a_422_naming_it() -> None:
    body = orjson.dumps({"records": [{"age": 1, "weight": 70, "height": 1.8}, {"age": 2}]})
    with pytest.raises(Problem) as caught:
        handlers.predict(
            context(), served(SeeingScorer()), body, time.perf_counter(), transform=transform()
        )
    problem = caught.value
    assert problem.status == 422
    assert problem.detail == "the predict workflow cannot transform 1 of 2 records"
    assert [(e["record"], e["field"]) for e in problem.errors] == [(1, "height"), (1, "weight")]
    assert problem.errors[1]["loc"] == ["body", "records", 1, "weight"]
    assert (
        problem.errors[0]["msg"] == "missing column: step 'fill' of the predict workflow reads it"
    )


def test_a_broken_workflow_is_a_503_not_a_wrong_answer() -> None:
    broken = PredictTransform(uuid.uuid4(), 2, [], broken="unreadable")
    with pytest.raises(Problem) as caught:
        handlers.predict(
            context(),
            served(SeeingScorer()),
            b'{"records": [{"bmi": 1}]}',
            time.perf_counter(),
            transform=broken,
        )
    assert caught.value.status == 503 and "version 2" in caught.value.detail


# -- batch chunks --------------------------------------------------------------------------------

COLUMNS = [("age", "numeric"), ("bmi", "numeric"), ("heavy", "boolean")]


def chunk(rows: dict[str, list[str | None]]) -> tuple[pa.Table, list[str]]:
    return pa.table({k: pa.array(v, pa.string()) for k, v in rows.items()}), list(rows)


def test_a_chunk_is_typed_transformed_and_typed_for_the_model() -> None:
    table, names = chunk(
        {"age": ["30", "40"], "weight": ["81", " 100 "], "height": ["1.8", ""], "note": ["a", "b"]}
    )
    frame = transformed_frame(transform(), table, names, COLUMNS, first_row=1)
    assert list(frame.columns) == ["age", "bmi", "heavy"]
    assert frame["bmi"].tolist() == pytest.approx([81 / 1.8**2, 100 / 1.7**2])
    assert frame["heavy"].tolist() == [False, True]


def test_a_chunk_the_workflow_cannot_transform_names_its_rows() -> None:
    table, names = chunk({"age": ["1", "2"], "weight": ["70", "heavy"], "height": ["1", "2"]})
    with pytest.raises(BadInput, match=r"cannot transform data rows 11-12: derive 'bmi'"):
        transformed_frame(transform(), table, names, COLUMNS, first_row=11)


def test_a_file_lacking_a_column_the_workflow_reads_is_refused_up_front() -> None:
    with pytest.raises(BadInput, match=r"no column 'weight' \(read by step 'bmi'"):
        check_columns(transform(), ["age", "height"])
    check_columns(transform(), ["age", "height", "weight"])


# -- the holder ----------------------------------------------------------------------------------


def test_refreshes_apply_the_workflow_in_force_and_none_removes_it() -> None:
    async def scenario() -> None:
        stored: dict[uuid.UUID, PredictTransform | None] = {SID: transform(version=1)}

        async def load_one(scenario_id: uuid.UUID) -> PredictTransform | None:
            return stored.get(scenario_id)

        async def load_all() -> dict[uuid.UUID, PredictTransform]:
            return {sid: t for sid, t in stored.items() if t is not None}

        holder = Transforms(load_one, load_all)
        await holder.load_all()
        assert holder.get(SID).version == 1
        stored[SID] = transform(version=2)
        await holder.refresh(SID)
        assert holder.get(SID).version == 2
        stored[SID] = None
        holder.refresh_soon(SID)
        await holder.settle()
        assert holder.get(SID) is None

    asyncio.run(scenario())


def test_the_start_up_load_does_not_overwrite_a_scenario_refreshed_meanwhile() -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        newer = transform(version=2)

        async def load_one(scenario_id: uuid.UUID) -> PredictTransform | None:
            return newer

        async def load_all() -> dict[uuid.UUID, PredictTransform]:
            await release.wait()  # read before the save, answered after the broadcast
            return {SID: transform(version=1)}

        holder = Transforms(load_one, load_all)
        loading = asyncio.create_task(holder.load_all())
        await asyncio.sleep(0)
        await holder.refresh(SID)
        release.set()
        await loading
        assert holder.get(SID) is newer

    asyncio.run(scenario())


def test_a_failed_read_keeps_the_workflow_in_force() -> None:
    async def scenario() -> None:
        held = transform(version=4)

        async def load_one(scenario_id: uuid.UUID) -> PredictTransform | None:
            raise OSError("database away")

        async def load_all() -> dict[uuid.UUID, PredictTransform]:
            return {SID: held}

        holder = Transforms(load_one, load_all)
        await holder.load_all()
        await holder.refresh(SID)
        assert holder.get(SID) is held
        holder.delete(SID)
        assert holder.get(SID) is None

    asyncio.run(scenario())
