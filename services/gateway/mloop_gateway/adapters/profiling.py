"""Dataset profiles, computed in a short-lived worker process.

A profile reads the whole file; doing it in the gateway would hold the GIL against requests and
keep the memory it grew. Each profile runs in a fresh process (one at a time) that exits after,
so the gateway's own footprint stays what uploads need.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mloop_common import tabular
from mloop_common.settings import Settings
from mloop_common.storage import create_artifact_store


def _profile(settings: Settings, key: str, encoding: str, delimiter: str) -> dict[str, Any]:
    with create_artifact_store(settings).open(key) as stream:
        return tabular.profile_csv(stream, encoding=encoding, delimiter=delimiter)


class Profiler:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: ProcessPoolExecutor | None = None

    async def profile(self, key: str, *, encoding: str, delimiter: str) -> dict[str, Any]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                max_tasks_per_child=1,
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, _profile, self._settings, key, encoding, delimiter
            )
        except BrokenProcessPool:
            self._pool = None  # the worker died (out of memory, killed): a retry gets a new one
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
