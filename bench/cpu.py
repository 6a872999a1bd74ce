"""CPU accounting for benchmarks whose figures another job on the machine would spoil."""

from __future__ import annotations

import contextlib
import time

import psutil

FOREIGN_CPU_SECONDS = 0.3  # a try is disturbed when other processes used more CPU seconds
FOREIGN_CPU_SHARE = 0.05  # than this, or than this share of the try's duration


def own_cpu() -> float:
    """CPU seconds used so far by this process and everything under it (services, run
    processes, the bare script), the exited ones included once reaped."""
    total = 0.0
    me = psutil.Process()
    for member in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = member.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy, all cores together."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class CpuWatch:
    """`with CpuWatch() as watch: ...`, then `watch.foreign`: CPU seconds that processes other
    than the benchmark's used meanwhile (another job on the machine slows the try down)."""

    def __enter__(self) -> CpuWatch:
        self._busy, self._own, self._started = machine_busy(), own_cpu(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self._started
        own = own_cpu() - self._own
        self.foreign = max(0.0, machine_busy() - self._busy - own)

    @property
    def disturbed(self) -> bool:
        return self.foreign > max(FOREIGN_CPU_SECONDS, FOREIGN_CPU_SHARE * self.seconds)
