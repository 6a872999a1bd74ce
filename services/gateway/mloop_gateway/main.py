"""Wiring of the gateway: settings in, the FastAPI app out."""

from __future__ import annotations

from fastapi import FastAPI
from mloop_common.heartbeat import HeartbeatBoard
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings
from mloop_common.storage import create_artifact_store

from mloop_gateway import handlers
from mloop_gateway.entrypoints import health, keys, messages

SERVICE = "gateway"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, service=SERVICE)
    heartbeats = HeartbeatBoard(timeout=settings.heartbeat_timeout)
    runtime.broker.include_router(messages.build_router(heartbeats))
    if settings.admin_key:
        admin_key = settings.admin_key
        runtime.add_startup(lambda: handlers.ensure_admin_key(runtime.db, admin_key))

    app = runtime.create_app(title="MLoop", version="0.1.0")
    app.state.heartbeats = heartbeats
    app.state.store = create_artifact_store(settings)
    app.include_router(health.router)
    app.include_router(keys.router)
    return app
