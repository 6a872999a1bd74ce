"""Child side of the run sandbox.

Usage: `python -m mloop_trainer.adapters.child <module:function> [preload...]`.

The child imports the modules it is told to preload, says `{"ready": ...}`, then blocks reading ONE
job line `{"job": {...}, "cores": n}` from stdin, runs `function(job, emit)` and exits. Its stdout
carries protocol lines only (JSON, one per line):

    {"ready": {"seconds": float, "failed": [str]}}        preload done (not a job message)
    {"log": str}                                          a line of output or a logging record
    {"progress": float, "message": str}                   share done in [0, 1]
    {"result": {...}}                                     the function's return value
    {"error": str, "kind": "unusable"|"crash", "traceback": str}
    {"usage": {"cpu_seconds": float, "peak_rss_mb": float}}   last line before exiting

To keep that stream clean, the original stdout is duplicated to a private descriptor for the
protocol and fd 1 is pointed at fd 2 at the OS level, so whatever native code prints goes to
stderr, which the parent forwards as log lines (and keeps for crash reports). Python-level
`sys.stdout` / `sys.stderr` and `logging` become `{"log": ...}` lines. The child exits at once
when its stdin reaches EOF, so it never outlives the trainer.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import io
import json
import logging
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "BLIS_NUM_THREADS",
)
MAX_LOG_CHARS = 16_000
EXIT_PARENT_GONE = 70


class JobFailed(Exception):
    """Raised by a job for a precise, user-facing reason (e.g. "the target column is constant").

    The run fails with reason "unusable" and this message, without a traceback for the user.
    Any exception carrying `user_facing = True` is treated the same way.
    """

    user_facing = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Channel:
    """The protocol stream: JSON lines on a private duplicate of the original stdout."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:  # the parent is gone: nobody is left to report to
                os._exit(EXIT_PARENT_GONE)

    def log(self, line: str) -> None:
        if len(line) > MAX_LOG_CHARS:
            line = line[:MAX_LOG_CHARS] + f"... [{len(line) - MAX_LOG_CHARS} chars cut]"
        self.send({"log": line})


class LogStream(io.TextIOBase):
    """A text stream turning complete lines into `{"log": ...}` protocol lines."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 2  # code writing to the descriptor directly reaches stderr, forwarded as logs

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._pending + text).split("\n")
            self._pending = lines.pop()
        for line in lines:
            self._channel.log(line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            rest, self._pending = self._pending, ""
        if rest:
            self._channel.log(rest)


class ProtocolHandler(logging.Handler):
    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._channel.log(self.format(record))
        except Exception:
            self.handleError(record)


class Emit:
    """What a job function receives to report: `progress(share, message)`, `log(line)`, `cores`."""

    def __init__(self, channel: Channel, cores: int) -> None:
        self._channel = channel
        self.cores = cores

    def progress(self, share: float, message: str = "") -> None:
        share = min(1.0, max(0.0, float(share)))
        self._channel.send({"progress": share, "message": str(message)})

    def log(self, line: str) -> None:
        for part in str(line).splitlines() or [""]:
            self._channel.log(part)


def _guard_stdout() -> Channel:
    """Keep a private dup of stdout for the protocol; fd 1 now writes to stderr."""
    protocol_fd = os.dup(1)
    os.set_inheritable(protocol_fd, False)
    os.dup2(2, 1)
    channel = Channel(protocol_fd)
    sys.stdout = LogStream(channel)
    sys.stderr = LogStream(channel)
    sys.stdin = open(os.devnull)  # the job must not read the control pipe
    logging.basicConfig(level=logging.INFO, handlers=[ProtocolHandler(channel)], force=True)
    logging.captureWarnings(True)
    # fatal errors (segfaults) go to the real stderr, which outlives this interpreter
    faulthandler.enable(file=sys.__stderr__, all_threads=True)
    return channel


def _idle_priority() -> bool:
    """Warm up at idle CPU priority, so a child importing the ML stack never slows a run in
    progress (it gets the CPU only when the runs leave some). Only where the priority can be
    taken back when a job comes: with root or CAP_SYS_NICE, on Linux."""
    if not hasattr(os, "SCHED_IDLE") or os.geteuid() != 0:
        return False
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    return True


def _normal_priority() -> None:
    """Back to normal scheduling for every thread (BLAS pools started during the imports
    inherited the idle policy)."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that has ended since
            os.sched_setscheduler(int(tid), os.SCHED_OTHER, os.sched_param(0))


def _preload(modules: list[str]) -> list[str]:
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # reported when the job runs; no respawn loop on a bad module
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    return failed


def _read_job(stdin: io.BufferedReader) -> dict[str, Any]:
    line = stdin.readline()
    if not line:
        os._exit(0)  # the pool closed our stdin, or the trainer died, before a job came
    return json.loads(line)


def _watch_stdin(stdin: io.BufferedReader) -> None:
    """Exit at once when the parent closes our stdin (or dies) while the job runs."""
    while stdin.read1(65536):
        pass
    os._exit(EXIT_PARENT_GONE)


def _limit_threads(cores: int) -> object:
    """Cap BLAS / OpenMP pools already loaded, and (by env) those a library starts later."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(cores)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with the trainer
        return None
    return threadpool_limits(limits=cores)  # kept by the caller for the rest of the job


def _resolve(target: str) -> Callable[[dict[str, Any], Emit], Any]:
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"target must look like 'module:function', got {target!r}")
    return getattr(importlib.import_module(module_name), function_name)


def _usage(start: resource.struct_rusage) -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    cpu -= start.ru_utime + start.ru_stime
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB
    peak = max(own.ru_maxrss, children.ru_maxrss) / per_mb
    return {"cpu_seconds": round(max(cpu, 0.0), 3), "peak_rss_mb": round(peak, 1)}


def _run(channel: Channel, target: str, job: dict[str, Any], cores: int) -> dict[str, Any]:
    try:
        function = _resolve(target)
        result = function(job, Emit(channel, cores))
        if result is None:
            result = {}
        if not isinstance(result, dict):
            raise TypeError(f"the job returned {type(result).__name__}, expected a dict")
        json.dumps(result)  # fail here, as a crash with a clear message, if it is not JSON-able
        return {"result": result}
    except BaseException as exc:
        trace = traceback.format_exc()
        if getattr(exc, "user_facing", False) is True:
            return {"error": str(exc), "kind": "unusable", "traceback": trace}
        return {"error": f"{type(exc).__name__}: {exc}", "kind": "crash", "traceback": trace}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m mloop_trainer.adapters.child module:function [preload...]")
        raise SystemExit(2)
    target, preload = args[0], args[1:]
    stdin = sys.stdin.buffer
    channel = _guard_stdout()

    began = time.perf_counter()
    idle = _idle_priority()
    failed = _preload([*preload, target.partition(":")[0]])
    channel.send({"ready": {"seconds": round(time.perf_counter() - began, 3), "failed": failed}})

    message = _read_job(stdin)
    if idle:
        _normal_priority()
    threading.Thread(target=_watch_stdin, args=(stdin,), name="stdin-watch", daemon=True).start()
    start = resource.getrusage(resource.RUSAGE_SELF)
    cores = max(1, int(message.get("cores") or 1))
    limits = _limit_threads(cores)
    outcome = _run(channel, target, message.get("job") or {}, cores)
    sys.stdout.flush()
    sys.stderr.flush()
    channel.send(outcome)
    channel.send({"usage": _usage(start)})
    del limits
    os._exit(0)  # no atexit hooks, no waiting on threads a library left behind


if __name__ == "__main__":
    # Run the canonical module, not `__main__`, so `JobFailed` is the class jobs import.
    from mloop_trainer.adapters.child import main as _main

    _main()
