"""Wiring of the gateway: settings in, the FastAPI app out."""

from __future__ import annotations

from mloop_common.heartbeat import HeartbeatBoard
from mloop_common.keyring import KeyRing
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings
from mloop_common.storage import create_artifact_store

from mloop_gateway.adapters.predictor import PredictorClient
from mloop_gateway.adapters.profiling import Profiler
from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.entrypoints import (
    audit,
    catalogue,
    configs,
    data,
    deployments,
    experiments,
    feature_sets,
    feedback,
    health,
    keys,
    messages,
    models,
    monitoring,
    overview,
    predict,
    predictions,
    prepared_messages,
    scenarios,
    triggers,
    webhooks,
    workflow_runs,
    workflows,
)
from mloop_gateway.entrypoints.idempotency import IdempotencyMiddleware, purge_expired
from mloop_gateway.handlers.keys import ensure_admin_key
from mloop_gateway.web import pages_core, pages_monitoring, pages_training, render

ROUTERS = (
    health,
    overview,
    catalogue,
    keys,
    audit,
    scenarios,
    data,
    feature_sets,
    configs,
    experiments,
    models,
    deployments,
    predictions,
    feedback,
    triggers,
    webhooks,
    workflows,
    workflow_runs,
    monitoring,
    predict,
    pages_core,
    pages_training,
    pages_monitoring,
)


def create_app(settings: Settings | None = None) -> predict.PredictForward:
    """The FastAPI app behind the prediction forwarder (which passes every attribute through)."""
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, service=SERVICE)
    gw = Gateway(
        runtime=runtime,
        keyring=KeyRing(),
        store=create_artifact_store(settings),
        heartbeats=HeartbeatBoard(timeout=settings.heartbeat_timeout),
        profiler=Profiler(settings),
    )
    runtime.broker.include_router(messages.build_router(gw))
    runtime.broker.include_router(prepared_messages.build_router(gw))
    if settings.admin_key:
        admin_key = settings.admin_key
        runtime.add_startup(lambda: ensure_admin_key(runtime.db, admin_key))
    runtime.add_startup(lambda: gw.keyring.load(runtime.db))
    runtime.add_loop(
        lambda: gw.keyring.keep_fresh(runtime.db, interval=settings.key_refresh_interval)
    )
    runtime.add_loop(lambda: purge_expired(runtime.db, ttl=settings.idempotency_ttl))
    predictor_client = PredictorClient(settings)
    runtime.add_startup(predictor_client.start)
    runtime.add_shutdown(predictor_client.close)

    app = runtime.create_app(title="MLoop", version="0.1.0")
    app.state.gateway = gw
    app.add_middleware(
        IdempotencyMiddleware, db=runtime.db, keyring=gw.keyring, ttl=settings.idempotency_ttl
    )
    for module in ROUTERS:
        app.include_router(module.router)
    render.install(app)  # the dashboard's pages redirect to sign-in
    app.state.predictor_client = predictor_client
    return predict.PredictForward(  # in front of everything: see entrypoints.predict
        app,
        client=predictor_client,
        keyring=gw.keyring,
        max_bytes=settings.request_max_bytes,
        latency=runtime.telemetry.request_latency,
    )
