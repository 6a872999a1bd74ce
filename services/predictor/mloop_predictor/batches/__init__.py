"""Batch prediction: PredictBatch becomes a queued job row; a worker claims it under a lease,
scores the input in chunks off the event loop, and writes inputs plus predictions as CSV.

`install` adds all of it to a predictor's runtime: the subscriber, the worker and reconciler
loops, and the shutdown step.
"""

from __future__ import annotations

from mloop_common.runtime import ServiceRuntime
from mloop_common.storage import ArtifactStore

from mloop_predictor.batches import worker
from mloop_predictor.batches.context import (
    Batches,
    Loader,
    ScorerCache,
    TransformLoader,
    no_transform,
)
from mloop_predictor.batches.router import build_router
from mloop_predictor.scoring import load_scorer


def install(
    runtime: ServiceRuntime,
    *,
    store: ArtifactStore,
    load: Loader | None = None,
    transform: TransformLoader | None = None,
) -> Batches:
    """Add batch prediction to `runtime`; `load(db, store, model_id)` makes a scorer (default:
    `scoring.load_scorer`, which checks the artifact's sha256); `transform(db, scenario_id)`
    reads the scenario's predict workflow when a job starts (default: none is applied)."""
    batches = Batches(
        runtime=runtime,
        store=store,
        scorers=ScorerCache(load or load_scorer),
        transform=transform or no_transform,
    )
    runtime.broker.include_router(build_router(batches))
    runtime.add_loop(lambda: worker.work(batches))
    runtime.add_loop(lambda: worker.reconcile(batches))
    runtime.add_shutdown(lambda: worker.stop(batches))
    return batches


__all__ = ["Batches", "install"]
