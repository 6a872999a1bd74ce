"""Wiring of the monitor: settings in, a FastAPI app (health, metrics) running its broker out."""

from __future__ import annotations

from fastapi import FastAPI
from mloop_common.prediction_ids import PredictionIds
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings

from mloop_monitor.context import SERVICE, Monitor
from mloop_monitor.entrypoints import feedback_messages, messages, retention
from mloop_monitor.window_handlers import WindowWatch


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, service=SERVICE)
    monitor = Monitor(runtime=runtime, ids=PredictionIds(settings.prediction_secret))
    runtime.broker.include_router(messages.build_router(monitor))
    runtime.broker.include_router(feedback_messages.build_router(monitor))
    runtime.add_loop(lambda: retention.sweep_orphan_feedback(monitor))
    runtime.add_loop(lambda: retention.drop_expired_partitions(monitor))
    runtime.add_loop(WindowWatch(monitor).run)
    app = runtime.create_app(title="MLoop monitor")
    app.state.monitor = monitor
    return app
