"""The gateway's feedback check (pure): each item accepted or refused with its reason, and the
accepted items split into messages that fit a Kafka record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from mloop_common.prediction_ids import PredictionIds
from mloop_gateway.handlers.feedback import Accepted, check_items, chunks

IDS = PredictionIds("unit-test-secret-0123456789")
SCENARIO = uuid.uuid4()
NOW = datetime.now(UTC)
HORIZON = NOW - timedelta(days=30)


def test_items_are_accepted_or_refused_one_by_one() -> None:
    good = IDS.issue(SCENARIO, NOW)
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    old = IDS.issue(SCENARIO, HORIZON - timedelta(hours=1))
    items = [
        {"prediction_id": good, "actual": "yes"},
        {"prediction_id": forged, "actual": "yes"},
        {"prediction_id": IDS.issue(uuid.uuid4(), NOW), "actual": "yes"},
        {"prediction_id": good, "actual": {"a": 1}},
        {"prediction_id": good},
        "just text",
        {"prediction_id": 12, "actual": "yes"},
        {"prediction_id": good, "actual": "no", "note": "x"},
        {"prediction_id": old, "actual": "yes"},
        {"prediction_id": good, "actual": float("nan")},
        {"prediction_id": good, "actual": "no"},
    ]
    accepted, refused = check_items(IDS, SCENARIO, "classification", items, horizon=HORIZON)
    assert [(a.prediction_id, a.actual) for a in accepted] == [(good, "yes"), (good, "no")]
    reasons = {r.index: (r.prediction_id, r.reason) for r in refused}
    assert reasons[1] == (forged, "unknown or forged prediction id")
    assert reasons[2][1] == "unknown or forged prediction id"
    assert reasons[3] == (
        good,
        "wrong type for a classification model: a label must be a string, number or boolean",
    )
    assert reasons[4] == (good, "malformed item: missing actual")
    assert reasons[5] == (
        None,
        "malformed item: expected an object with prediction_id and actual, got a string",
    )
    assert reasons[6] == (None, "malformed item: prediction_id must be a string, got a number")
    assert reasons[7][1] == "malformed item: unknown field(s) note"
    assert reasons[8][1].startswith("prediction is past retention")
    assert "finite" in reasons[9][1]
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_regression_wants_numbers() -> None:
    pid = IDS.issue(SCENARIO, NOW)
    items = [{"prediction_id": pid, "actual": 2.5}, {"prediction_id": pid, "actual": "2.5"}]
    accepted, refused = check_items(IDS, SCENARIO, "regression", items, horizon=HORIZON)
    assert len(accepted) == 1
    assert refused[0].reason == "wrong type for a regression model: a number is expected"


def test_accepted_items_split_only_past_the_message_budget() -> None:
    items = [Accepted(f"p{i}", i, 100) for i in range(10)]
    assert chunks(items, budget=10_000) == [items]
    split = chunks(items, budget=250)
    assert [len(chunk) for chunk in split] == [2, 2, 2, 2, 2]
    assert [item for chunk in split for item in chunk] == items
    assert chunks([Accepted("big", "x" * 10, 999)], budget=10) == [[Accepted("big", "x" * 10, 999)]]
    assert chunks([]) == []
