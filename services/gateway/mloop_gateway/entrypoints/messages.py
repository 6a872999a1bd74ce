"""What the gateway consumes from Kafka."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import broadcast_subscriber, work_subscriber
from mloop_common.messages.events import (
    DatasetUploaded,
    KeysChanged,
    ScenarioDeleted,
    ServiceHeartbeat,
)

from mloop_gateway.context import Gateway
from mloop_gateway.handlers import data


def build_router(gw: Gateway) -> KafkaRouter:
    router = KafkaRouter()

    @broadcast_subscriber(router, topics.HEARTBEATS)
    async def on_service_heartbeat(beat: ServiceHeartbeat) -> None:
        """Every gateway replica tracks every service's heartbeat."""
        gw.heartbeats.record(beat)

    @broadcast_subscriber(router, topics.KEYS_CHANGED)
    async def on_keys_changed(change: KeysChanged) -> None:
        """Every replica keeps its in-memory key ring current."""
        gw.keyring.apply(change)

    @work_subscriber(router, topics.DATASET_UPLOADED, group="mloop.gateway.profile")
    async def on_dataset_uploaded(event: DatasetUploaded) -> None:
        """Profile the new version off the request path (a redelivery finds it done)."""
        await data.compute_profile(gw, event.dataset_id)

    @work_subscriber(router, topics.SCENARIO_DELETED, group="mloop.gateway.files")
    async def on_scenario_deleted(event: ScenarioDeleted) -> None:
        """Remove a deleted scenario's files (idempotent)."""
        assert event.scenario_id is not None
        await data.remove_scenario_files(gw, event.scenario_id)

    return router
