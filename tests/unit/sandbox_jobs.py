"""Job functions run by the sandbox tests in real child processes (`tests.unit.sandbox_jobs:run`).

`job["kind"]` picks the behaviour. This module imports nothing heavy: whatever a test finds in
`sys.modules` came from the pool's preload list.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from mloop_trainer.adapters.child import Emit, JobFailed


def run(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    return KINDS[job["kind"]](job, emit)


def _steps(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    emit.log("starting")
    for step in range(1, 4):
        emit.progress(step / 3, f"step {step}")
        emit.log(f"did step {step}")
    return {"answer": 42, "echo": job.get("echo")}


def _noisy(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    print("from print")
    print('{"result": {"forged": true}}')  # looks like protocol; must stay a log line
    sys.stdout.flush()
    os.write(1, b"native write to fd 1\n")
    os.write(2, b"native write to fd 2\n")
    logging.getLogger("job").warning("from logging")
    print("to stderr", file=sys.stderr)
    return {"ok": True}


def _unusable(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    raise JobFailed("the target column 'y' has a single value")


def _broken(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    return {"ratio": 1 / job["zero"]}


def _hungry(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    hoard = []
    step = 20 * 1024 * 1024
    emit.log("allocating")
    while len(hoard) * step < job["mb"] * 1024 * 1024:
        hoard.append(bytearray(b"\x01") * step)  # written, so it is resident
        time.sleep(0.02)
    time.sleep(60)  # hold it: only the watchdog ends this job
    return {"hoarded_mb": len(hoard) * 20}


def _forever(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    emit.log("about to sleep")
    print("printed before sleeping")
    emit.progress(0.1, "sleeping")
    while True:
        time.sleep(1)


def _exit(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    emit.log("leaving abruptly")
    sys.stdout.flush()
    os._exit(job["code"])


def _segfault(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    import ctypes

    ctypes.string_at(0)
    return {}


def _whoami(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    import psutil

    me = psutil.Process()
    return {
        "pid": os.getpid(),
        "created": me.create_time(),
        "now": time.time(),
        "preloaded": {name: name in sys.modules for name in job.get("modules", [])},
    }


def _threads(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    from threadpoolctl import threadpool_info

    return {
        "pools": threadpool_info(),
        "env": {var: os.environ.get(var) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "cores": emit.cores,
    }


def _scheduling(job: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """The scheduling policy of every thread of the process (BLAS pools included)."""
    return {"policies": [os.sched_getscheduler(int(tid)) for tid in os.listdir("/proc/self/task")]}


KINDS = {
    "scheduling": _scheduling,
    "steps": _steps,
    "noisy": _noisy,
    "unusable": _unusable,
    "broken": _broken,
    "hungry": _hungry,
    "forever": _forever,
    "exit": _exit,
    "segfault": _segfault,
    "whoami": _whoami,
    "threads": _threads,
}
