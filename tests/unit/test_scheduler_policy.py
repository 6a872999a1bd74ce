"""The deployment policy's pure decisions: the first model, `auto` against a margin in both
metric directions, the fall-back without a baseline, `ab_test` and `manual`, and probation
verdicts."""

from __future__ import annotations

import uuid

import pytest
from mloop_scheduler.domain.policy import (
    Model,
    Reference,
    on_trained,
    probation_reference,
    probation_verdict,
)

CHAMPION = Model(uuid.uuid4(), "accuracy", {"accuracy": 0.80, "rmse": 3.0})


def candidate(**metrics: float) -> Model:
    metric = next(iter(metrics))
    return Model(uuid.uuid4(), metric, metrics)


def baseline(**metrics: float) -> dict:
    return {"model_id": str(CHAMPION.model_id), "metrics": metrics}


def test_the_first_model_is_promoted_at_once_unless_the_policy_is_manual() -> None:
    for policy in ("auto", "ab_test"):
        choice = on_trained(policy, candidate(accuracy=0.1), None, baseline=None, margin=0.5)
        assert (choice.action, choice.decision) == ("promote", "promoted")
        assert "first model" in choice.reason
    manual = on_trained("manual", candidate(accuracy=0.9), None, baseline=None, margin=0)
    assert (manual.action, manual.decision) == ("none", "left_as_candidate")


def test_auto_promotes_a_candidate_better_by_the_margin_on_the_same_holdout() -> None:
    choice = on_trained(
        "auto", candidate(accuracy=0.90), CHAMPION, baseline=baseline(accuracy=0.84), margin=0.05
    )
    assert (choice.action, choice.decision) == ("promote", "promoted")
    assert choice.detail["champion"] == 0.84 and choice.detail["champion_source"] == "baseline"
    assert choice.detail["improvement"] == pytest.approx(0.06)
    assert "candidate's holdout rows" in choice.reason


def test_auto_keeps_the_champion_when_worse_or_better_by_less_than_the_margin() -> None:
    worse = on_trained(
        "auto", candidate(accuracy=0.70), CHAMPION, baseline=baseline(accuracy=0.84), margin=0
    )
    assert (worse.action, worse.decision) == ("none", "kept_champion")
    assert "not better" in worse.reason
    slight = on_trained(
        "auto", candidate(accuracy=0.86), CHAMPION, baseline=baseline(accuracy=0.84), margin=0.05
    )
    assert slight.decision == "kept_champion" and "better by only" in slight.reason
    tie = on_trained(
        "auto", candidate(accuracy=0.84), CHAMPION, baseline=baseline(accuracy=0.84), margin=0
    )
    assert tie.decision == "kept_champion"


def test_lower_is_better_metrics_compare_the_other_way() -> None:
    better = on_trained(
        "auto", candidate(rmse=2.0), CHAMPION, baseline=baseline(rmse=2.5), margin=0.1
    )
    assert better.decision == "promoted" and better.detail["higher_is_better"] is False
    assert better.detail["improvement"] == pytest.approx(0.5)
    worse = on_trained("auto", candidate(rmse=2.6), CHAMPION, baseline=baseline(rmse=2.5), margin=0)
    assert worse.decision == "kept_champion"


def test_without_a_usable_baseline_auto_falls_back_to_the_champions_own_holdout() -> None:
    choice = on_trained("auto", candidate(accuracy=0.85), CHAMPION, baseline=None, margin=0.01)
    assert choice.decision == "promoted"
    assert choice.detail["champion"] == 0.80 and choice.detail["champion_source"] == "holdout"
    assert "not the same rows" in choice.reason and "no baseline" in choice.reason
    stale = {"model_id": str(uuid.uuid4()), "metrics": {"accuracy": 0.99}}
    again = on_trained("auto", candidate(accuracy=0.85), CHAMPION, baseline=stale, margin=0.01)
    assert again.detail["champion_source"] == "holdout" and again.decision == "promoted"
    assert "no longer the champion" in again.reason
    unknown = on_trained("auto", candidate(f1_macro=0.9), CHAMPION, baseline=None, margin=0)
    assert unknown.decision == "kept_champion" and "no f1_macro" in unknown.reason


def test_ab_test_starts_a_test_and_manual_leaves_the_candidate() -> None:
    ab = on_trained("ab_test", candidate(accuracy=0.5), CHAMPION, baseline=None, margin=0)
    assert (ab.action, ab.decision) == ("start_ab_test", "ab_test_started")
    manual = on_trained("manual", candidate(accuracy=0.99), CHAMPION, baseline=None, margin=0)
    assert (manual.action, manual.decision) == ("none", "left_as_candidate")
    assert "policy manual" in manual.reason


def test_the_probation_baseline_is_live_with_enough_feedback_else_the_holdout() -> None:
    assert probation_reference(0.9, 40, min_labelled=20, holdout=0.8) == Reference(0.9, "live")
    assert probation_reference(0.9, 5, min_labelled=20, holdout=0.8) == Reference(0.8, "holdout")
    assert probation_reference(None, 0, min_labelled=20, holdout=None) == Reference(None, None)


def test_probation_rolls_back_a_champion_worse_by_more_than_the_margin() -> None:
    live = Reference(0.90, "live")
    fallen = probation_verdict("accuracy", baseline=live, live=0.70, labelled=40, margin=0.05)
    assert (fallen.action, fallen.decision) == ("rollback", "rolled_back")
    assert fallen.detail["fall"] == pytest.approx(0.20)
    within = probation_verdict("accuracy", baseline=live, live=0.87, labelled=40, margin=0.05)
    assert (within.action, within.decision) == ("none", "probation_passed")
    errors = Reference(1.0, "holdout")
    worse = probation_verdict("rmse", baseline=errors, live=1.5, labelled=40, margin=0.2)
    assert worse.decision == "rolled_back"
    better = probation_verdict("rmse", baseline=errors, live=0.5, labelled=40, margin=0.2)
    assert better.decision == "probation_passed"


def test_probation_passes_when_nothing_can_be_compared() -> None:
    none = probation_verdict(
        "accuracy", baseline=Reference(None, None), live=0.1, labelled=40, margin=0
    )
    assert none.decision == "probation_passed" and "nothing" not in none.reason
    undefined = probation_verdict(
        "roc_auc", baseline=Reference(0.9, "live"), live=None, labelled=40, margin=0
    )
    assert undefined.decision == "probation_passed" and "undefined" in undefined.reason
