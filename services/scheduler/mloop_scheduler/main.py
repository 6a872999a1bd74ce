"""Wiring of the scheduler: settings in, a FastAPI app (health, metrics) running its broker out.

Today it owns the deployment state (champion / challenger aliases with history, A/B tests);
triggers, workflows and webhooks come with the closed loop.
"""

from __future__ import annotations

from fastapi import FastAPI
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings

from mloop_scheduler import policy_handlers, trigger_handlers
from mloop_scheduler.context import SERVICE, Scheduler
from mloop_scheduler.entrypoints import messages, policy_messages, trigger_messages
from mloop_scheduler.webhooks import entrypoints as webhook_messages
from mloop_scheduler.webhooks.handlers import WebhookOutbox
from mloop_scheduler.workflows import entrypoints as workflow_messages


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, service=SERVICE)
    scheduler = Scheduler(runtime=runtime)
    runtime.broker.include_router(messages.build_router(scheduler))
    runtime.broker.include_router(policy_messages.build_router(scheduler))
    runtime.add_loop(lambda: policy_handlers.watch(scheduler))
    runtime.broker.include_router(trigger_messages.build_router(scheduler))
    runtime.add_loop(lambda: trigger_handlers.run_clock(scheduler))
    webhooks = WebhookOutbox(scheduler)
    runtime.broker.include_router(webhook_messages.build_router(webhooks))
    runtime.add_loop(webhooks.run)
    runtime.broker.include_router(workflow_messages.build_router(scheduler))
    runtime.add_loop(workflow_messages.retry_loop(scheduler))
    app = runtime.create_app(title="MLoop scheduler")
    app.state.scheduler = scheduler
    return app
