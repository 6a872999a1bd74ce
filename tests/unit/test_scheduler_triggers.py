"""Trigger rules (pure): matching events, cooldown and cap, schedule slots in a time zone
(daylight saving included), de-duplication keys, and the config shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from mloop_common.db.triggers import CAPPED, COOLDOWN
from mloop_common.messages.events import DatasetUploaded
from mloop_common.triggers import (
    BadSchedule,
    DriftConfig,
    NewDataConfig,
    PerformanceConfig,
    check_cron,
    next_slot,
    parse_config,
)
from mloop_scheduler.domain import triggers as rules
from pydantic import ValidationError

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(hours: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, seconds=seconds)


# --- matching ---


def test_drift_fires_on_a_named_feature() -> None:
    config = DriftConfig(features=["age", "income", "city"])
    reason = rules.drift_reason(config, {"age": 0.3, "income": 0.2, "zip": 0.5}, 0.1)
    assert reason == "drift in age, income"
    assert rules.drift_reason(config, {"zip": 0.5}, 0.9) is None


def test_drift_fires_on_the_share() -> None:
    config = DriftConfig(min_share=0.3)
    assert rules.drift_reason(config, {"age": 0.3, "income": 0.2}, 0.4) == (
        "drift in age, income (share 0.4 ≥ 0.3)"
    )
    assert rules.drift_reason(config, {"age": 0.3}, 0.29) is None


def test_drift_with_both_fires_on_either() -> None:
    config = DriftConfig(features=["age"], min_share=0.5)
    assert rules.drift_reason(config, {"age": 1.0}, 0.1) == "drift in age"
    assert rules.drift_reason(config, {"zip": 1.0}, 0.6) == "drift in zip (share 0.6 ≥ 0.5)"
    assert rules.drift_reason(config, {"zip": 1.0}, 0.2) is None


def test_a_long_list_of_features_is_cut() -> None:
    features = {f"f{i}": 1.0 for i in range(8)}
    reason = rules.drift_reason(DriftConfig(min_share=0.1), features, 0.8)
    assert reason is not None and "and 3 more" in reason


def test_new_data_on_its_path_or_the_default() -> None:
    assert rules.new_data_reason(
        NewDataConfig(path="data/a.csv"), default_path="b.csv", path="data/a.csv", version=3
    ) == ("new data: data/a.csv version 3")
    assert (
        rules.new_data_reason(NewDataConfig(path="a.csv"), default_path="a.csv", path="b.csv")
        is None
    )
    assert rules.new_data_reason(NewDataConfig(), default_path="b.csv", path="b.csv") is not None
    assert rules.new_data_reason(NewDataConfig(), default_path=None, path="b.csv") is None


def test_a_version_a_workflow_made_is_skipped_with_the_reason() -> None:
    run = uuid.uuid4()
    assert rules.new_data_skip("upload") is None
    assert rules.new_data_skip("upload", run) is None
    why = rules.new_data_skip("workflow", run)
    assert why is not None and f"workflow run {run}" in why and "not uploaded" in why
    assert rules.new_data_skip("workflow") is not None


def test_an_uploaded_event_says_its_origin_upload_by_default() -> None:
    sid, dataset = uuid.uuid4(), uuid.uuid4()
    plain = DatasetUploaded(scenario_id=sid, dataset_id=dataset, path="a.csv", sha256="0", rows=1)
    assert plain.origin == "upload" and plain.workflow_run_id is None
    old = plain.model_dump(mode="json")
    del old["origin"], old["workflow_run_id"]  # what a producer before the field sent
    assert DatasetUploaded.model_validate(old).origin == "upload"
    with pytest.raises(ValidationError):
        DatasetUploaded.model_validate({**old, "origin": "elsewhere"})


def test_performance_compares_with_enough_feedback() -> None:
    config = PerformanceConfig(metric="accuracy", comparison="lt", threshold=0.8, min_feedback=20)
    reason = rules.performance_reason(config, value=0.7, labelled=25)
    assert reason == "live accuracy 0.7 < 0.8 over 25 labelled predictions"
    assert rules.performance_reason(config, value=0.7, labelled=19) is None
    assert rules.performance_reason(config, value=0.8, labelled=25) is None
    assert rules.performance_reason(config, value=None, labelled=25) is None
    at_least = PerformanceConfig(metric="rmse", comparison="ge", threshold=3.0, min_feedback=1)
    assert rules.performance_reason(at_least, value=3.0, labelled=1) is not None


def test_degraded_event_needs_the_same_metric() -> None:
    config = PerformanceConfig(metric="accuracy", comparison="le", threshold=0.8)
    assert rules.degraded_reason(config, metric="accuracy", value=0.8) is not None
    assert rules.degraded_reason(config, metric="f1_macro", value=0.1) is None
    assert rules.degraded_reason(config, metric="accuracy", value=0.9) is None


# --- cooldown and cap ---


def test_cooldown() -> None:
    assert not rules.in_cooldown(None, 60, at())
    assert rules.in_cooldown(at(), 60, at(seconds=59))
    assert not rules.in_cooldown(at(), 60, at(seconds=60))
    assert not rules.in_cooldown(at(), 0, at())


def test_hold_back_checks_cooldown_then_cap() -> None:
    free = rules.hold_back(
        last_fired_at=None, cooldown_seconds=60, at=at(), active_retrains=0, max_concurrent=1
    )
    assert free is None
    cooling = rules.hold_back(
        last_fired_at=at(), cooldown_seconds=60, at=at(seconds=5), active_retrains=3,
        max_concurrent=1,
    )  # fmt: skip
    assert cooling is not None and cooling[0] == COOLDOWN
    capped = rules.hold_back(
        last_fired_at=at(), cooldown_seconds=60, at=at(seconds=61), active_retrains=2,
        max_concurrent=2,
    )  # fmt: skip
    assert capped is not None and capped[0] == CAPPED
    assert "2 retrains under way" in capped[1]


# --- schedules ---


def test_five_and_six_fields() -> None:
    assert next_slot("0 3 * * *", "UTC", at()) == datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    assert next_slot("*/2 * * * * *", "UTC", at(seconds=1)) == at(seconds=2)
    assert next_slot("30 * * * * *", "UTC", at()) == at(seconds=30)  # the second comes first


def test_a_time_zone_shifts_the_slot() -> None:
    # 09:00 in New York in June is 13:00 UTC (EDT, UTC-4); in December 14:00 (EST).
    assert next_slot("0 9 * * *", "America/New_York", at()) == datetime(
        2026, 6, 1, 13, 0, tzinfo=UTC
    )
    december = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert next_slot("0 9 * * *", "America/New_York", december) == datetime(
        2026, 12, 1, 14, 0, tzinfo=UTC
    )


def test_clocks_going_forward_fire_after_the_gap() -> None:
    # Berlin, 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    slot = next_slot("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert slot == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    following = next_slot("30 2 * * *", "Europe/Berlin", slot)
    assert following == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST


def test_clocks_going_back_fire_a_fixed_time_once() -> None:
    # Berlin, 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    start = datetime(2026, 10, 24, 12, tzinfo=UTC)
    first = next_slot("30 2 * * *", "Europe/Berlin", start)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert next_slot("30 2 * * *", "Europe/Berlin", first) == datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )
    # An every-30-minutes schedule keeps its pace through the repeated hour.
    slots, moment = [], datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    for _ in range(4):
        moment = next_slot("*/30 * * * *", "Europe/Berlin", moment)
        slots.append(moment)
    assert [s - slots[0] for s in slots] == [timedelta(minutes=30 * i) for i in range(4)]


def test_after_downtime_fire_once_then_from_now() -> None:
    slot = at()  # due slot; the scheduler was down for a day
    now = at(hours=24, seconds=10)
    nxt = rules.after_firing("0 * * * *", "UTC", slot, now)
    assert nxt == at(hours=25)
    assert rules.after_firing("0 * * * *", "UTC", slot, slot) == at(hours=1)


def test_first_slot_counts_from_creation() -> None:
    assert rules.first_slot("*/2 * * * * *", "UTC", at(seconds=0.5)) == at(seconds=2)


def test_schedule_reason_says_local_time_and_lateness() -> None:
    reason = rules.schedule_reason(at(), "Europe/Berlin", "0 14 * * *", at(seconds=5))
    assert "2026-06-01T14:00:00+02:00 Europe/Berlin" in reason and "late" not in reason
    assert "3600 s late" in rules.schedule_reason(at(), "UTC", "0 * * * *", at(hours=1))


@pytest.mark.parametrize(
    "cron",
    ["", "* * *", "* * * * * * *", "61 * * * *", "0 0 30 2 *", "@daily", "*/0 * * * *"],
)
def test_bad_cron(cron: str) -> None:
    with pytest.raises(BadSchedule):
        check_cron(cron)


def test_unknown_time_zone() -> None:
    with pytest.raises(BadSchedule):
        next_slot("0 * * * *", "Mars/Olympus", at())
    with pytest.raises(ValidationError):
        parse_config("schedule", {"cron": "0 * * * *", "timezone": "../etc/passwd"})


# --- keys and configs ---


def test_dedup_keys() -> None:
    event = uuid.UUID(int=1)
    assert rules.event_key(event) == rules.event_key(uuid.UUID(int=1))
    assert rules.event_key(event) != rules.event_key(uuid.UUID(int=2))
    assert rules.slot_key(at()) == "slot:2026-06-01T12:00:00+00:00"
    assert rules.slot_key(at()) != rules.slot_key(at(seconds=2))
    model = uuid.UUID(int=3)
    assert rules.feedback_key(model, "p1") != rules.feedback_key(model, "p2")
    assert max(len(k) for k in (rules.event_key(event), rules.feedback_key(model, "x" * 64))) < 200


def test_configs_by_kind() -> None:
    assert parse_config("drift", {"min_share": 0.5}) == DriftConfig(min_share=0.5)
    assert parse_config("new_data", {}) == NewDataConfig()
    with pytest.raises(ValidationError):
        parse_config("drift", {})
    with pytest.raises(ValidationError):
        parse_config("schedule", {"min_share": 0.5})
