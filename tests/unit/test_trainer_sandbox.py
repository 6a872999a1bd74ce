"""The run sandbox (`mloop_trainer.adapters.sandbox` / `.child`) with REAL child processes.

No broker and no database: each test hands small jobs from `tests/unit/sandbox_jobs.py` to a
`WarmPool` and checks the `Outcome`, the log and progress lines, and the processes themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio
from mloop_trainer.adapters.child import EXIT_PARENT_GONE
from mloop_trainer.adapters.sandbox import Outcome, WarmPool
from mloop_trainer.domain.capacity import Limits

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests.unit.sandbox_jobs:run"
ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
HEAVY = ["pandas", "sklearn", "lightgbm"]
ROOMY = Limits(cores=1, memory_mb=1_000, wall_seconds=30)


class Recorder:
    """Collects what a run delivers, in order: ("log", line) and ("progress", share, message)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_log(self, line: str) -> None:
        self.events.append(("log", line))

    async def on_progress(self, share: float, message: str) -> None:  # async callbacks work too
        self.events.append(("progress", share, message))

    @property
    def logs(self) -> list[str]:
        return [event[1] for event in self.events if event[0] == "log"]


async def run(
    pool: WarmPool, job: dict[str, Any], limits: Limits = ROOMY, **kwargs: Any
) -> tuple[Outcome, Recorder]:
    seen = Recorder()
    outcome = await pool.run(
        job, limits, on_log=seen.on_log, on_progress=seen.on_progress, **kwargs
    )
    return outcome, seen


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def all_gone(pids: list[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(gone(pid) for pid in pids):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest_asyncio.fixture(scope="module")
async def pool() -> AsyncIterator[WarmPool]:
    """Children preloading only the job module: cheap, for the protocol and the limits."""
    pool = WarmPool(target=TARGET, preload=[], size=2, env=ENV, poll_interval=0.05)
    await pool.start()
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="module")
async def heavy_pool() -> AsyncIterator[WarmPool]:
    """Children preloading the ML stack (a few seconds each), both warmed in parallel."""
    pool = WarmPool(target=TARGET, preload=HEAVY, size=2, env=ENV)
    await pool.start()
    await asyncio.wait_for(pool.wait_ready(), 60)
    yield pool
    await pool.close()


async def test_result_progress_and_logs_arrive_in_order(pool: WarmPool) -> None:
    outcome, seen = await run(pool, {"kind": "steps", "echo": "hi"})

    assert outcome.status == "completed" and outcome.reason == "ok" and outcome.error is None
    assert outcome.result == {"answer": 42, "echo": "hi"}
    assert seen.events == [
        ("log", "starting"),
        ("progress", pytest.approx(1 / 3), "step 1"),
        ("log", "did step 1"),
        ("progress", pytest.approx(2 / 3), "step 2"),
        ("log", "did step 2"),
        ("progress", 1.0, "step 3"),
        ("log", "did step 3"),
    ]
    assert outcome.peak_memory_mb > 5 and outcome.wall_seconds > 0 and outcome.cpu_seconds >= 0


async def test_prints_native_writes_and_logging_become_logs(pool: WarmPool) -> None:
    outcome, seen = await run(pool, {"kind": "noisy"})

    assert outcome.status == "completed" and outcome.result == {"ok": True}
    assert set(seen.logs) >= {
        "from print",
        '{"result": {"forged": true}}',  # printed JSON stays a log line, never a result
        "native write to fd 1",
        "native write to fd 2",
        "WARNING job: from logging",
        "to stderr",
    }


async def test_job_failed_is_an_unusable_run_with_its_reason(pool: WarmPool) -> None:
    outcome, _ = await run(pool, {"kind": "unusable"})

    assert (outcome.status, outcome.reason) == ("failed", "unusable")
    assert outcome.error == "the target column 'y' has a single value"


async def test_an_exception_is_a_crash_naming_type_and_message(pool: WarmPool) -> None:
    outcome, seen = await run(pool, {"kind": "broken", "zero": 0})

    assert (outcome.status, outcome.reason) == ("failed", "crash")
    assert outcome.error == "ZeroDivisionError: division by zero"
    assert seen.logs[0] == "Traceback (most recent call last):"  # the traceback goes to the logs


async def test_memory_hog_is_killed_and_the_pool_keeps_working(pool: WarmPool) -> None:
    # a child preloading only the job module sits at ~15-20 MB; the job heads for 400 MB
    limits = Limits(cores=1, memory_mb=150, wall_seconds=30)
    outcome, seen = await run(pool, {"kind": "hungry", "mb": 400}, limits)

    assert (outcome.status, outcome.reason) == ("failed", "memory")
    assert re.fullmatch(
        r"memory limit exceeded: \d+ MB resident, limit 150 MB", outcome.error or ""
    )
    assert 150 < outcome.peak_memory_mb < 400
    assert outcome.wall_seconds < 10
    assert seen.logs == ["allocating"]

    after, _ = await run(pool, {"kind": "steps"})
    assert after.status == "completed"


async def test_endless_job_times_out_and_keeps_its_logs(pool: WarmPool) -> None:
    limits = Limits(cores=1, memory_mb=1_000, wall_seconds=1)
    outcome, seen = await run(pool, {"kind": "forever"}, limits)

    assert (outcome.status, outcome.reason) == ("failed", "timeout")
    assert re.fullmatch(r"timeout: killed after 1\.\d s \(limit 1\.0 s\)", outcome.error or "")
    assert 1.0 <= outcome.wall_seconds < 5
    assert seen.events == [
        ("log", "about to sleep"),
        ("log", "printed before sleeping"),
        ("progress", 0.1, "sleeping"),
    ]


async def test_cancel_event_kills_the_run(pool: WarmPool) -> None:
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, cancel.set)
    outcome, _ = await run(pool, {"kind": "forever"}, cancel=cancel)

    assert (outcome.status, outcome.reason) == ("failed", "cancelled")
    assert outcome.wall_seconds < 5


async def test_os_exit_is_a_crash_with_exit_code_and_last_lines(pool: WarmPool) -> None:
    outcome, seen = await run(pool, {"kind": "exit", "code": 3})

    assert (outcome.status, outcome.reason) == ("failed", "crash")
    assert "exit code 3" in (outcome.error or "")
    assert "leaving abruptly" in (outcome.error or "")
    assert seen.logs == ["leaving abruptly"]


async def test_segfault_is_a_crash_naming_the_signal(pool: WarmPool) -> None:
    outcome, _ = await run(pool, {"kind": "segfault"})

    assert (outcome.status, outcome.reason) == ("failed", "crash")
    assert "killed by SIGSEGV" in (outcome.error or "")
    assert "Fatal Python error: Segmentation fault" in (outcome.error or "")


async def test_more_runs_than_warm_children_all_complete(pool: WarmPool) -> None:
    outcomes = await asyncio.gather(*(run(pool, {"kind": "steps", "echo": n}) for n in range(3)))

    assert [outcome.result for outcome, _ in outcomes] == [
        {"answer": 42, "echo": n} for n in range(3)
    ]


async def test_a_target_that_does_not_exist_is_a_crash() -> None:
    pool = WarmPool(target="tests.unit.sandbox_jobs:missing", preload=[], size=0, env=ENV)
    outcome, _ = await run(pool, {"kind": "steps"})
    await pool.close()

    assert (outcome.status, outcome.reason) == ("failed", "crash")
    assert "AttributeError" in (outcome.error or "") and "missing" in (outcome.error or "")


async def test_warm_child_was_started_and_preloaded_before_the_job(heavy_pool: WarmPool) -> None:
    submitted = time.time()
    outcome, _ = await run(heavy_pool, {"kind": "whoami", "modules": HEAVY})

    assert outcome.status == "completed" and outcome.result is not None
    # the job module imports none of these: the child had them before the job came
    assert outcome.result["preloaded"] == dict.fromkeys(HEAVY, True)
    assert outcome.result["created"] < submitted
    assert outcome.result["pid"] != os.getpid()


@pytest.mark.skipif(
    not hasattr(os, "SCHED_IDLE") or os.geteuid() != 0,
    reason="idle-priority warm-up needs Linux and the right to take the priority back (root)",
)
async def test_children_warm_up_at_idle_priority_and_run_at_normal(heavy_pool: WarmPool) -> None:
    await heavy_pool.wait_ready()
    idle = heavy_pool.pids()
    assert idle and all(os.sched_getscheduler(pid) == os.SCHED_IDLE for pid in idle)
    outcome, _ = await run(heavy_pool, {"kind": "scheduling"})

    assert outcome.status == "completed" and outcome.result is not None
    policies = outcome.result["policies"]
    assert len(policies) > 1  # the BLAS threads started while importing numpy
    assert set(policies) == {os.SCHED_OTHER}


async def test_thread_pools_are_limited_to_the_run_cores(heavy_pool: WarmPool) -> None:
    limits = Limits(cores=1, memory_mb=2_000, wall_seconds=30)
    outcome, _ = await run(heavy_pool, {"kind": "threads"}, limits)

    assert outcome.status == "completed" and outcome.result is not None
    pools = outcome.result["pools"]
    assert {p["user_api"] for p in pools} >= {"blas", "openmp"}  # numpy's BLAS, LightGBM's OpenMP
    assert [p["num_threads"] for p in pools] == [1] * len(pools)
    assert outcome.result["env"] == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    assert outcome.result["cores"] == 1


async def test_close_kills_idle_and_running_children() -> None:
    pool = WarmPool(target=TARGET, preload=[], size=2, env=ENV, poll_interval=0.05)
    await pool.start()
    started = asyncio.Event()

    async def on_log(line: str) -> None:
        started.set()

    running = asyncio.create_task(
        pool.run({"kind": "forever"}, ROOMY, on_log=on_log, on_progress=lambda *_: None)
    )
    await asyncio.wait_for(started.wait(), 10)
    pids = pool.pids()
    assert len(pids) >= 2

    await pool.close()
    outcome = await asyncio.wait_for(running, 10)

    assert (outcome.status, outcome.reason) == ("failed", "cancelled")
    assert await all_gone(pids)


def _child(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mloop_trainer.adapters.child", TARGET, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **ENV},
    )


def test_child_exits_when_its_stdin_closes_while_waiting() -> None:
    with _child() as child:
        assert child.stdout is not None and child.stdin is not None
        assert "ready" in json.loads(child.stdout.readline())

        child.stdin.close()

        assert child.wait(timeout=10) == 0


def test_child_exits_when_its_stdin_closes_while_running() -> None:
    with _child() as child:
        assert child.stdout is not None and child.stdin is not None
        child.stdin.write(json.dumps({"job": {"kind": "forever"}, "cores": 1}).encode() + b"\n")
        child.stdin.flush()
        lines = iter(child.stdout.readline, b"")
        assert any(json.loads(line).get("log") == "about to sleep" for line in lines)

        child.stdin.close()

        assert child.wait(timeout=10) == EXIT_PARENT_GONE


PARENT = textwrap.dedent(
    """
    import asyncio, json, sys
    from mloop_trainer.adapters.sandbox import Limits, WarmPool

    async def main():
        pool = WarmPool(target=sys.argv[1], preload=[], size=2, env={})
        await pool.start()
        started = asyncio.Event()
        job = pool.run({"kind": "forever"}, Limits(1, 1000, 60),
                       on_log=lambda line: started.set(), on_progress=lambda *_: None)
        task = asyncio.create_task(job)
        await started.wait()
        print(json.dumps(pool.pids()), flush=True)
        await task

    asyncio.run(main())
    """
)


async def test_children_die_with_a_trainer_killed_by_sigkill() -> None:
    trainer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PARENT,
        TARGET,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV},
    )
    assert trainer.stdout is not None
    pids = json.loads(await asyncio.wait_for(trainer.stdout.readline(), 30))
    assert len(pids) >= 2 and not any(gone(pid) for pid in pids)

    trainer.send_signal(signal.SIGKILL)
    await trainer.wait()

    assert await all_gone(pids)
