"""Run sandbox, parent side: a warm pool of child processes, each running ONE job under limits.

A fresh interpreter importing the ML stack takes seconds, so the pool keeps `size` children started
ahead of time (`mloop_trainer.adapters.child`, which preloads the modules it is given and waits for
a job on stdin). `WarmPool.run` hands a job to a warm child, relays its log and progress lines as
they come, and meanwhile watches it: resident memory (the child and its own children, via psutil),
wall time and a cancel event. Crossing a limit kills the child's whole process group with SIGKILL.
A used or killed child is never reused; the pool starts its replacement once the run is over
(at idle CPU priority where it can), so the import never competes with a run for the CPU.

Memory is capped by this watchdog, not by RLIMIT_AS: address-space limits break native thread
pools (OpenBLAS, OpenMP) at import. The limit covers the whole child, preloaded libraries included.
Wall time is counted from the moment the job is handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import inspect
import json
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psutil

from mloop_trainer.domain.capacity import Limits

Status = Literal["completed", "failed"]
Reason = Literal["ok", "memory", "timeout", "unusable", "crash", "cancelled"]
LogCallback = Callable[[str], Awaitable[None] | None]
ProgressCallback = Callable[[float, str], Awaitable[None] | None]

CHILD_MODULE = "mloop_trainer.adapters.child"
STREAM_LIMIT = 64 * 1024 * 1024  # longest protocol line (a result) the parent accepts
QUEUE_SIZE = 1_000  # lines in flight per child; beyond that the child waits on its pipe
TAIL_LINES = 50  # output kept per child for crash reports
CRASH_TAIL = 6  # of which quoted in a crash's error
EXIT_GRACE_SECONDS = 5.0  # a child that sent its result and does not exit is killed after this
DRAIN_SECONDS = 1.0  # time left for the last lines once the child is gone
PR_SET_PDEATHSIG = 1

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    status: Status
    result: dict[str, Any] | None
    error: str | None
    reason: Reason
    peak_memory_mb: float
    cpu_seconds: float
    wall_seconds: float


class _Eof:
    def __init__(self, stream: str) -> None:
        self.stream = stream


_STDOUT_EOF = _Eof("stdout")
_STDERR_EOF = _Eof("stderr")


def _size(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    if -code == signal.SIGKILL:
        return f"killed by {name} (from outside the sandbox, e.g. the out-of-memory killer)"
    return f"killed by {name}"


def _parent_death_preexec() -> Callable[[], None] | None:
    """On Linux, a `preexec_fn` asking the kernel to SIGKILL the child when the trainer dies.

    The kernel fires it when the *thread* that forked the child ends: children are spawned from
    the event loop's thread, which lives as long as the trainer. Elsewhere the stdin watch of the
    child does the same job.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return preexec


async def _call(callback: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    outcome = callback(*args)
    if inspect.isawaitable(outcome):
        await outcome


class _Worker:
    """One child process: its pipes, what it said, and how much it used."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.ready = asyncio.Event()
        self.messages: asyncio.Queue[dict[str, Any] | _Eof] = asyncio.Queue(QUEUE_SIZE)
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.job_sent = False
        self.finished = False  # a result or an error arrived: the watchdog stands down
        self.stdout_closed = False
        self.reaped = False
        self.verdict: tuple[Reason, str] | None = None
        self.peak_mb = 0.0
        self.cpu_seconds = 0.0
        self._ps: psutil.Process | None = None
        self._readers = [
            asyncio.create_task(self._read_stdout(), name=f"sandbox-{self.pid}-stdout"),
            asyncio.create_task(self._read_stderr(), name=f"sandbox-{self.pid}-stderr"),
        ]

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and not self.stdout_closed

    async def _read_stdout(self) -> None:
        try:
            await self._pump_stdout()
        except Exception:  # pragma: no cover - a bug here must not hang the run
            logger.exception("reading the stdout of sandbox child %s failed", self.pid)
        self.stdout_closed = True
        await self.messages.put(_STDOUT_EOF)

    async def _read_stderr(self) -> None:
        try:
            await self._pump_stderr()
        except Exception:  # pragma: no cover
            logger.exception("reading the stderr of sandbox child %s failed", self.pid)
        await self.messages.put(_STDERR_EOF)

    async def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                line = await self.proc.stdout.readline()
            except ValueError:  # a line over STREAM_LIMIT: dropped, the stream goes on
                line = b'{"log": "[sandbox] an over-long protocol line was dropped"}\n'
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\r\n")
            try:
                message = json.loads(text)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                message = {"log": text}
            if "log" in message:
                self.tail.append(str(message["log"]))
            if "ready" in message:
                self.ready.set()
            elif self.job_sent:
                await self.messages.put(message)

    async def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        while True:
            try:
                line = await self.proc.stderr.readline()
            except ValueError:
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\r\n")
            self.tail.append(text)
            if self.job_sent:
                await self.messages.put({"log": text})

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            await self.proc.stdin.drain()

    def sample(self) -> float:
        """Resident MB of the child and its descendants now; updates peak and CPU seconds."""
        try:
            if self._ps is None:
                self._ps = psutil.Process(self.pid)
            family = [self._ps, *self._ps.children(recursive=True)]
        except psutil.Error:
            return 0.0
        rss = 0
        cpu = 0.0
        for proc in family:
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
                if proc is self._ps:
                    cpu += times.children_user + times.children_system
        mb = rss / (1024 * 1024)
        self.peak_mb = max(self.peak_mb, mb)
        if cpu:
            self.cpu_seconds = cpu
        return mb

    def stop(self, reason: Reason, message: str) -> None:
        """Kill the child for a reason, unless it already delivered its answer."""
        if self.finished or self.verdict is not None:
            return
        self.verdict = (reason, message)
        self.kill()

    def kill(self) -> None:
        # The child leads its own process group: this also ends what the job started. Not
        # `proc.kill()`: Popen polls (reaps) first, and the child watcher then loses the exit code.
        if self.reaped:
            return  # the group id may name someone else's processes by now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    async def dispose(self) -> int | None:
        """Kill, reap and forget the child; returns its exit code (negative: signal)."""
        self.kill()
        # wait() also waits for the pipes, which a stray descendant could hold open
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), DRAIN_SECONDS)
        self.reaped = self.proc.returncode is not None
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        return self.proc.returncode


class WarmPool:
    """Children started ahead of time, each running one job under `Limits`.

    `run` may be called concurrently; up to `size` runs start on warm children, more start cold.
    """

    def __init__(
        self,
        *,
        target: str,
        preload: Sequence[str],
        size: int,
        env: Mapping[str, str] | None = None,
        poll_interval: float = 0.1,
    ) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self._command = [sys.executable, "-m", CHILD_MODULE, target, *preload]
        self._size = size
        self._env = dict(env or {})
        self._poll = poll_interval
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._spawning: set[asyncio.Task[None]] = set()
        self._preexec = _parent_death_preexec()
        self._closed = False

    async def start(self) -> None:
        """Start `size` children; their imports go on in the background."""
        self._closed = False
        while len(self._idle) < self._size:
            self._idle.append(await self._spawn())

    async def wait_ready(self) -> None:
        """Wait until every idle child has finished preloading (start-up checks, tests)."""
        while True:
            pending = [w.ready.wait() for w in self._idle if not w.ready.is_set() and w.alive]
            if not pending and not self._spawning:
                return
            await asyncio.gather(*pending, *self._spawning)

    def pids(self) -> list[int]:
        """Process ids of the children alive now, idle or running."""
        return [w.pid for w in [*self._idle, *self._busy] if w.proc.returncode is None]

    async def close(self) -> None:
        """Kill every child, idle or running (a running job ends as "cancelled")."""
        self._closed = True
        # not cancelled: a spawn cut short would leave a child nobody tracks; each one sees
        # `_closed` once started and disposes of its child itself
        await asyncio.gather(*self._spawning, return_exceptions=True)
        for worker in self._busy:
            worker.stop("cancelled", "cancelled: the trainer's sandbox pool was closed")
        idle, self._idle = self._idle, []
        await asyncio.gather(*(worker.dispose() for worker in idle))

    async def run(
        self,
        job: dict[str, Any],
        limits: Limits,
        *,
        on_log: LogCallback,
        on_progress: ProgressCallback,
        cancel: asyncio.Event | None = None,
    ) -> Outcome:
        if self._closed:
            raise RuntimeError("the sandbox pool is closed")
        worker = await self._take()
        try:
            return await self._run_on(worker, job, limits, on_log, on_progress, cancel)
        finally:
            self._busy.discard(worker)
            await worker.dispose()
            # Only now: a child importing the ML stack beside a run slows the run several
            # times over, even at idle CPU priority (measured in bench/: 0.6 s fit -> 2-5 s).
            self._replenish()

    async def _spawn(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self._env},
            limit=STREAM_LIMIT,
            start_new_session=True,
            preexec_fn=self._preexec,
        )
        return _Worker(proc)

    async def _spawn_idle(self) -> None:
        try:
            worker = await self._spawn()
        except Exception:
            logger.exception("could not start a sandbox child")
            return
        if self._closed:
            await worker.dispose()
        else:
            self._idle.append(worker)

    def _replenish(self) -> None:
        if self._closed:
            return
        missing = self._size - len(self._idle) - len(self._spawning) - len(self._busy)
        for _ in range(missing):
            task = asyncio.create_task(self._spawn_idle(), name="sandbox-spawn")
            self._spawning.add(task)
            task.add_done_callback(self._spawning.discard)

    async def _take(self) -> _Worker:
        for dead in [w for w in self._idle if not w.alive]:
            self._idle.remove(dead)
            await dead.dispose()
        ready = [w for w in self._idle if w.ready.is_set()]
        if ready or self._idle:
            worker = (ready or self._idle)[0]
            self._idle.remove(worker)
        else:
            worker = await self._spawn()
        self._busy.add(worker)
        return worker

    async def _run_on(
        self,
        worker: _Worker,
        job: dict[str, Any],
        limits: Limits,
        on_log: LogCallback,
        on_progress: ProgressCallback,
        cancel: asyncio.Event | None,
    ) -> Outcome:
        started = time.monotonic()
        worker.sample()
        cpu_before = worker.cpu_seconds
        worker.job_sent = True
        watchdog = asyncio.create_task(self._watch(worker, limits, cancel, started))
        await worker.send({"job": job, "cores": limits.cores})
        final: dict[str, Any] | None = None
        usage: dict[str, Any] = {}
        try:
            open_streams = {"stdout", "stderr"}
            deadline: float | None = None
            killed = False
            while open_streams:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item = await asyncio.wait_for(worker.messages.get(), timeout)
                except TimeoutError:
                    if killed:
                        break  # only a stray descendant holds the pipes now
                    worker.kill()
                    killed, deadline = True, time.monotonic() + DRAIN_SECONDS
                    continue
                if isinstance(item, _Eof):
                    open_streams.discard(item.stream)
                    if item.stream == "stdout" and not killed:
                        worker.kill()  # it is exiting; this ends anything it left behind
                        killed, deadline = True, time.monotonic() + DRAIN_SECONDS
                elif "log" in item:
                    await _call(on_log, str(item["log"]))
                elif "progress" in item:
                    await _call(on_progress, float(item["progress"]), str(item.get("message", "")))
                elif "result" in item or "error" in item:
                    final, worker.finished = item, True
                    deadline = time.monotonic() + EXIT_GRACE_SECONDS
                elif "usage" in item:
                    usage = dict(item["usage"])
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)

        code = await worker.dispose()
        wall = time.monotonic() - started
        peak = max(worker.peak_mb, float(usage.get("peak_rss_mb", 0.0)))
        cpu = float(usage.get("cpu_seconds", max(0.0, worker.cpu_seconds - cpu_before)))
        figures = {"peak_memory_mb": round(peak, 1), "cpu_seconds": round(cpu, 3)}
        figures["wall_seconds"] = round(wall, 3)

        if worker.verdict is not None:
            reason, message = worker.verdict
            return Outcome("failed", None, message, reason, **figures)
        if final is not None and "result" in final:
            return Outcome("completed", dict(final["result"]), None, "ok", **figures)
        if final is not None:
            kind: Reason = "unusable" if final.get("kind") == "unusable" else "crash"
            if kind == "crash":
                for line in str(final.get("traceback", "")).splitlines():
                    await _call(on_log, line)
            return Outcome("failed", None, str(final["error"]), kind, **figures)
        message = f"crashed without a result: {_describe_exit(code)}"
        fatal = [line for line in worker.tail if line.startswith("Fatal Python error")]
        if fatal:
            message += f" ({fatal[-1]})"
        last = [line for line in worker.tail if line.strip()][-CRASH_TAIL:]
        if last:
            message += "; last output: " + " | ".join(last)
        return Outcome("failed", None, message, "crash", **figures)

    async def _watch(
        self, worker: _Worker, limits: Limits, cancel: asyncio.Event | None, started: float
    ) -> None:
        while not worker.finished:
            elapsed = time.monotonic() - started
            if cancel is not None and cancel.is_set():
                worker.stop("cancelled", f"cancelled: stopped after {elapsed:.1f} s")
                return
            resident = worker.sample()
            if resident > limits.memory_mb:
                worker.stop(
                    "memory",
                    f"memory limit exceeded: {_size(resident)} resident, "
                    f"limit {_size(limits.memory_mb)}",
                )
                return
            if elapsed >= limits.wall_seconds:
                worker.stop(
                    "timeout",
                    f"timeout: killed after {elapsed:.1f} s (limit {limits.wall_seconds:.1f} s)",
                )
                return
            delay = min(self._poll, max(0.0, limits.wall_seconds - elapsed))
            if cancel is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cancel.wait(), delay)
