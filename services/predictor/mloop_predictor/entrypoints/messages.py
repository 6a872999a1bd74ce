"""What the predictor's online side consumes: broadcasts every replica must see (DESIGN.md).

Deployment events carry the whole state they lead to; a replica applies one only when its
version is newer than what it holds (`Deployments.apply`). `WorkflowSaved` makes every replica
re-read the scenario's predict workflow (`Transforms.refresh`). Start-up subscribes first (the
broker starts before the start-up steps), then loads every deployment from Postgres.
"""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import broadcast_subscriber
from mloop_common.messages.events import (
    ABTestEnded,
    ABTestStarted,
    KeysChanged,
    ModelPromoted,
    ModelRolledBack,
    ScenarioDeleted,
    WorkflowSaved,
)

from mloop_predictor import handlers
from mloop_predictor.context import Predictor


def build_router(ctx: Predictor) -> KafkaRouter:
    router = KafkaRouter()

    @broadcast_subscriber(router, topics.MODEL_PROMOTED)
    async def on_model_promoted(event: ModelPromoted) -> None:
        """Load the new champion in the background; swap when ready."""
        handlers.on_deployment(ctx, event.scenario_id, event.state)

    @broadcast_subscriber(router, topics.MODEL_ROLLED_BACK)
    async def on_model_rolled_back(event: ModelRolledBack) -> None:
        """Serve the restored champion (usually still loaded)."""
        handlers.on_deployment(ctx, event.scenario_id, event.state)

    @broadcast_subscriber(router, topics.AB_TEST_STARTED)
    async def on_ab_test_started(event: ABTestStarted) -> None:
        """Load the challenger; split or shadow traffic once it is ready."""
        handlers.on_deployment(ctx, event.scenario_id, event.state)

    @broadcast_subscriber(router, topics.AB_TEST_ENDED)
    async def on_ab_test_ended(event: ABTestEnded) -> None:
        """Back to one model (the winner when promoted)."""
        handlers.on_deployment(ctx, event.scenario_id, event.state)

    @broadcast_subscriber(router, topics.KEYS_CHANGED)
    async def on_keys_changed(change: KeysChanged) -> None:
        """Keep the in-memory key ring current (a revoked key stops at once)."""
        ctx.keyring.apply(change)

    @broadcast_subscriber(router, topics.SCENARIO_DELETED)
    async def on_scenario_deleted(event: ScenarioDeleted) -> None:
        """Stop serving a deleted scenario."""
        if event.scenario_id is not None:
            ctx.deployments.delete(event.scenario_id)
            ctx.transforms.delete(event.scenario_id)

    @broadcast_subscriber(router, topics.WORKFLOW_SAVED)
    async def on_workflow_saved(event: WorkflowSaved) -> None:
        """A predict workflow changed: transform the next requests' records by the one now in
        force (read once here, never per request)."""
        await handlers.on_workflow_saved(ctx, event.scenario_id, event.kind)

    return router
