"""What the batch side of a predictor shares: the runtime's database, the artifact store, the
last scorers it loaded, and the signals between its consumer, worker and shutdown."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mloop_common.db.engine import Database
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings
from mloop_common.storage import ArtifactStore

from mloop_predictor.domain.transform import PredictTransform

Loader = Callable[[Database, ArtifactStore, uuid.UUID], Awaitable[Any]]
TransformLoader = Callable[[Database, uuid.UUID], Awaitable[PredictTransform | None]]
"""The scenario's predict workflow in force, or None."""


async def no_transform(db: Database, scenario_id: uuid.UUID) -> PredictTransform | None:
    return None


class ScorerCache:
    """The last `size` scorers loaded (batches often use the same model again)."""

    def __init__(self, load: Loader, *, size: int = 2) -> None:
        self._load = load
        self._size = size
        self._kept: OrderedDict[uuid.UUID, Any] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, db: Database, store: ArtifactStore, model_id: uuid.UUID) -> Any:
        async with self._lock:
            scorer = self._kept.pop(model_id, None)
            if scorer is None:
                scorer = await self._load(db, store, model_id)
            self._kept[model_id] = scorer
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
            return scorer


@dataclass
class Batches:
    runtime: ServiceRuntime
    store: ArtifactStore
    scorers: ScorerCache
    transform: TransformLoader = no_transform
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}/batch")
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
