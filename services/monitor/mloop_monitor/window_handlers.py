"""The monitor's sliding windows: every tick, each scenario with a champion whose next window
is due gets one window per model it serves (champion, and challenger or shadow during a test),
and the champion's window feeds the drift and performance episodes. An episode that starts
emits `DriftDetected` or `PerformanceDegraded` through the outbox, in the transaction that
stores the window and the episode, so a restart or a second replica never sends it twice.

Windows end on a grid of the scenario's interval (multiples of it since the epoch), so two
replicas agree on them; the per-scenario advisory lock and the stored latest window end decide
which replica computes one. A window without predictions is not stored (the
series has a gap there) and changes no episode.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from datetime import UTC, datetime, timedelta

from mloop_common.messages import Message
from mloop_common.monitoring import Monitoring, effective
from pydantic import ValidationError

from mloop_monitor.adapters import windows as store
from mloop_monitor.context import SERVICE, Monitor
from mloop_monitor.domain.windows import (
    DRIFT,
    PERFORMANCE,
    EpisodeState,
    ModelFacts,
    Volume,
    Window,
    advance,
    assemble,
    drift_event,
    performance_event,
)

log = logging.getLogger(__name__)

# Drift is measured on the newest rows of a window, at most this many per model.
MAX_DRIFT_ROWS = 50_000
MIN_PAUSE = 0.05


def window_end(now: datetime, interval: float) -> datetime:
    """The end of the latest window at `now`: the last multiple of `interval` since the epoch."""
    return datetime.fromtimestamp(math.floor(now.timestamp() / interval) * interval, UTC)


class WindowWatch:
    """The window loop of one monitor process, with the models it has loaded."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.models: dict[uuid.UUID, ModelFacts] = {}
        self.checked: dict[uuid.UUID, datetime] = {}
        self._next_retention = 0.0

    async def run(self) -> None:
        while True:
            pause = await self.tick()
            await asyncio.sleep(pause)

    async def tick(self, now: datetime | None = None) -> float:
        """Compute every due window; answers the seconds to wait before the next tick."""
        now = now or datetime.now(UTC)
        settings = self.monitor.settings
        async with self.monitor.db.transaction() as session:
            scenarios = await store.watched(session)
        pauses = [settings.monitor_interval]
        for scenario in scenarios:
            config = self._config(scenario)
            if config is None:
                continue
            pauses.append(config.interval_seconds)
            end = window_end(now, config.interval_seconds)
            done = [e for e in (scenario.last_end, self.checked.get(scenario.scenario_id)) if e]
            if done and end <= max(done):
                continue
            try:
                await self.scenario(scenario, config, end)
            except Exception:  # the window stays due: retried on the next tick
                log.exception("monitoring window of scenario %s failed", scenario.scenario_id)
        self._forget_others(scenarios)
        await self._retention(now)
        return max(MIN_PAUSE, min(pauses))

    def _config(self, scenario: store.Watched) -> Monitoring | None:
        try:
            return effective(self.monitor.settings, scenario.monitoring)
        except ValidationError as error:
            sid = scenario.scenario_id
            log.warning("scenario %s: unusable monitoring settings: %s", sid, error)
            return None

    async def scenario(self, scenario: store.Watched, config: Monitoring, end: datetime) -> None:
        """Compute, store and act on the windows of one scenario ending at `end`."""
        sid = scenario.scenario_id
        start = end - timedelta(seconds=config.window_seconds)
        events: list[Message] = []
        async with self.monitor.db.transaction() as session:
            if not await store.lock_scenario(session, sid):
                return  # another replica is at it
            last = await store.last_end(session, sid)
            if last is not None and last >= end:
                self.checked[sid] = last
                return
            counted = await store.volumes(session, sid, start, end)
            built: list[Window] = []
            for model_id, arm in _arms(scenario):
                model = await self._model(session, sid, model_id)
                if model is None:
                    continue
                volume = counted.get(model_id, Volume(0))
                if volume.predictions == 0:  # then none of its predictions has feedback either
                    continue
                outputs, actuals = await store.labelled_pairs(session, sid, model_id, start, end)
                inputs: list = []
                logged: list = []
                if volume.predictions >= config.min_predictions:
                    inputs, logged = await store.newest_rows(
                        session, sid, model_id, start, end, cap=MAX_DRIFT_ROWS
                    )
                built.append(
                    await asyncio.to_thread(
                        assemble,
                        model,
                        arm=arm,
                        start=start,
                        end=end,
                        counted=volume,
                        inputs=inputs,
                        outputs=logged,
                        labelled_outputs=outputs,
                        actuals=actuals,
                        config=config,
                    )
                )
            if not built:
                self.checked[sid] = end
                return
            champion = next((w for w in built if w.model_id == scenario.champion), None)
            updates: dict[str, tuple[EpisodeState, datetime | None]] = {}
            if champion is not None:
                stored = await store.episodes(session, sid)
                model = self.models[scenario.champion]
                for kind, over in (
                    (DRIFT, champion.drift.drifted),
                    (PERFORMANCE, champion.live.degraded),
                ):
                    before, started_at = stored.get(kind, (None, None))
                    state, change = advance(
                        before, scenario.champion, over, windows=config.episode_windows
                    )
                    if before is None or before.model_id != scenario.champion:
                        started_at = None
                    if change == "started":
                        started_at = end
                        event = (
                            drift_event(sid, champion)
                            if kind == DRIFT
                            else performance_event(sid, champion, model)
                        )
                        events.append(event)
                        log.info("scenario %s: %s episode started: %s", sid, kind, event)
                    elif change == "ended":
                        started_at = None
                        log.info("scenario %s: %s episode ended", sid, kind)
                    if before is None or state != before:
                        updates[kind] = (state, started_at)
            await store.save(
                session,
                scenario_id=sid,
                windows=built,
                episodes=updates,
                events=events,
                service=SERVICE,
                now=datetime.now(UTC),
            )
            await session.commit()
        self.checked[sid] = end
        if events:
            self.monitor.runtime.relay.notify()

    async def _model(self, session, scenario_id: uuid.UUID, model_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """The model's facts, read once per process (models never change)."""
        found = self.models.get(model_id)
        if found is None:
            found = await store.model_facts(session, scenario_id, model_id)
            if found is not None:
                self.models[model_id] = found
        return found

    def _forget_others(self, scenarios: list[store.Watched]) -> None:
        serving = {s.champion for s in scenarios} | {s.challenger for s in scenarios}
        for model_id in set(self.models) - serving:
            del self.models[model_id]
        present = {s.scenario_id for s in scenarios}
        for scenario_id in set(self.checked) - present:
            del self.checked[scenario_id]

    async def _retention(self, now: datetime) -> None:
        """Delete windows older than the retention, every retention interval."""
        if time.monotonic() < self._next_retention:
            return
        settings = self.monitor.settings
        self._next_retention = time.monotonic() + settings.retention_interval
        before = now - timedelta(days=settings.retention_days)
        async with self.monitor.db.transaction() as session:
            deleted = await store.delete_older(session, before)
            await session.commit()
        if deleted:
            log.info("deleted %d monitoring windows ending before %s", deleted, before.isoformat())


def _arms(scenario: store.Watched) -> list[tuple[uuid.UUID, str]]:
    arms = [(scenario.champion, "champion")]
    if scenario.challenger is not None and scenario.challenger != scenario.champion:
        arms.append((scenario.challenger, "shadow" if scenario.mode == "shadow" else "challenger"))
    return arms
