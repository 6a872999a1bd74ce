"""What the monitor's handlers share: the runtime's database, the prediction-id checker and
the daily partitions known to exist."""

from __future__ import annotations

from dataclasses import dataclass, field

from mloop_common.db.engine import Database
from mloop_common.prediction_ids import PredictionIds
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings

from mloop_monitor.adapters.prediction_log import Partitions

SERVICE = "monitor"


@dataclass
class Monitor:
    runtime: ServiceRuntime
    ids: PredictionIds
    partitions: Partitions = field(default_factory=Partitions)

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
