"""What the trainer's handlers share: the runtime's database, the artifact store, the warm
pool of run processes, and what this machine offers."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field

import psutil
from mloop_common.db.engine import Database
from mloop_common.runtime import ServiceRuntime
from mloop_common.settings import Settings
from mloop_common.storage import ArtifactStore

from mloop_trainer.adapters.sandbox import WarmPool
from mloop_trainer.domain.capacity import Machine

SERVICE = "trainer"


@dataclass
class Trainer:
    runtime: ServiceRuntime
    store: ArtifactStore
    pool: WarmPool
    machine: Machine
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings


def this_machine(settings: Settings) -> Machine:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = settings.trainer_gpus if settings.trainer_gpus is not None else _count_gpus()
    return Machine(cores=cores or 1, memory_mb=psutil.virtual_memory().total / 2**20, gpus=gpus)


def _count_gpus() -> int:
    """NVIDIA GPUs that `nvidia-smi -L` lists; none when the tool is missing or fails."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        listed = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines())
