"""Which predict workflow applies to each scenario's records, held in memory.

Loaded with the deployments at start-up (one query for every scenario), refreshed for one
scenario when a `WorkflowSaved` broadcast says its predict workflow changed (and, to heal a lost
broadcast, whenever its deployment changes). A request reads `get` once: no database round trip
on the request path.

Refreshes of one scenario run one after the other (a lock per scenario), each reading the
workflow in force at that moment, so the last one to finish holds the newest. The start-up load
reads every scenario in one query that may race with a broadcast: it does not overwrite a
scenario refreshed since it began.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from mloop_predictor.domain.transform import PredictTransform

log = logging.getLogger(__name__)

LoadOne = Callable[[uuid.UUID], Awaitable[PredictTransform | None]]
LoadAll = Callable[[], Awaitable[dict[uuid.UUID, PredictTransform]]]


class Transforms:
    def __init__(self, load_one: LoadOne, load_all: LoadAll) -> None:
        self._load_one = load_one
        self._load_all = load_all
        self.by_scenario: dict[uuid.UUID, PredictTransform] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._touched: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, scenario_id: uuid.UUID) -> PredictTransform | None:
        return self.by_scenario.get(scenario_id)

    async def load_all(self) -> None:
        """Every scenario's predict workflow (start-up), except those refreshed meanwhile."""
        self._touched.clear()
        loaded = await self._load_all()
        for scenario_id in list(self.by_scenario):
            if scenario_id not in loaded and scenario_id not in self._touched:
                del self.by_scenario[scenario_id]
        for scenario_id, transform in loaded.items():
            if scenario_id not in self._touched:
                self._set(scenario_id, transform)
        log.info("%d scenarios have a predict workflow", len(self.by_scenario))

    async def refresh(self, scenario_id: uuid.UUID) -> None:
        """Read the scenario's predict workflow in force and apply it from the next request
        (none in force: records go to the model as sent). A failed read keeps the current
        one and is logged."""
        self._touched.add(scenario_id)
        lock = self._locks.setdefault(scenario_id, asyncio.Lock())
        async with lock:
            try:
                transform = await self._load_one(scenario_id)
            except Exception:
                log.exception("reading the predict workflow of %s failed", scenario_id)
                return
            self._set(scenario_id, transform)

    def refresh_soon(self, scenario_id: uuid.UUID) -> None:
        """`refresh` in the background."""
        task = asyncio.create_task(self.refresh(scenario_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def delete(self, scenario_id: uuid.UUID) -> None:
        self._touched.add(scenario_id)
        self.by_scenario.pop(scenario_id, None)
        self._locks.pop(scenario_id, None)

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def describe(self, scenario_id: uuid.UUID) -> dict[str, Any] | None:
        transform = self.by_scenario.get(scenario_id)
        return None if transform is None else transform.describe()

    def _set(self, scenario_id: uuid.UUID, transform: PredictTransform | None) -> None:
        held = self.by_scenario.get(scenario_id)
        if transform is None:
            if held is not None:
                del self.by_scenario[scenario_id]
                log.info("scenario %s: no predict workflow in force any more", scenario_id)
            return
        self.by_scenario[scenario_id] = transform
        if held is None or held.workflow_id != transform.workflow_id:
            if transform.broken:
                log.error(
                    "scenario %s: predict workflow version %d cannot be applied: %s",
                    scenario_id,
                    transform.version,
                    transform.broken,
                )
            else:
                log.info(
                    "scenario %s: predict workflow version %d in force (%s)",
                    scenario_id,
                    transform.version,
                    ", ".join(name for name, _ in transform.steps),
                )
