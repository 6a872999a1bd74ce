"""The monitor's feedback path, pure parts: the bare topic's JSON parsed, items checked (signed
ids, retention, the task's type, jsonb), the batch versions of both giving the same answers as
the per-item ones, a batch de-duplicated (last write wins), the batch parser of the topic, and
the daily partitions of both logs (names, parsing, which retention drops)."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord
from faststream.kafka.message import KafkaAckableMessage
from faststream.kafka.parser import AioKafkaBatchParser
from mloop_common.ml.live import checked_actual
from mloop_common.prediction_ids import PredictionIds, issued_at
from mloop_monitor.domain.feedback import (
    TOPIC,
    Candidate,
    FeedbackCheck,
    FeedbackRow,
    Refused,
    bare_payload,
    latest,
    parse_bare,
    parse_records,
    record_time,
    ttl_reason,
)
from mloop_monitor.domain.partitions import DayPartition, expired, horizon, parse
from mloop_monitor.entrypoints.feedback_messages import parse_batch

SECRET = "unit-test-secret-0123456789"
IDS = PredictionIds(SECRET)
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
    row = FeedbackCheck(SECRET).row(
        candidate(pid, {"a": [1, 2.5]}, index=3), "recommendation", horizon=OLDEST
    )
    # A dict is not a recommendation actual: refused below; a list is.
    assert isinstance(row, Refused)
    row = FeedbackCheck(SECRET).row(
        candidate(pid, ["a", "b"], index=3), "recommendation", horizon=OLDEST
    )
    assert row == FeedbackRow(at, SCENARIO, pid, '["a","b"]', NOW, TOPIC)


def test_the_check_refuses_unknown_forged_expired_and_mistyped_feedback() -> None:
    check = FeedbackCheck(SECRET)
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


def test_checked_actuals_are_what_jsonb_takes() -> None:
    assert checked_actual("recommendation", ["a", 1, "é"]) == '["a",1,"é"]'
    assert checked_actual("classification", "yes") == '"yes"'
    assert checked_actual("regression", 2) == "2"
    for task, bad in (
        ("classification", float("inf")),
        ("forecasting", [1.0, float("nan")]),
        ("classification", "a\x00b"),
        ("recommendation", ["a", "b\x00"]),
        ("classification", 2**70),
        ("classification", "\ud800"),
    ):
        with pytest.raises(ValueError):
            checked_actual(task, bad)


def plain_verify(secret: str, scenario_id: uuid.UUID, prediction_id: Any) -> datetime | None:
    """The id check spelt out with one plain HMAC per id (what the keyed copies must equal)."""
    if not isinstance(prediction_id, str) or len(prediction_id) != 32:
        return None
    try:
        raw = base64.urlsafe_b64decode(prediction_id.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    if len(raw) != 24:
        return None
    tag = hmac.digest(secret.encode(), scenario_id.bytes + raw[:16], "sha256")[:8]
    return issued_at(prediction_id) if hmac.compare_digest(tag, raw[16:]) else None


def test_ids_checked_with_keyed_copies_answer_as_a_plain_hmac() -> None:
    long_secret = "s" * 100  # longer than SHA-256's block: HMAC hashes it first
    for secret in (SECRET, long_secret):
        ids = PredictionIds(secret)
        other_scenario = uuid.uuid4()
        issued = [ids.issue(SCENARIO, NOW - timedelta(seconds=s * 977.5)) for s in range(20)]
        trials: list[tuple[uuid.UUID, Any]] = [(SCENARIO, pid) for pid in issued]
        trials += [(other_scenario, pid) for pid in issued[:3]]
        trials += [(SCENARIO, IDS.issue(SCENARIO, NOW) if secret != SECRET else "x" * 32)]
        pid = issued[0]
        for place in range(len(pid)):  # every character changed in turn
            for swap in ("A", "-", "_", "+", "/", "=", "é", " "):
                trials.append((SCENARIO, pid[:place] + swap + pid[place + 1 :]))
        trials += [
            (SCENARIO, pid[:-1]),
            (SCENARIO, pid + "A"),
            (SCENARIO, ""),
            (SCENARIO, None),
            (SCENARIO, 12),
            (SCENARIO, "=" * 32),
            (SCENARIO, pid[:30] + "=="),
        ]
        for scenario_id, candidate_id in trials:
            expected = plain_verify(secret, scenario_id, candidate_id)
            assert ids.verify(scenario_id, candidate_id) == expected, candidate_id
        assert ids.verify(SCENARIO, issued[3]) == NOW - timedelta(seconds=3 * 977.5)


class Record:
    def __init__(self, value: bytes | None, timestamp: int | None) -> None:
        self.value, self.timestamp = value, timestamp


def test_a_batch_parses_as_its_messages_one_by_one() -> None:
    pid = IDS.issue(SCENARIO, NOW)
    other = uuid.uuid4()
    values = [
        bare(scenario_id=str(SCENARIO), prediction_id=pid, actual="yes"),
        None,
        b"{nope",
        b"[1, 2]",
        b'"text"',
        b"null",
        bare(scenario_id=str(SCENARIO), actual=1),
        bare(scenario_id=7, prediction_id=pid, actual=1),
        bare(scenario_id=[1], prediction_id=pid, actual=1),
        bare(scenario_id="nope", prediction_id=pid, actual=1),
        bare(scenario_id=str(SCENARIO), prediction_id=5, actual=1),
        bare(scenario_id=str(SCENARIO), prediction_id=pid, actual=None, note="x"),
        bare(scenario_id=str(other), prediction_id=pid, actual=[1, {"a": 2}]),
        bare(scenario_id=str(SCENARIO), prediction_id=pid, actual=2.5),
    ]
    stamps = [int(NOW.timestamp() * 1000) + i // 3 for i in range(len(values))]
    stamps[4], stamps[5] = None, -5
    records = [Record(value, stamp) for value, stamp in zip(values, stamps, strict=True)]
    later = NOW + timedelta(hours=1)

    candidates, refused = parse_records(records, later)

    one_by_one = [
        parse_bare(i, r.value, record_time(r.timestamp, later), {}) for i, r in enumerate(records)
    ]
    assert candidates == [found for found in one_by_one if isinstance(found, Candidate)]
    assert refused == [found for found in one_by_one if isinstance(found, Refused)]
    assert [c.index for c in candidates] == [0, 11, 12, 13]


def test_the_batch_check_gives_the_answers_of_the_item_check() -> None:
    check = FeedbackCheck(SECRET)
    unknown = uuid.uuid4()
    pid = IDS.issue(SCENARIO, NOW)
    candidates = [
        candidate(pid, "yes", index=0),
        Candidate(1, unknown, IDS.issue(unknown, NOW), "yes", NOW),
        candidate(pid[:-1] + ("A" if pid[-1] != "A" else "B"), "yes", index=2),
        candidate(IDS.issue(SCENARIO, OLDEST - timedelta(seconds=1)), "yes", index=3),
        candidate(pid, {"label": 1}, index=4),
        candidate(pid, float("nan"), index=5),
        candidate(pid, None, index=6),
        candidate(pid, 3, index=7),
        candidate("short", "yes", index=8),
    ]
    tasks = {SCENARIO: "classification"}

    rows, refused = check.rows(candidates, tasks, horizon=OLDEST, source="api")

    one_by_one = [
        check.row(c, tasks.get(c.scenario_id), horizon=OLDEST, source="api") for c in candidates
    ]
    assert rows == [found for found in one_by_one if isinstance(found, FeedbackRow)]
    assert refused == [found for found in one_by_one if isinstance(found, Refused)]
    assert [row.actual for row in rows] == ['"yes"', "3"]
    assert {row.source for row in rows} == {"api"}


def test_a_batch_keeps_the_last_write_per_prediction() -> None:
    p1, p2 = IDS.issue(SCENARIO, NOW), IDS.issue(SCENARIO, NOW)
    t0, t1 = NOW, NOW + timedelta(seconds=1)

    def row(pid: str, actual: str, at: datetime, index: int) -> FeedbackRow:
        return FeedbackRow(NOW, SCENARIO, pid, actual, at, f"source-{index}")

    rows = [
        row(p1, '"a"', t1, 0),
        row(p2, '"b"', t0, 1),
        row(p1, '"old"', t0, 2),
        row(p2, '"c"', t0, 3),
    ]
    kept = {r.prediction_id: r.actual for r in latest(rows)}
    # p1: the later received wins even though it came first; p2: a tie goes to the later one.
    assert kept == {p1: '"a"', p2: '"c"'}
    other = FeedbackRow(NOW, uuid.uuid4(), p1, '"z"', t0, TOPIC)  # other scenario: kept apart
    assert len(latest([*rows, other])) == 3
    assert latest(rows[:2]) == rows[:2]  # nothing repeated: as it came


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


def test_the_topic_batch_parser_keeps_every_record_and_decodes_only_headers_it_finds() -> None:
    def record(offset: int, headers: list[tuple[str, Any]]) -> ConsumerRecord:
        value = bare(n=offset)
        return ConsumerRecord("t", 0, offset, 1000 + offset, 0, None, value, None, 0, 8, headers)

    records = (
        record(10, []),
        record(11, [("traceparent", b"00-abc"), ("bad", b"\xff\xfe"), ("none", None)]),
        record(12, []),
    )
    default = AioKafkaBatchParser(msg_class=KafkaAckableMessage, regex=None).parse_batch

    message = asyncio.run(parse_batch(records, default))

    assert message.raw_message is records
    assert message.body == [bare(n=10), bare(n=11), bare(n=12)]
    assert message.batch_headers == [{"traceparent": "00-abc", "bad": "\ufffd\ufffd", "none": ""}]
    assert message.message_id == "10-12-1010"
