"""Episodes: an alarm once per episode, after N windows over, cleared after N windows under."""

from __future__ import annotations

import pytest
from mloop_monitor.domain.episodes import Episode


def run(verdicts: list[bool | None], windows: int = 3) -> list[str | None]:
    episode, changes = Episode(), []
    for over in verdicts:
        episode, change = episode.observe(over, windows=windows)
        changes.append(change)
    return changes


def test_an_episode_starts_after_n_consecutive_windows_over_and_only_once() -> None:
    changes = run([True, True, True, True, True, True])
    assert changes == [None, None, "started", None, None, None]


def test_a_window_under_breaks_the_run_before_the_start() -> None:
    assert run([True, True, False, True, True, True]) == [None, None, None, None, None, "started"]


def test_an_episode_ends_after_n_consecutive_windows_under() -> None:
    changes = run([True] * 3 + [False, True, False, False, False, True])
    assert changes == [None, None, "started", None, None, None, None, "ended", None]


def test_windows_without_a_verdict_neither_extend_nor_break_a_run() -> None:
    assert run([True, None, True, None, None, True]) == [None, None, None, None, None, "started"]


def test_one_window_episodes_follow_every_crossing() -> None:
    assert run([True, True, False, True], windows=1) == ["started", None, "ended", "started"]


def test_windows_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Episode().observe(True, windows=0)
