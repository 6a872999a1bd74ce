"""What the gateway consumes from Kafka."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import broadcast_subscriber
from mloop_common.heartbeat import HeartbeatBoard
from mloop_common.messages.events import ServiceHeartbeat


def build_router(heartbeats: HeartbeatBoard) -> KafkaRouter:
    router = KafkaRouter()

    @broadcast_subscriber(router, topics.HEARTBEATS)
    async def on_service_heartbeat(beat: ServiceHeartbeat) -> None:
        """Every gateway replica tracks every service's heartbeat."""
        heartbeats.record(beat)

    return router
