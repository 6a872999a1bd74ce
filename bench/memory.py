"""Peak resident memory of a server process while something runs against it.

`PeakRss` polls the RSS of a process and its children with psutil in a thread. On Linux it
also resets the kernel's high-water mark (`/proc/<pid>/clear_refs`) when it starts and reads it
back (`VmHWM`) when it stops, which catches a spike shorter than the polling interval; the peak
reported is the larger of the two.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from types import TracebackType

import psutil

MB = 1 << 20


def _tree_rss(process: psutil.Process) -> int:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


def _reset_high_water_mark(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _high_water_mark(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class PeakRss:
    """`with PeakRss(pid) as rss: ...`, then `rss.baseline`, `rss.peak` (bytes)."""

    def __init__(self, pid: int, *, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=f"rss-{pid}", daemon=True)
        self._kernel_mark = False
        self.baseline = 0
        self.sampled_peak = 0
        self.kernel_peak: int | None = None
        self.samples = 0

    @property
    def peak(self) -> int:
        return max(self.sampled_peak, self.kernel_peak or 0)

    def __enter__(self) -> PeakRss:
        self.baseline = _tree_rss(self._process)
        self.sampled_peak = self.baseline
        self._kernel_mark = _reset_high_water_mark(self.pid)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        if self._kernel_mark:
            self.kernel_peak = _high_water_mark(self.pid)

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.sampled_peak = max(self.sampled_peak, _tree_rss(self._process))
            self.samples += 1
