"""Use cases of the triggers: events and the clock fire them, and each firing is recorded.

Every firing is one transaction: the trigger row is locked, the cause's de-duplication key is
checked (the same event, schedule slot or feedback never fires a trigger twice), the scenario's
retrain decisions are serialised, and then the cooldown, the cap and `start_retrain` decide. The
firing row is written with whatever it started (the TrainModel in the outbox), and the relay is
woken once the transaction committed.

Consumed: DriftDetected (drift triggers), DatasetUploaded (new_data triggers; a version a
workflow made is recorded as `skipped`: retraining on it would start the workflow again, in a
loop), PerformanceDegraded (performance triggers). The clock (`run_clock`, every `scheduler_tick`
seconds) fires due schedule slots and checks performance triggers against the champion's live
metric over its latest labelled predictions.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from mloop_common.db import serving_reads
from mloop_common.db.catalog import DatasetVersion, Scenario
from mloop_common.db.labelled import labelled
from mloop_common.db.training import ModelVersion
from mloop_common.db.triggers import DRIFT, NEW_DATA, PERFORMANCE, SKIPPED, STARTED, Trigger
from mloop_common.delivery import PermanentError, first_delivery
from mloop_common.messages.envelope import Message
from mloop_common.messages.events import DatasetUploaded, DriftDetected, PerformanceDegraded
from mloop_common.ml.live import live_metrics
from mloop_common.triggers import (
    BadSchedule,
    DriftConfig,
    NewDataConfig,
    PerformanceConfig,
    ScheduleConfig,
    parse_config,
)
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler import retrain
from mloop_scheduler.adapters import triggers as store
from mloop_scheduler.context import Scheduler
from mloop_scheduler.domain import triggers as rules
from mloop_scheduler.domain.triggers import Cause

log = logging.getLogger(__name__)

SCHEDULES_PER_TICK = 100
PERFORMANCE_PER_TICK = 200
BROKEN_SCHEDULE_RETRY = timedelta(hours=1)

Match = Callable[[Trigger], Cause | None]


def _now() -> datetime:
    return datetime.now(UTC)


def _config(trigger: Trigger) -> object | None:
    """The trigger's config, or None (logged) when the stored one no longer validates."""
    try:
        return parse_config(trigger.kind, trigger.config)
    except (ValidationError, BadSchedule) as error:
        log.warning("trigger %s has an unusable config: %s", trigger.id, error)
        return None


async def fire(
    session: AsyncSession,
    scheduler: Scheduler,
    trigger: Trigger,
    cause: Cause,
    *,
    caused_by: Message | None = None,
) -> str | None:
    """Record one firing of a locked trigger and start what it may; its outcome, or None when
    this cause fired the trigger already. The caller holds the scenario's retrain lock. A cause
    with a `skip` reason is recorded as `skipped` and starts nothing."""
    if await store.has_fired(session, trigger.id, cause.key):
        return None
    at = _now()
    if cause.skip is not None:
        store.record_firing(
            session, trigger, cause, at=at, outcome=SKIPPED, detail={"note": cause.skip}
        )
        log.info("trigger %s skipped: %s (%s)", trigger.id, cause.reason, cause.skip)
        return SKIPPED
    held = rules.hold_back(
        last_fired_at=trigger.last_fired_at,
        cooldown_seconds=trigger.cooldown_seconds,
        at=cause.at,
        active_retrains=await retrain.active_retrains(session, trigger.scenario_id),
        max_concurrent=scheduler.settings.retrain_max_concurrent,
    )
    if held is not None:
        outcome, why = held
        store.record_firing(session, trigger, cause, at=at, outcome=outcome, detail={"note": why})
        log.info("trigger %s %s: %s (%s)", trigger.id, outcome, cause.reason, why)
        return outcome
    result = await retrain.start_retrain(
        session,
        scheduler,
        trigger.scenario_id,
        trigger=trigger.kind,
        reason=cause.reason,
        caused_by=caused_by,
    )
    if isinstance(result, retrain.Skipped):
        detail = {**(result.detail or {}), "note": result.reason}
        store.record_firing(session, trigger, cause, at=at, outcome=result.outcome, detail=detail)
        log.info("trigger %s %s: %s (%s)", trigger.id, result.outcome, cause.reason, result.reason)
        return result.outcome
    trigger.last_fired_at = cause.at
    store.record_firing(
        session,
        trigger,
        cause,
        at=at,
        outcome=STARTED,
        run_id=result.run_id,
        workflow_run_id=result.workflow_run_id,
        detail=result.detail(),
    )
    started = result.run_id or f"workflow run {result.workflow_run_id}"
    log.info("trigger %s started %s: %s", trigger.id, started, cause.reason)
    return STARTED


async def _on_event(
    scheduler: Scheduler, event: Message, *, consumer: str, kind: str, match: Match
) -> None:
    """Fire the scenario's enabled triggers of `kind` that `match` the event, once."""
    started = False
    async with scheduler.db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=event.event_id):
            return
        if event.scenario_id is None:
            raise PermanentError(f"{event.type} {event.event_id} names no scenario")
        causes = []
        for trigger in await store.enabled_triggers(session, event.scenario_id, kind):
            cause = match(trigger)
            if cause is not None:
                causes.append((trigger, cause))
        if causes:
            await store.lock_retrains(session, event.scenario_id)
        for trigger, cause in causes:
            started |= await fire(session, scheduler, trigger, cause, caused_by=event) == STARTED
        await session.commit()
    if started:
        scheduler.runtime.relay.notify()


async def on_drift_detected(scheduler: Scheduler, event: DriftDetected, *, consumer: str) -> None:
    def match(trigger: Trigger) -> Cause | None:
        config = _config(trigger)
        if not isinstance(config, DriftConfig):
            return None
        reason = rules.drift_reason(config, event.features, event.drifted_share)
        if reason is None:
            return None
        detail = {
            "model_id": str(event.model_id),
            "features": dict(event.features),
            "drifted_share": event.drifted_share,
            "event_id": str(event.event_id),
        }
        return Cause(rules.event_key(event.event_id), reason, _now(), detail)

    await _on_event(scheduler, event, consumer=consumer, kind=DRIFT, match=match)


async def on_dataset_uploaded(
    scheduler: Scheduler, event: DatasetUploaded, *, consumer: str
) -> None:
    if event.scenario_id is None:
        raise PermanentError(f"{event.type} {event.event_id} names no scenario")
    async with scheduler.db.transaction() as session:
        scenario = await session.get(Scenario, event.scenario_id)
        dataset = await session.get(DatasetVersion, event.dataset_id)
    default_path = scenario.default_data_path if scenario is not None else None
    version = dataset.version if dataset is not None else None

    def match(trigger: Trigger) -> Cause | None:
        config = _config(trigger)
        if not isinstance(config, NewDataConfig):
            return None
        reason = rules.new_data_reason(
            config, default_path=default_path, path=event.path, version=version
        )
        if reason is None:
            return None
        detail = {
            "uploaded_dataset_id": str(event.dataset_id),
            "path": event.path,
            "event_id": str(event.event_id),
            "origin": event.origin,
        }
        if event.workflow_run_id is not None:
            detail["workflow_run_id"] = str(event.workflow_run_id)
        skip = rules.new_data_skip(event.origin, event.workflow_run_id)
        return Cause(rules.event_key(event.event_id), reason, _now(), detail, skip=skip)

    await _on_event(scheduler, event, consumer=consumer, kind=NEW_DATA, match=match)


async def on_performance_degraded(
    scheduler: Scheduler, event: PerformanceDegraded, *, consumer: str
) -> None:
    def match(trigger: Trigger) -> Cause | None:
        config = _config(trigger)
        if not isinstance(config, PerformanceConfig):
            return None
        reason = rules.degraded_reason(config, metric=event.metric, value=event.value)
        if reason is None:
            return None
        detail = {
            "model_id": str(event.model_id),
            "metric": event.metric,
            "value": event.value,
            "event_id": str(event.event_id),
        }
        return Cause(rules.event_key(event.event_id), reason, _now(), detail)

    await _on_event(scheduler, event, consumer=consumer, kind=PERFORMANCE, match=match)


# --- the clock -------------------------------------------------------------------------------


async def run_clock(scheduler: Scheduler) -> None:
    """Every `scheduler_tick` seconds: fire due schedule slots, check performance triggers."""
    while True:
        for step in (fire_schedules, check_performance):
            try:
                await step(scheduler)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("trigger clock step %s failed", step.__name__)
        await asyncio.sleep(scheduler.settings.scheduler_tick)


async def fire_schedules(scheduler: Scheduler) -> int:
    """Fire every due schedule slot once; returns how many retrains started."""
    async with scheduler.db.transaction() as session:
        due = await store.due_schedules(session, _now(), limit=SCHEDULES_PER_TICK)
    started = 0
    for trigger_id in due:
        started += await _fire_schedule(scheduler, trigger_id)
    if started:
        scheduler.runtime.relay.notify()
    return started


async def _fire_schedule(scheduler: Scheduler, trigger_id: uuid.UUID) -> int:
    async with scheduler.db.transaction() as session:
        trigger = await store.claim(session, trigger_id)
        if trigger is None or not trigger.enabled:
            return 0
        config = _config(trigger)
        now = _now()
        if not isinstance(config, ScheduleConfig):
            trigger.next_fire_at = now + BROKEN_SCHEDULE_RETRY
            await session.commit()
            return 0
        try:
            if trigger.next_fire_at is None:
                trigger.next_fire_at = rules.first_slot(
                    config.cron, config.timezone, trigger.created_at
                )
            slot = trigger.next_fire_at
            if slot > now:
                await session.commit()
                return 0
            trigger.next_fire_at = rules.after_firing(config.cron, config.timezone, slot, now)
        except BadSchedule as error:
            log.warning("schedule trigger %s cannot advance: %s", trigger.id, error)
            trigger.next_fire_at = now + BROKEN_SCHEDULE_RETRY
            await session.commit()
            return 0
        reason = rules.schedule_reason(slot, config.timezone, config.cron, now)
        cause = Cause(rules.slot_key(slot), reason, slot, {"slot": slot.isoformat()})
        await store.lock_retrains(session, trigger.scenario_id)
        outcome = await fire(session, scheduler, trigger, cause)
        await session.commit()
    return int(outcome == STARTED)


async def check_performance(scheduler: Scheduler) -> int:
    """Fire performance triggers whose live metric over the champion's latest labelled
    predictions compares true; returns how many retrains started."""
    async with scheduler.db.transaction() as session:
        found = await store.performance_triggers(session, limit=PERFORMANCE_PER_TICK)
    started = 0
    for trigger in found:
        config = _config(trigger)
        if isinstance(config, PerformanceConfig):
            started += await _check_performance(scheduler, trigger, config)
    if started:
        scheduler.runtime.relay.notify()
    return started


async def _check_performance(
    scheduler: Scheduler, trigger: Trigger, config: PerformanceConfig
) -> int:
    now = _now()
    async with scheduler.db.transaction() as session:
        last = await store.last_firing_at(session, trigger.id)
        if last is not None and rules.in_cooldown(last, trigger.cooldown_seconds, now):
            return 0  # one firing of any outcome per cooldown: the clock does not pile them up
        cause = await _live_cause(session, trigger, config, now)
    if cause is None:
        return 0
    async with scheduler.db.transaction() as session:
        locked = await store.claim(session, trigger.id)
        if locked is None or not locked.enabled:
            return 0
        await store.lock_retrains(session, locked.scenario_id)
        outcome = await fire(session, scheduler, locked, cause)
        await session.commit()
    return int(outcome == STARTED)


async def _live_cause(
    session: AsyncSession, trigger: Trigger, config: PerformanceConfig, now: datetime
) -> Cause | None:
    """The champion's live metric over its `min_feedback` latest labelled predictions, as a
    cause when it compares true."""
    state = await serving_reads.deployment(session, trigger.scenario_id)
    if state is None or state.champion_model_id is None:
        return None
    champion = await session.get(ModelVersion, state.champion_model_id)
    if champion is None:
        return None
    found = await labelled(
        session, trigger.scenario_id, model_id=champion.id, last=config.min_feedback
    )
    if len(found) < config.min_feedback:
        return None
    labels = (champion.signature.get("target") or {}).get("labels") or ()
    live = live_metrics(
        champion.task_type, [row.output for row in found], [row.actual for row in found], labels
    )
    value = live.metrics.get(config.metric)
    reason = rules.performance_reason(config, value=value, labelled=live.labelled)
    if reason is None:
        return None
    key = rules.feedback_key(champion.id, found[0].prediction_id)
    detail = {"model_id": str(champion.id), "metric": config.metric, "value": value}
    detail["labelled"] = live.labelled
    return Cause(key, reason, now, detail)
