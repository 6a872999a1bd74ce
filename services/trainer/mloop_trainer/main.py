"""Wiring of the trainer: settings in, a FastAPI app (health, metrics) running its broker,
its run workers and its reconciler out."""

from __future__ import annotations

from fastapi import FastAPI
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings
from mloop_common.storage import create_artifact_store

from mloop_trainer import handlers
from mloop_trainer.adapters.sandbox import WarmPool
from mloop_trainer.context import SERVICE, Trainer, this_machine
from mloop_trainer.entrypoints import messages, prepare_messages

JOB = "mloop_trainer.job:execute"
# Imported by every run process before it is given a run, so runs start warm.
PRELOAD = (
    "numpy",
    "pandas",
    "sklearn",
    "lightgbm",
    "optuna",
    "mloop_common.ml.training",
    "mloop_trainer.job",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, service=SERVICE)
    trainer = Trainer(
        runtime=runtime,
        store=create_artifact_store(settings),
        pool=WarmPool(target=JOB, preload=PRELOAD, size=settings.trainer_concurrency),
        machine=this_machine(settings),
    )
    runtime.broker.include_router(messages.build_router(trainer))
    runtime.broker.include_router(prepare_messages.build_router(trainer))
    runtime.add_startup(trainer.pool.start)
    runtime.add_shutdown(trainer.pool.close)
    for slot in range(settings.trainer_concurrency):
        runtime.add_loop(lambda slot=slot: handlers.work(trainer, slot))
    runtime.add_loop(lambda: handlers.reconcile(trainer))
    app = runtime.create_app(title="MLoop trainer")
    app.state.trainer = trainer
    return app
