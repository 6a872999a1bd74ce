"""Heartbeats prove the bus end to end: services broadcast them, the gateway reads them."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker

from mloop_common.messages.events import ServiceHeartbeat
from mloop_common.settings import SERVICES


async def send_heartbeats(broker: KafkaBroker, *, service: str, interval: float) -> None:
    instance = f"{socket.gethostname()}:{os.getpid()}"
    started_at = datetime.now(UTC)
    while True:
        beat = ServiceHeartbeat(service=service, instance=instance, started_at=started_at)
        try:
            await broker.publish(beat, topic=beat.topic, key=service.encode())
        except Exception:  # the broker may be restarting; the next beat will tell
            pass
        await asyncio.sleep(interval)


class HeartbeatBoard:
    """Last heartbeat seen per service; a service is ok while beats keep arriving."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._seen: dict[str, float] = {}

    def record(self, beat: ServiceHeartbeat) -> None:
        self._seen[beat.service] = time.monotonic()

    def status(self) -> dict[str, str]:
        now = time.monotonic()
        return {
            service: "ok" if now - self._seen.get(service, -1e18) <= self.timeout else "down"
            for service in SERVICES
        }
