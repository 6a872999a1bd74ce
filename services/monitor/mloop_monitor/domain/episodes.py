"""Episodes of a monitored signal (drift, a live metric), so an alarm is raised once per episode
and not on every window (pure).

An episode starts after `windows` consecutive windows over the threshold and ends after
`windows` consecutive windows under it. A window without a verdict (too few predictions or
labels) neither extends nor breaks a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Change = Literal["started", "ended"] | None


@dataclass(frozen=True)
class Episode:
    active: bool = False
    streak: int = 0  # consecutive windows pointing away from the current state

    def observe(self, over: bool | None, *, windows: int) -> tuple[Episode, Change]:
        """The episode after one more window (`over`: the window crossed the threshold) and
        whether that window started or ended it."""
        if windows < 1:
            raise ValueError("windows must be at least 1")
        if over is None:
            return self, None
        if over == self.active:
            return Episode(self.active, 0), None
        streak = self.streak + 1
        if streak < windows:
            return Episode(self.active, streak), None
        return Episode(not self.active, 0), "ended" if self.active else "started"
