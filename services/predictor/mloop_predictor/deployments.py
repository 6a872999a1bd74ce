"""What this predictor serves: per scenario, its deployment state and the loaded models.

`Deployments.entries` maps a scenario id to an immutable `Served` (state, router, champion and
challenger scorers); a request reads it once, so it sees one consistent state. A new state
(from `ModelPromoted`, `ModelRolledBack`, `ABTestStarted`, `ABTestEnded`, or the start-up load)
is applied only when its version is newer than the one held or being loaded. Its models load
in the background (scorers are shared by model id, so a promoted challenger is not loaded
twice); when all are ready the scenario's entry is replaced in one assignment. Until then the
previous entry keeps answering: no request fails or waits on a load.

A model that cannot be served (`ArtifactRejected`: its artifact's sha256 differs from the
registry, the file is missing or unreadable) makes the whole state refused: the current entry
keeps serving, and the refusal is logged, counted and kept for `GET /api/deployments`. A state
whose version is later superseded is dropped when its load finishes.

Scenarios without an entry are looked up in Postgres (does the scenario exist?) at most once per
`UNKNOWN_TTL` seconds per id, never for a scenario that has an entry.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mloop_common.messages.events import DeploymentState

from mloop_predictor.domain.routing import Router
from mloop_predictor.scoring import ArtifactRejected, Scorer

log = logging.getLogger(__name__)

UNKNOWN_TTL = 5.0

Loader = Callable[[uuid.UUID], Awaitable[Scorer]]
Exists = Callable[[uuid.UUID], Awaitable[bool]]


@dataclass(frozen=True)
class Served:
    """One scenario's deployment as served: read once per request."""

    scenario_id: uuid.UUID
    state: DeploymentState
    router: Router
    champion: Scorer | None
    challenger: Scorer | None


@dataclass
class Refusal:
    scenario_id: uuid.UUID
    version: int
    model_id: uuid.UUID | None
    reason: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def public(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model_id": None if self.model_id is None else str(self.model_id),
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


class Deployments:
    def __init__(
        self,
        load: Loader,
        exists: Exists,
        *,
        on_refusal: Callable[[Refusal], None] = lambda refusal: None,
    ) -> None:
        self._load = load
        self._exists = exists
        self.on_refusal = on_refusal
        self.entries: dict[uuid.UUID, Served] = {}
        self.by_path: dict[str, Served] = {}  # the id as it appears in request paths
        self.refusals: dict[uuid.UUID, Refusal] = {}
        self._wanted: dict[uuid.UUID, int] = {}  # newest version accepted for loading
        self._scorers: dict[uuid.UUID, Scorer] = {}
        self._loading: dict[uuid.UUID, asyncio.Future[Scorer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unknown: dict[uuid.UUID, tuple[bool, float]] = {}
        self._deleted: set[uuid.UUID] = set()

    # -- applying states ---------------------------------------------------------------------

    def held_version(self, scenario_id: uuid.UUID) -> int:
        served = self.entries.get(scenario_id)
        return max(served.state.version if served else 0, self._wanted.get(scenario_id, 0))

    def apply(self, scenario_id: uuid.UUID, state: DeploymentState) -> asyncio.Task[None] | None:
        """Start serving `state` once its models are loaded, if it is newer than what is held
        or loading; returns the loading task (None when the state is ignored)."""
        if state.version <= self.held_version(scenario_id) or scenario_id in self._deleted:
            return None
        self._wanted[scenario_id] = state.version
        task = asyncio.create_task(self._switch(scenario_id, state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _switch(self, scenario_id: uuid.UUID, state: DeploymentState) -> None:
        wanted = [state.champion_model_id]
        if state.mode != "single":
            wanted.append(state.challenger_model_id)
        try:
            scorers = [None if m is None else await self.scorer(m) for m in wanted]
        except ArtifactRejected as err:
            model_id = getattr(err, "model_id", None)
            self._refuse(Refusal(scenario_id, state.version, model_id, str(err)))
            return
        except Exception as err:  # a database hiccup: keep serving, say why
            log.exception("loading deployment %s of %s failed", state.version, scenario_id)
            self._refuse(Refusal(scenario_id, state.version, None, f"load failed: {err}"))
            return
        if self._wanted.get(scenario_id) != state.version or scenario_id in self._deleted:
            return  # superseded while loading
        champion = scorers[0]
        challenger = scorers[1] if len(scorers) > 1 else None
        served = Served(scenario_id, state, Router(state), champion, challenger)
        self.entries[scenario_id] = served
        self.by_path[str(scenario_id)] = served
        self._unknown.pop(scenario_id, None)
        self._forget_unused()
        log.info(
            "scenario %s now serves deployment %d: champion %s, %s",
            scenario_id,
            state.version,
            state.champion_model_id,
            state.mode,
        )

    def _refuse(self, refusal: Refusal) -> None:
        if self._wanted.get(refusal.scenario_id) == refusal.version:
            served = self.entries.get(refusal.scenario_id)
            # Fall back so a redelivery (or a newer state) is applied again.
            if served is not None:
                self._wanted[refusal.scenario_id] = served.state.version
            else:
                self._wanted.pop(refusal.scenario_id, None)
        self.refusals[refusal.scenario_id] = refusal
        log.error(
            "scenario %s: deployment %d refused, the current one keeps serving: %s",
            refusal.scenario_id,
            refusal.version,
            refusal.reason,
        )
        self.on_refusal(refusal)

    async def scorer(self, model_id: uuid.UUID) -> Scorer:
        """The model's scorer, loaded once however many states ask for it at the same time."""
        held = self._scorers.get(model_id)
        if held is not None:
            return held
        pending = self._loading.get(model_id)
        if pending is None:
            pending = asyncio.ensure_future(self._load_one(model_id))
            self._loading[model_id] = pending
        return await asyncio.shield(pending)

    async def _load_one(self, model_id: uuid.UUID) -> Scorer:
        started = time.monotonic()
        try:
            scorer = await self._load(model_id)
        except ArtifactRejected as err:
            err.model_id = model_id  # type: ignore[attr-defined]
            raise
        finally:
            self._loading.pop(model_id, None)
        self._scorers[model_id] = scorer
        log.info(
            "loaded model %s in %.2f s (%s)", model_id, time.monotonic() - started, scorer.fast_path
        )
        return scorer

    def _forget_unused(self) -> None:
        used = {
            model_id
            for served in self.entries.values()
            for model_id in (served.state.champion_model_id, served.state.challenger_model_id)
        }
        for model_id in list(self._scorers):
            if model_id not in used:
                del self._scorers[model_id]

    def delete(self, scenario_id: uuid.UUID) -> None:
        """The scenario is gone: stop serving it (404 from now on)."""
        self._deleted.add(scenario_id)
        self.entries.pop(scenario_id, None)
        self.by_path.pop(str(scenario_id), None)
        self._wanted.pop(scenario_id, None)
        self.refusals.pop(scenario_id, None)
        self._unknown[scenario_id] = (False, time.monotonic())
        self._forget_unused()

    async def settle(self) -> None:
        """Wait for the loads under way (start-up, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- scenarios without an entry ----------------------------------------------------------

    async def exists(self, scenario_id: uuid.UUID) -> bool:
        """Whether a scenario this predictor serves nothing for exists (cached briefly)."""
        if scenario_id in self._deleted:
            return False
        known = self._unknown.get(scenario_id)
        now = time.monotonic()
        if known is not None and now - known[1] < UNKNOWN_TTL:
            return known[0]
        found = await self._exists(scenario_id)
        if len(self._unknown) > 10_000:
            self._unknown.clear()
        self._unknown[scenario_id] = (found, now)
        return found

    # -- admin ---------------------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for scenario_id in sorted(set(self.entries) | set(self.refusals), key=str):
            served = self.entries.get(scenario_id)
            refusal = self.refusals.get(scenario_id)
            entry: dict[str, Any] = {
                "scenario_id": str(scenario_id),
                "state": None if served is None else served.state.model_dump(mode="json"),
                "champion": None
                if not served or not served.champion
                else served.champion.describe(),
                "challenger": (
                    None if not served or not served.challenger else served.challenger.describe()
                ),
                "loading_version": (
                    self._wanted.get(scenario_id)
                    if self._wanted.get(scenario_id) != (served.state.version if served else None)
                    else None
                ),
                "last_refusal": None if refusal is None else refusal.public(),
            }
            out.append(entry)
        return out
