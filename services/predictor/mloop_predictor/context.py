"""What the predictor's handlers share, wired once in `main.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from mloop_common.db.engine import Database
from mloop_common.keyring import KeyRing
from mloop_common.prediction_ids import PredictionIds
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings
from mloop_common.storage import ArtifactStore
from prometheus_client import Counter

from mloop_predictor.adapters.prediction_log import PredictionLog
from mloop_predictor.deployments import Deployments
from mloop_predictor.transforms import Transforms

SERVICE = "predictor"
PREDICT_ROUTE = "/api/scenarios/{scenario_id}/predict"


class Metrics:
    """Prometheus series of online prediction, on the runtime's registry."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        registry = runtime.telemetry.registry
        self.predictions = Counter(
            "mloop_predictor_predictions",
            "Records answered online, by arm (shadow: scored beside the champion).",
            ["arm"],
            registry=registry,
        )
        self.refusals = Counter(
            "mloop_predictor_model_refusals",
            "Deployment states refused because a model could not be served (sha256, file).",
            registry=registry,
        )
        self.log_dropped = Counter(
            "mloop_predictor_log_dropped",
            "Logged predictions dropped from a full buffer before they were sent.",
            registry=registry,
        )
        self.latency = runtime.telemetry.request_latency
        self._latency_children: dict[int, object] = {}

    def observe(self, status: int, seconds: float) -> None:
        child = self._latency_children.get(status)
        if child is None:
            child = self.latency.labels("POST", PREDICT_ROUTE, str(status))
            self._latency_children[status] = child
        child.observe(seconds)  # type: ignore[attr-defined]


@dataclass
class Predictor:
    runtime: ServiceRuntime
    store: ArtifactStore
    keyring: KeyRing
    deployments: Deployments
    transforms: Transforms
    log: PredictionLog
    ids: PredictionIds
    metrics: Metrics

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
