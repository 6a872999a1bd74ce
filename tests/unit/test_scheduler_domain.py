"""The scheduler's deployment decisions, pure: promotion, the rollback stack, A/B and shadow."""

from __future__ import annotations

import uuid

import pytest
from mloop_common.db.serving_reads import champion_stack, previous_champion
from mloop_common.messages.events import DeploymentState
from mloop_scheduler.domain.deployments import (
    Change,
    Outcome,
    Refused,
    end_test,
    promote,
    rollback,
    start_test,
)

A, B, C, D = (uuid.uuid4() for _ in range(4))
TEST = uuid.uuid4()


class Scenario:
    """Applies outcomes the way the adapter writes them: the state, and champion history rows."""

    def __init__(self) -> None:
        self.state: DeploymentState | None = None
        self.history: list[Change] = []

    def apply(self, outcome: Outcome) -> Outcome:
        assert outcome.state.version == (self.state.version if self.state else 0) + 1
        self.state = outcome.state
        self.history.extend(outcome.changes)
        return outcome

    def target(self) -> uuid.UUID | None:
        changes = [(c.action, c.model_id) for c in self.history if c.alias == "champion"]
        return previous_champion(champion_stack(changes))

    def promote(self, model_id: uuid.UUID) -> Outcome:
        return self.apply(promote(self.state, model_id, reason="manual"))

    def rollback(self) -> Outcome:
        return self.apply(rollback(self.state, target=self.target()))


def test_first_promotion_creates_version_1() -> None:
    outcome = promote(None, A, reason="manual")

    assert outcome.state == DeploymentState(version=1, champion_model_id=A, mode="single")
    assert outcome.changes == (Change("champion", "promote", A, None, "manual"),)
    assert outcome.promoted == outcome.changes[0]


def test_rollback_walks_the_stack_of_champions_back_then_refuses() -> None:
    s = Scenario()
    for model_id in (A, B, C):
        s.promote(model_id)

    first = s.rollback()
    assert first.state.champion_model_id == B and first.state.version == 4
    assert first.changes == (Change("champion", "rollback", B, C, "rollback"),)
    assert s.rollback().state.champion_model_id == A
    with pytest.raises(Refused, match="no earlier champion"):
        s.rollback()


def test_promotion_after_a_rollback_stacks_on_the_restored_champion() -> None:
    s = Scenario()
    s.promote(A)
    s.promote(B)
    s.rollback()  # A
    s.promote(C)  # stack A, C
    assert s.rollback().state.champion_model_id == A
    s.promote(B)
    s.promote(A)  # an older model may come back: stack A, B, A
    assert s.rollback().state.champion_model_id == B


def test_refusals_of_promote_and_rollback() -> None:
    with pytest.raises(Refused, match="no champion"):
        rollback(None, target=None)
    with pytest.raises(Refused, match="no earlier champion"):
        rollback(promote(None, A, reason="manual").state, target=None)
    s = Scenario()
    s.promote(A)
    with pytest.raises(Refused, match="already the champion"):
        promote(s.state, A, reason="manual")


def test_champion_stack_ignores_a_rollback_with_nothing_below() -> None:
    assert champion_stack([("rollback", A), ("promote", B)]) == [B]
    assert previous_champion([A]) is None and previous_champion([A, B]) == A


def test_ab_test_splits_traffic_and_ends_without_promotion() -> None:
    s = Scenario()
    s.promote(A)
    started = s.apply(
        start_test(
            s.state,
            test_id=TEST,
            mode="ab_test",
            challenger_model_id=B,
            champion_model_id=A,
            challenger_share=0.25,
            sticky_column="user",
        )
    )
    assert started.state == DeploymentState(
        version=2,
        champion_model_id=A,
        challenger_model_id=B,
        mode="ab_test",
        ab_test_id=TEST,
        challenger_share=0.25,
        sticky_column="user",
    )
    assert started.changes == (Change("challenger", "ab_test_started", B, None, "manual"),)

    ended = s.apply(end_test(s.state, test_id=TEST, promote_challenger=False, reason="manual"))
    assert ended.state == DeploymentState(version=3, champion_model_id=A)
    assert ended.changes == (Change("challenger", "ab_test_ended", None, B, "manual"),)
    assert ended.ended_test_id == TEST and ended.winner_model_id is None
    assert ended.promoted is None


def test_ending_with_promotion_makes_the_challenger_champion_and_rollback_can_undo_it() -> None:
    s = Scenario()
    s.promote(A)
    s.apply(
        start_test(
            s.state, test_id=TEST, mode="ab_test", challenger_model_id=B, challenger_share=0.5
        )
    )

    ended = s.apply(end_test(s.state, test_id=TEST, promote_challenger=True, reason="policy"))

    assert ended.state == DeploymentState(version=3, champion_model_id=B)
    assert ended.winner_model_id == B
    assert ended.changes == (
        Change("champion", "promote", B, A, "policy"),
        Change("challenger", "ab_test_ended", None, B, "policy"),
    )
    assert ended.previous_champion == A
    assert s.rollback().state.champion_model_id == A


def test_shadow_mode_has_no_share_and_no_stickiness() -> None:
    state = promote(None, A, reason="manual").state
    outcome = start_test(
        state,
        test_id=TEST,
        mode="shadow",
        challenger_model_id=B,
        challenger_share=0.3,
        sticky_column="user",
    )
    assert outcome.state.mode == "shadow"
    assert outcome.state.challenger_share == 0 and outcome.state.sticky_column is None
    assert outcome.state.challenger_model_id == B and outcome.state.champion_model_id == A


def test_ab_test_refusals() -> None:
    def start(state: DeploymentState | None, **given: object) -> Outcome:
        fields = {"test_id": TEST, "mode": "ab_test", "challenger_model_id": B} | given
        fields.setdefault("challenger_share", 0.1)
        return start_test(state, **fields)  # type: ignore[arg-type]

    with pytest.raises(Refused, match="no champion"):
        start(None)
    state = promote(None, A, reason="manual").state
    with pytest.raises(Refused, match="is the champion"):
        start(state, challenger_model_id=A)
    with pytest.raises(Refused, match="is not the champion"):
        start(state, champion_model_id=C)
    for share in (0.0, 1.0, 1.5):
        with pytest.raises(Refused, match="challenger_share"):
            start(state, challenger_share=share)
    running = start(state).state
    with pytest.raises(Refused, match="already running"):
        start(running, test_id=uuid.uuid4(), challenger_model_id=C)
    with pytest.raises(Refused, match="is running; end it first"):
        promote(running, C, reason="manual")
    with pytest.raises(Refused, match="not running"):
        end_test(running, test_id=uuid.uuid4(), promote_challenger=False, reason="manual")
    with pytest.raises(Refused, match="not running"):
        end_test(state, test_id=TEST, promote_challenger=True, reason="manual")


def test_rollback_during_a_test_ends_it() -> None:
    s = Scenario()
    s.promote(A)
    s.promote(B)
    s.apply(start_test(s.state, test_id=TEST, mode="shadow", challenger_model_id=C))

    outcome = s.rollback()

    assert outcome.state == DeploymentState(version=4, champion_model_id=A)
    assert outcome.ended_test_id == TEST and outcome.winner_model_id is None
    assert outcome.changes == (
        Change("champion", "rollback", A, B, "rollback"),
        Change("challenger", "ab_test_ended", None, C, "rollback"),
    )
