"""`GET /api/health`: services by their Kafka heartbeats, dependencies by a live probe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter

from mloop_gateway.domain.health import Health, Status, summarise
from mloop_gateway.entrypoints.deps import Ctx

router = APIRouter()

PROBE_TIMEOUT = 2.0


async def _probe(check: Callable[[], Awaitable[object]]) -> Status:
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT)
    except Exception:
        return "down"
    return "ok"


@router.get("/api/health", response_model=Health, tags=["health"])
async def health(gw: Ctx) -> Health:
    """Open to all (no key): load balancers and `make run` poll it."""
    runtime, store = gw.runtime, gw.store

    async def kafka() -> None:
        if not await runtime.broker.ping(timeout=PROBE_TIMEOUT):
            raise ConnectionError("kafka unreachable")

    kafka_status, postgres_status, storage_status = await asyncio.gather(
        _probe(kafka), _probe(runtime.db.ping), _probe(lambda: asyncio.to_thread(store.check))
    )
    return summarise(
        gw.heartbeats.status(),
        {"kafka": kafka_status, "postgres": postgres_status, "storage": storage_status},
    )
