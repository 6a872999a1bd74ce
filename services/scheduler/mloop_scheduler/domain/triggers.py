"""Trigger rules, pure: whether an event or the clock makes a trigger fire, and what comes of it.

A trigger considers firing for a *cause*: an event (DriftDetected, DatasetUploaded,
PerformanceDegraded), a schedule slot, or a live metric the scheduler computed. Each cause has a
de-duplication key (the event id, the slot time, the newest labelled prediction), so the same
cause never fires the same trigger twice, and a reason a person can read. What the firing leads
to is decided in order: a cause triggers do not act on (a dataset version a workflow made) →
`skipped`; within the trigger's cooldown → `cooldown`; the scenario already has its
maximum of retrains queued or running → `capped`; otherwise the retrain is attempted (which may
still end `duplicate` or `failed`, see `mloop_scheduler.retrain`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mloop_common.db.triggers import CAPPED, COOLDOWN
from mloop_common.triggers import (
    SYMBOLS,
    DriftConfig,
    NewDataConfig,
    PerformanceConfig,
    compares,
    next_slot,
    zone,
)

MAX_NAMES = 5  # features named in a reason before "and N more"


@dataclass(frozen=True)
class Cause:
    """Why a trigger considers firing: its de-duplication key, the reason, the moment the
    cooldown counts from (now for an event, the slot time for a schedule) and what to keep."""

    key: str
    reason: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    skip: str | None = None  # why this cause is recorded but starts nothing, whatever else


# --- de-duplication keys ---------------------------------------------------------------------


def event_key(event_id: uuid.UUID) -> str:
    return f"event:{event_id}"


def slot_key(slot: datetime) -> str:
    return f"slot:{slot.isoformat()}"


def feedback_key(model_id: uuid.UUID, newest_prediction_id: str) -> str:
    """A live-metric check: the same champion with the same newest labelled prediction is the
    same evidence, whatever tick looked at it."""
    return f"feedback:{model_id}:{newest_prediction_id}"


# --- matching --------------------------------------------------------------------------------


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    more = len(names) - MAX_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def drift_reason(
    config: DriftConfig, features: Mapping[str, float], drifted_share: float
) -> str | None:
    """Why a drift event fires the trigger (any named feature drifted, or the drifted share
    reached `min_share`), or None when it does not."""
    named = [name for name in config.features or () if name in features]
    by_share = config.min_share is not None and drifted_share >= config.min_share
    if not named and not by_share:
        return None
    shown = named or list(features)
    reason = f"drift in {_names(shown)}" if shown else "drift"
    if by_share:
        reason += f" (share {drifted_share:.2g} ≥ {config.min_share:.2g})"
    return reason


def new_data_reason(
    config: NewDataConfig, *, default_path: str | None, path: str, version: int | None = None
) -> str | None:
    """Why a dataset upload fires the trigger (a new version of its path), or None."""
    watched = config.path or default_path
    if watched is None or path != watched:
        return None
    return f"new data: {path} version {version}" if version else f"new data: {path}"


def new_data_skip(origin: str, workflow_run_id: uuid.UUID | None = None) -> str | None:
    """Why a new version must not retrain, or None: one a workflow's data_preprocessing step
    made (the platform's own data; retraining on it would run the workflow again, in a loop)."""
    if origin != "workflow":
        return None
    run = f" run {workflow_run_id}" if workflow_run_id is not None else ""
    return f"the version was made by workflow{run}, not uploaded: triggers do not retrain on it"


def performance_reason(
    config: PerformanceConfig, *, value: float | None, labelled: int
) -> str | None:
    """Why a live metric fires the trigger (it compares true over at least `min_feedback`
    labelled predictions), or None."""
    if value is None or labelled < config.min_feedback:
        return None
    if not compares(value, config.comparison, config.threshold):
        return None
    symbol = SYMBOLS[config.comparison]
    return (
        f"live {config.metric} {value:.4g} {symbol} {config.threshold:g} "
        f"over {labelled} labelled predictions"
    )


def degraded_reason(config: PerformanceConfig, *, metric: str, value: float) -> str | None:
    """Why a PerformanceDegraded event fires the trigger: same metric, and its live value
    compares true against the trigger's threshold (the monitor counted the feedback)."""
    if metric != config.metric or not compares(value, config.comparison, config.threshold):
        return None
    symbol = SYMBOLS[config.comparison]
    return f"performance degraded: live {metric} {value:.4g} {symbol} {config.threshold:g}"


# --- what comes of a firing ------------------------------------------------------------------


def in_cooldown(last_fired_at: datetime | None, cooldown_seconds: float, at: datetime) -> bool:
    """Whether `at` falls within the cooldown that the last started firing began."""
    if last_fired_at is None or cooldown_seconds <= 0:
        return False
    return at < last_fired_at + timedelta(seconds=cooldown_seconds)


def hold_back(
    *,
    last_fired_at: datetime | None,
    cooldown_seconds: float,
    at: datetime,
    active_retrains: int,
    max_concurrent: int,
) -> tuple[str, str] | None:
    """(outcome, why) when the firing must start nothing; None when the retrain may start."""
    if in_cooldown(last_fired_at, cooldown_seconds, at):
        assert last_fired_at is not None
        until = last_fired_at + timedelta(seconds=cooldown_seconds)
        return COOLDOWN, f"in cooldown until {until.isoformat(timespec='seconds')}"
    if active_retrains >= max_concurrent:
        return CAPPED, f"{active_retrains} retrains under way (at most {max_concurrent})"
    return None


# --- schedules -------------------------------------------------------------------------------


def first_slot(cron: str, timezone: str, created_at: datetime) -> datetime:
    """A new schedule's first slot: the first after its creation."""
    return next_slot(cron, timezone, created_at)


def after_firing(cron: str, timezone: str, slot: datetime, now: datetime) -> datetime:
    """The slot after the one just handled. After downtime the missed slots are not caught up
    one by one: the next slot is the first after now, so a late schedule fires once."""
    return next_slot(cron, timezone, max(slot, now))


def schedule_reason(slot: datetime, timezone: str, cron: str, now: datetime) -> str:
    local = slot.astimezone(zone(timezone))
    late = (now - slot).total_seconds()
    lateness = f", {late:.0f} s late" if late >= 60 else ""
    return f"schedule {cron!r} slot {local.isoformat(timespec='seconds')} {timezone}{lateness}"
