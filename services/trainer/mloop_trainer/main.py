"""Wiring of the trainer: settings in, a FastAPI app (health, metrics) running its broker out."""

from __future__ import annotations

from fastapi import FastAPI
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings

SERVICE = "trainer"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(settings or Settings(), service=SERVICE)
    app = runtime.create_app(title="MLoop trainer")
    return app
