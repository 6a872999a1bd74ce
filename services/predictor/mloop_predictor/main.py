"""Wiring of the predictor: settings in, the ASGI app out (online prediction in front of a
FastAPI app with health, metrics and the admin view, running its broker and batch jobs).

Start-up: the broker's broadcast subscribers start first, then the key ring, every
deployment and every predict workflow are loaded from Postgres (the app answers only once the
current champions are loaded), then the loops run: key refresh, prediction-log flusher, batch
workers.
"""

from __future__ import annotations

from mloop_common.keyring import KeyRing
from mloop_common.prediction_ids import PredictionIds
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings
from mloop_common.storage import create_artifact_store

from mloop_predictor import batches, handlers
from mloop_predictor.adapters.prediction_log import PredictionLog, kafka_publisher
from mloop_predictor.adapters.scenarios import scenario_exists
from mloop_predictor.adapters.workflows import predict_workflow, predict_workflows
from mloop_predictor.context import SERVICE, Metrics, Predictor
from mloop_predictor.deployments import Deployments
from mloop_predictor.entrypoints import http, messages
from mloop_predictor.scoring import load_scorer
from mloop_predictor.transforms import Transforms


def create_app(settings: Settings | None = None) -> http.PredictLane:
    """The FastAPI app behind the predict lane (which passes every attribute through)."""
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, service=SERVICE)
    store = create_artifact_store(settings)
    metrics = Metrics(runtime)
    deployments = Deployments(
        lambda model_id: load_scorer(runtime.db, store, model_id),
        lambda scenario_id: scenario_exists(runtime.db, scenario_id),
        on_refusal=lambda refusal: metrics.refusals.inc(),
    )
    prediction_log = PredictionLog(
        batch_size=settings.prediction_batch_size,
        flush_interval=settings.prediction_flush_interval,
        buffer_max=settings.prediction_buffer_max,
    )
    prediction_log.on_drop = metrics.log_dropped.inc
    ctx = Predictor(
        runtime=runtime,
        store=store,
        keyring=KeyRing(),
        deployments=deployments,
        transforms=Transforms(
            lambda scenario_id: predict_workflow(runtime.db, scenario_id),
            lambda: predict_workflows(runtime.db),
        ),
        log=prediction_log,
        ids=PredictionIds(settings.prediction_secret),
        metrics=metrics,
    )
    runtime.broker.include_router(messages.build_router(ctx))
    runtime.add_startup(lambda: ctx.keyring.load(runtime.db))
    runtime.add_startup(lambda: handlers.load_all(ctx))
    runtime.add_loop(
        lambda: ctx.keyring.keep_fresh(runtime.db, interval=settings.key_refresh_interval)
    )
    runtime.add_loop(lambda: prediction_log.run(kafka_publisher(runtime.broker)))
    # Batch jobs share the online scorers: a job on the champion reuses the loaded model. Each
    # job reads its scenario's predict workflow when it starts.
    batches.install(
        runtime,
        store=store,
        load=lambda db, _, model_id: deployments.scorer(model_id),
        transform=predict_workflow,
    )

    app = runtime.create_app(title="MLoop predictor")
    app.state.predictor = ctx
    app.include_router(http.router)
    return http.PredictLane(app, predictor=ctx)  # in front of everything: see entrypoints.http
