"""The monitor's pure parts: daily partitions of the prediction log, and which records of a
`PredictionMade` it stores (ids that verify for the scenario, arms it knows, JSON jsonb takes)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

from mloop_common.messages.events import PredictionRecord
from mloop_common.prediction_ids import PredictionIds
from mloop_monitor.domain.partitions import DayPartition, day_of
from mloop_monitor.domain.prediction_log import refusal_message, rows_of

IDS = PredictionIds("unit-test-secret-0123456789")
SCENARIO = uuid.UUID("6f1c1d8e-3b7a-4c55-9d1e-0f2a9b8c7d61")
MODEL = uuid.uuid4()


def record(prediction_id: str, **fields: object) -> PredictionRecord:
    values = {
        "prediction_id": prediction_id,
        "model_id": MODEL,
        "inputs": {"x": 1.5},
        "output": {"prediction": "yes"},
        "latency_ms": 0.2,
        "predicted_at": datetime.now(UTC),
    }
    return PredictionRecord(**(values | fields))


def test_a_day_partition_covers_one_utc_day() -> None:
    partition = DayPartition(date(2026, 3, 9))
    assert partition.name == "predictions_20260309"
    assert partition.start == datetime(2026, 3, 9, tzinfo=UTC)
    assert partition.end - partition.start == timedelta(days=1)
    assert partition.create_sql() == (
        "CREATE TABLE IF NOT EXISTS predictions_20260309 PARTITION OF predictions "
        "FOR VALUES FROM ('2026-03-09T00:00:00+00:00') TO ('2026-03-10T00:00:00+00:00')"
    )


def test_the_day_of_a_moment_is_its_utc_day() -> None:
    late_in_tokyo = datetime(2026, 3, 10, 1, 30, tzinfo=timezone(timedelta(hours=9)))
    assert day_of(late_in_tokyo) == date(2026, 3, 9)


def test_rows_take_the_moment_inside_the_id_and_json_text() -> None:
    at = datetime(2026, 3, 9, 12, 0, 0, 123000, tzinfo=UTC)
    pid = IDS.issue(SCENARIO, at)
    shadow = record(pid, arm="shadow", output={"prediction": "no"})

    rows, refused = rows_of(IDS, SCENARIO, [record(pid), shadow])

    assert refused == []
    assert [(r.prediction_id, r.predicted_at, r.arm) for r in rows] == [
        (pid, at, "champion"),
        (pid, at, "shadow"),
    ]
    assert json.loads(rows[0].inputs) == {"x": 1.5}
    assert json.loads(rows[1].output) == {"prediction": "no"}


def test_ids_that_do_not_verify_and_unknown_arms_are_refused() -> None:
    now = datetime.now(UTC)
    good = IDS.issue(SCENARIO, now)
    other_scenario = IDS.issue(uuid.uuid4(), now)
    other_secret = PredictionIds("another-secret-0123456789").issue(SCENARIO, now)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    records = [
        record(good),
        record(other_scenario),
        record(other_secret),
        record(forged),
        record("short"),
        record(IDS.issue(SCENARIO, now), arm="left"),
    ]

    rows, refused = rows_of(IDS, SCENARIO, records)

    assert [r.prediction_id for r in rows] == [good]
    assert [r.reason for r in refused[:4]] == ["the id does not verify"] * 4
    assert refused[4].reason == "unknown arm 'left'"
    message = refusal_message(SCENARIO, len(records), refused)
    assert message.startswith(f"5 of 6 predictions of scenario {SCENARIO} cannot be logged")
    assert "MLOOP_PREDICTION_SECRET" in message


def test_values_jsonb_cannot_hold_are_made_safe() -> None:
    pid = IDS.issue(SCENARIO, datetime.now(UTC))
    odd = record(
        pid,
        inputs={"x": float("nan"), "note": "a\x00b", "deep": [float("inf"), {"k": "\x00"}]},
        output={"prediction": 1.0},
    )

    (row,), _ = rows_of(IDS, SCENARIO, [odd])

    assert json.loads(row.inputs) == {"x": None, "note": "ab", "deep": [None, {"k": ""}]}
    assert "\\u0000" not in row.inputs and "NaN" not in row.inputs
    literal = record(pid, inputs={"path": "C:\\u0000dir"})
    (kept,), _ = rows_of(IDS, SCENARIO, [literal])
    assert json.loads(kept.inputs) == {"path": "C:\\u0000dir"}  # a backslash is not a NUL
