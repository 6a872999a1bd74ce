"""The feedback benchmark's pure parts: its messages, the drain window and the lag figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from mloop_common.prediction_ids import PredictionIds

from bench import BenchmarkFailed
from bench.feedback import drain_rate, lags, messages, percentile, scenarios

IDS = PredictionIds("bench-unit-secret-0123456789")


def test_messages_carry_signed_ids_and_actuals_of_each_task() -> None:
    among = scenarios(3)
    now = datetime.now(UTC)
    found = [orjson.loads(value) for value in messages(IDS, among, 200, now=now)]
    tasks = {str(s.id): s.task_type for s in among}
    assert len({m["prediction_id"] for m in found}) == 200
    for message in found:
        at = IDS.verify(uuid.UUID(message["scenario_id"]), message["prediction_id"])
        assert at is not None and (now - at).total_seconds() <= 3600
        if tasks[message["scenario_id"]] == "regression":
            assert isinstance(message["actual"], float)
        else:
            assert isinstance(message["actual"], str)
    assert messages(IDS, among, 5, now=now, seed=3) != messages(IDS, among, 5, now=now, seed=4)


def test_the_drain_window_runs_from_the_first_commit_to_the_last() -> None:
    readings = [(0.0, 0), (1.0, 0), (1.5, 1000), (2.5, 6000), (3.5, 11000), (4.0, 11000)]
    assert drain_rate(readings, 11000) == {"seconds": 2.0, "rows": 10000, "rows_per_s": 5000.0}
    with pytest.raises(BenchmarkFailed):
        drain_rate(readings, 20000)


def test_lag_is_the_first_reading_past_each_message() -> None:
    readings = [(10.0, {0: 5, 1: 0}), (10.5, {0: 6, 1: 2}), (11.0, {0: 8, 1: 2})]
    sent = [(0, 5, 9.9), (1, 0, 10.1), (0, 7, 10.8), (1, 2, 10.9)]
    # offset 5 of partition 0 is covered at 10.5 (committed 6 > 5); offset 2 of 1 never.
    assert lags(sent, readings) == pytest.approx([0.6, 0.4, 0.2])
    assert percentile([0.1, 0.2, 0.3, 0.4], 0.5) == 0.3
    assert percentile([0.1] * 99 + [5.0], 0.99) == 5.0
