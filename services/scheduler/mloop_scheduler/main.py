"""Wiring of the scheduler: settings in, a FastAPI app (health, metrics) running its broker out.

Today it owns the deployment state (champion / challenger aliases with history, A/B tests);
triggers, workflows and webhooks come with the closed loop.
"""

from __future__ import annotations

from fastapi import FastAPI
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings

from mloop_scheduler.context import SERVICE, Scheduler
from mloop_scheduler.entrypoints import messages


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, service=SERVICE)
    scheduler = Scheduler(runtime=runtime)
    runtime.broker.include_router(messages.build_router(scheduler))
    app = runtime.create_app(title="MLoop scheduler")
    app.state.scheduler = scheduler
    return app
