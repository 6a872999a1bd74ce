"""What the scheduler's handlers share: the runtime (its database, broker and outbox relay)."""

from __future__ import annotations

from dataclasses import dataclass

from mloop_common.db.engine import Database
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings

SERVICE = "scheduler"


@dataclass(frozen=True)
class Scheduler:
    runtime: ServiceRuntime

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
