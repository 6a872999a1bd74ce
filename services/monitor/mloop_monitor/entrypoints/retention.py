"""The monitor's clock-driven work, every `retention_interval`: feedback whose prediction never
came is dead-lettered and removed, and the daily partitions past `retention_days` are dropped.
Each runs as a background loop of the service runtime (restarted if it crashes)."""

from __future__ import annotations

import asyncio

from mloop_monitor import feedback_handlers
from mloop_monitor.context import Monitor


async def sweep_orphan_feedback(monitor: Monitor) -> None:
    while True:
        await feedback_handlers.dead_letter_orphans(monitor)
        await asyncio.sleep(monitor.settings.retention_interval)


async def drop_expired_partitions(monitor: Monitor) -> None:
    while True:
        await feedback_handlers.drop_expired_partitions(monitor)
        await asyncio.sleep(monitor.settings.retention_interval)
