"""The monitor's feedback path, pure parts: the bare topic's JSON parsed, items checked (signed
ids, retention, the task's type, jsonb), a batch de-duplicated (last write wins), and the daily
partitions of both logs (names, parsing, which retention drops)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from mloop_common.prediction_ids import PredictionIds
from mloop_monitor.domain.feedback import (
    Candidate,
    FeedbackCheck,
    FeedbackRow,
    Refused,
    bare_payload,
    json_text,
    latest,
    parse_bare,
    record_time,
    ttl_reason,
)
from mloop_monitor.domain.partitions import DayPartition, expired, horizon, parse

IDS = PredictionIds("unit-test-secret-0123456789")
SCENARIO = uuid.UUID("6f1c1d8e-3b7a-4c55-9d1e-0f2a9b8c7d61")
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
OLDEST = NOW - timedelta(days=30)


def bare(**fields: object) -> bytes:
    return orjson.dumps(fields)


def candidate(
    prediction_id: str, actual: object, *, index: int = 0, at: datetime = NOW
) -> Candidate:
    return Candidate(index, SCENARIO, prediction_id, actual, at)


def test_bare_messages_parse_into_candidates() -> None:
    pid = IDS.issue(SCENARIO, NOW)
    uuids: dict[str, uuid.UUID] = {}
    found = parse_bare(
        4, bare(scenario_id=str(SCENARIO), prediction_id=pid, actual="yes"), NOW, uuids
    )
    assert found == Candidate(4, SCENARIO, pid, "yes", NOW)
    assert uuids == {str(SCENARIO): SCENARIO}  # parsed once per batch
    extra = bare(scenario_id=str(SCENARIO), prediction_id=pid, actual=None, note="ignored")
    assert isinstance(parse_bare(0, extra, NOW, uuids), Candidate)  # null: refused by the check


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"", "empty message"),
        (b"{nope", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"text"', "expected a JSON object, got a string"),
        (
            orjson.dumps({"scenario_id": str(SCENARIO), "actual": 1}),
            "missing field(s): prediction_id",
        ),
        (orjson.dumps({"prediction_id": "x"}), "missing field(s): scenario_id, actual"),
        (
            orjson.dumps({"scenario_id": 7, "prediction_id": "x", "actual": 1}),
            "scenario_id must be a string",
        ),
        (orjson.dumps({"scenario_id": "nope", "prediction_id": "x", "actual": 1}), "is not a UUID"),
        (
            orjson.dumps({"scenario_id": str(SCENARIO), "prediction_id": 5, "actual": 1}),
            "prediction_id must be a string, got a number",
        ),
    ],
)
def test_bad_bare_messages_are_refused_with_the_reason(value: bytes | None, reason: str) -> None:
    found = parse_bare(2, value, NOW, {})
    assert isinstance(found, Refused) and found.index == 2
    assert reason in found.reason


def test_record_time_is_the_kafka_timestamp_or_the_fallback() -> None:
    assert record_time(int(NOW.timestamp() * 1000), datetime.now(UTC)) == NOW
    assert record_time(-1, NOW) == NOW
    assert record_time(None, NOW) == NOW
    assert record_time(10**18, NOW) == NOW  # beyond any calendar


def test_a_verified_id_gives_the_row_its_moment_and_json() -> None:
    at = datetime(2026, 3, 9, 8, 30, 0, 250000, tzinfo=UTC)
    pid = IDS.issue(SCENARIO, at)
    row = FeedbackCheck(IDS).row(
        candidate(pid, {"a": [1, 2.5]}, index=3), "recommendation", horizon=OLDEST
    )
    # A dict is not a recommendation actual: refused below; a list is.
    assert isinstance(row, Refused)
    row = FeedbackCheck(IDS).row(
        candidate(pid, ["a", "b"], index=3), "recommendation", horizon=OLDEST
    )
    assert row == FeedbackRow(at, SCENARIO, pid, '["a","b"]', NOW, 3)


def test_the_check_refuses_unknown_forged_expired_and_mistyped_feedback() -> None:
    check = FeedbackCheck(IDS)
    pid = IDS.issue(SCENARIO, NOW)

    def reason(one: Candidate, task: str | None = "classification") -> str:
        found = check.row(one, task, horizon=OLDEST)
        assert isinstance(found, Refused), found
        return found.reason

    assert reason(candidate(pid, "yes"), None) == f"unknown scenario {SCENARIO}"
    forged = pid[:-1] + ("A" if pid[-1] != "A" else "B")
    assert "unknown or forged prediction id" in reason(candidate(forged, "yes"))
    other = IDS.issue(uuid.uuid4(), NOW)
    assert "unknown or forged prediction id" in reason(candidate(other, "yes"))
    stranger = PredictionIds("another-secret-0123456789").issue(SCENARIO, NOW)
    assert "unknown or forged" in reason(candidate(stranger, "yes"))
    assert "unknown or forged" in reason(candidate("not-an-id", "yes"))
    old = IDS.issue(SCENARIO, OLDEST - timedelta(seconds=1))
    assert reason(candidate(old, "yes")).startswith("prediction is past retention")
    assert reason(candidate(pid, "x"), "regression") == (
        "wrong type for a regression model: a number is expected"
    )
    assert "wrong type for a classification model" in reason(candidate(pid, {"label": 1}))
    assert "wrong type for a classification model: actual is null" == reason(candidate(pid, None))
    assert "finite" in reason(candidate(pid, float("nan")))
    assert "NUL" in reason(candidate(pid, "a\x00b"))
    assert isinstance(check.row(candidate(pid, 2.5), "regression", horizon=OLDEST), FeedbackRow)


def test_json_text_is_what_jsonb_takes() -> None:
    assert json_text({"a": [1, None, "é"]}) == '{"a":[1,null,"é"]}'
    for bad in (float("inf"), [1.0, float("nan")], {"x": "\x00"}, 2**70):
        with pytest.raises(ValueError):
            json_text(bad)


def test_a_batch_keeps_the_last_write_per_prediction() -> None:
    p1, p2 = IDS.issue(SCENARIO, NOW), IDS.issue(SCENARIO, NOW)
    t0, t1 = NOW, NOW + timedelta(seconds=1)

    def row(pid: str, actual: str, at: datetime, index: int) -> FeedbackRow:
        return FeedbackRow(NOW, SCENARIO, pid, actual, at, index)

    rows = [
        row(p1, '"a"', t1, 0),
        row(p2, '"b"', t0, 1),
        row(p1, '"old"', t0, 2),
        row(p2, '"c"', t0, 3),
    ]
    kept = {r.prediction_id: r.actual for r in latest(rows)}
    # p1: the later received wins even though it came first; p2: a tie goes to the later one.
    assert kept == {p1: '"a"', p2: '"c"'}
    other = FeedbackRow(NOW, uuid.uuid4(), p1, '"z"', t0, 4)  # same id, other scenario: kept apart
    assert len(latest([*rows, other])) == 3


def test_dead_letter_payload_and_reason_for_feedback_whose_prediction_never_came() -> None:
    payload = bare_payload(SCENARIO, "p" * 32, '{"a":1}')
    assert json.loads(payload) == {
        "scenario_id": str(SCENARIO),
        "prediction_id": "p" * 32,
        "actual": {"a": 1},
    }
    assert ttl_reason("abc", 4.0) == "no prediction abc was logged within 4 s"
    assert ttl_reason("abc", 3600.5) == "no prediction abc was logged within 3600.5 s"


def test_day_partitions_of_either_log() -> None:
    feedback = DayPartition(date(2026, 3, 9), "feedback")
    assert feedback.name == "feedback_20260309"
    assert feedback.create_sql() == (
        "CREATE TABLE IF NOT EXISTS feedback_20260309 PARTITION OF feedback "
        "FOR VALUES FROM ('2026-03-09T00:00:00+00:00') TO ('2026-03-10T00:00:00+00:00')"
    )
    assert feedback.drop_sql() == "DROP TABLE IF EXISTS feedback_20260309"
    assert DayPartition(date(2026, 3, 9)).name == "predictions_20260309"
    with pytest.raises(ValueError):
        DayPartition(date(2026, 3, 9), "users; DROP TABLE x")


def test_partition_names_parse_back() -> None:
    assert parse("feedback_20260309") == DayPartition(date(2026, 3, 9), "feedback")
    assert parse("predictions_20251231") == DayPartition(date(2025, 12, 31))
    for other in (
        "feedback",
        "feedback_2026030",
        "feedback_20261340",
        "users_20260309",
        "feedback_20260309x",
    ):
        assert parse(other) is None


def test_retention_drops_only_whole_days_past_the_horizon() -> None:
    now = datetime(2026, 3, 31, 6, 0, tzinfo=UTC)
    assert horizon(now, 30) == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    days = [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)]
    found = [DayPartition(day, parent) for day in days for parent in ("predictions", "feedback")]
    gone = expired(found, now=now, retention_days=30)
    # 1 March still holds rows newer than the horizon (06:00): kept until the day is all past.
    assert [(p.day, p.parent) for p in gone] == [
        (date(2026, 2, 27), "feedback"),
        (date(2026, 2, 27), "predictions"),
        (date(2026, 2, 28), "feedback"),
        (date(2026, 2, 28), "predictions"),
    ]
