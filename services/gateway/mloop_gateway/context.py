"""What the gateway's handlers work with, wired once in `main.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from mloop_common.db.engine import Database
from mloop_common.heartbeat import HeartbeatBoard
from mloop_common.keyring import KeyRing
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings
from mloop_common.storage import ArtifactStore

from mloop_gateway.adapters.profiling import Profiler

SERVICE = "gateway"


@dataclass(frozen=True)
class Gateway:
    runtime: ServiceRuntime
    keyring: KeyRing
    store: ArtifactStore
    heartbeats: HeartbeatBoard
    profiler: Profiler

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
