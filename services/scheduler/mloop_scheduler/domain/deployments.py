"""Deployment decisions, without I/O: is a change allowed, and what state and history it makes.

A scenario's deployment is a `DeploymentState` (champion, challenger, traffic split) whose
`version` grows by one with every change. Each decision answers an `Outcome`: the new state and
the history rows (one per alias that changed). What cannot be done raises `Refused` with the
reason, and nothing is written.

Choices:
- Promoting the current champion again is refused; so is promoting while an A/B or shadow test
  runs (end the test first, promoting its challenger if that is the wish): a promotion never
  ends someone's experiment silently.
- A rollback restores the previous champion (stack semantics, see
  `mloop_common.db.serving_reads.champion_stack`). It is the emergency brake, so it also works
  while a test runs: the test ends (reason `rollback`) in the same change.
- Ending a test with `promote_challenger` makes the challenger the champion in the same change
  (a `promote` row for the champion beside the `ab_test_ended` row for the challenger).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from mloop_common.db.serving_reads import (
    AB_TEST_ENDED,
    AB_TEST_STARTED,
    CHALLENGER,
    CHAMPION,
    PROMOTE,
    ROLLBACK,
)
from mloop_common.messages.events import DeploymentState

Mode = Literal["ab_test", "shadow"]


class Refused(Exception):
    """The change cannot be made; the message says why."""


@dataclass(frozen=True)
class Change:
    """One history row: an alias moved from `previous_model_id` to `model_id`."""

    alias: str
    action: str
    model_id: uuid.UUID | None
    previous_model_id: uuid.UUID | None
    reason: str


@dataclass(frozen=True)
class Outcome:
    state: DeploymentState
    changes: tuple[Change, ...]
    ended_test_id: uuid.UUID | None = None
    winner_model_id: uuid.UUID | None = None
    promoted: Change | None = None

    @property
    def previous_champion(self) -> uuid.UUID | None:
        for change in self.changes:
            if change.alias == CHAMPION:
                return change.previous_model_id
        return None


def _next_version(current: DeploymentState | None) -> int:
    return (current.version if current else 0) + 1


def _single(version: int, champion: uuid.UUID | None) -> DeploymentState:
    return DeploymentState(version=version, champion_model_id=champion, mode="single")


def promote(current: DeploymentState | None, model_id: uuid.UUID, *, reason: str) -> Outcome:
    """Make `model_id` the champion."""
    champion = current.champion_model_id if current else None
    if champion == model_id:
        raise Refused(f"model {model_id} is already the champion")
    if current is not None and current.ab_test_id is not None:
        raise Refused(
            f"A/B test {current.ab_test_id} is running; end it first "
            "(with promote_challenger to promote its challenger)"
        )
    change = Change(CHAMPION, PROMOTE, model_id, champion, reason)
    return Outcome(
        state=_single(_next_version(current), model_id), changes=(change,), promoted=change
    )


def rollback(current: DeploymentState | None, *, target: uuid.UUID | None) -> Outcome:
    """Restore `target`, the previous champion (`serving_reads.previous_champion`); a running
    test ends with it."""
    if current is None or current.champion_model_id is None:
        raise Refused("the scenario has no champion to roll back")
    if target is None:
        raise Refused("there is no earlier champion to roll back to")
    changes = [Change(CHAMPION, ROLLBACK, target, current.champion_model_id, ROLLBACK)]
    if current.ab_test_id is not None:
        changes.append(
            Change(CHALLENGER, AB_TEST_ENDED, None, current.challenger_model_id, ROLLBACK)
        )
    return Outcome(
        state=_single(_next_version(current), target),
        changes=tuple(changes),
        ended_test_id=current.ab_test_id,
    )


def start_test(
    current: DeploymentState | None,
    *,
    test_id: uuid.UUID,
    mode: Mode,
    challenger_model_id: uuid.UUID,
    champion_model_id: uuid.UUID | None = None,
    challenger_share: float = 0.0,
    sticky_column: str | None = None,
    reason: str = "manual",
) -> Outcome:
    """Split traffic (`ab_test`: the challenger answers `challenger_share` of requests, by hash
    of `sticky_column` when given) or shadow (the challenger scores every request, only the
    champion answers)."""
    if current is None or current.champion_model_id is None:
        raise Refused("the scenario has no champion to test against")
    champion = current.champion_model_id
    if current.ab_test_id is not None:
        raise Refused(f"A/B test {current.ab_test_id} is already running")
    if champion_model_id is not None and champion_model_id != champion:
        raise Refused(f"model {champion_model_id} is not the champion (it is {champion})")
    if challenger_model_id == champion:
        raise Refused(f"model {challenger_model_id} is the champion; pick another challenger")
    if mode == "ab_test" and not 0 < challenger_share < 1:
        raise Refused(f"challenger_share must be between 0 and 1, not {challenger_share}")
    shadow = mode == "shadow"
    state = DeploymentState(
        version=_next_version(current),
        champion_model_id=champion,
        challenger_model_id=challenger_model_id,
        mode=mode,
        ab_test_id=test_id,
        challenger_share=0.0 if shadow else challenger_share,
        sticky_column=None if shadow else sticky_column,
    )
    change = Change(CHALLENGER, AB_TEST_STARTED, challenger_model_id, None, reason)
    return Outcome(state=state, changes=(change,))


def end_test(
    current: DeploymentState | None,
    *,
    test_id: uuid.UUID,
    promote_challenger: bool,
    reason: str,
) -> Outcome:
    """Stop the test; the challenger becomes the champion when `promote_challenger`."""
    if current is None or current.ab_test_id != test_id:
        raise Refused(f"A/B test {test_id} is not running")
    champion, challenger = current.champion_model_id, current.challenger_model_id
    changes = [Change(CHALLENGER, AB_TEST_ENDED, None, challenger, reason)]
    promoted = None
    if promote_challenger and challenger is not None:
        promoted = Change(CHAMPION, PROMOTE, challenger, champion, reason)
        changes.insert(0, promoted)
        champion = challenger
    return Outcome(
        state=_single(_next_version(current), champion),
        changes=tuple(changes),
        ended_test_id=test_id,
        winner_model_id=promoted.model_id if promoted else None,
        promoted=promoted,
    )
