"""The workflow runner's DAG, pure: ready steps, retries with backoff, transitive skips, the run's
end, the nearest ancestor of a type, and evaluation gates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mloop_scheduler.workflows.domain import (
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    Plan,
    PlanError,
    Step,
    attempts_allowed,
    check_gates,
    gate_failure,
    soft_needs,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def plan(*steps: tuple[str, str, tuple[str, ...]], attempts: int = 1) -> Plan:
    return Plan.of(Step(name, type_, needs, max_attempts=attempts) for name, type_, needs in steps)


def pipeline(attempts: int = 1) -> Plan:
    """prep → train → evaluate → deploy, and notify after train."""
    return plan(
        ("prep", "data_preprocessing", ()),
        ("train", "model_training", ("prep",)),
        ("evaluate", "evaluation", ("train",)),
        ("deploy", "deployment", ("evaluate",)),
        ("notify", "notification", ("train",)),
        attempts=attempts,
    )


def names(steps: list[Step]) -> list[str]:
    return [step.name for step in steps]


def test_only_steps_whose_needs_succeeded_are_ready() -> None:
    p = pipeline()
    assert names(p.ready(NOW)) == ["prep"]
    p.start("prep")
    assert p.ready(NOW) == []  # running: not ready again
    p.succeed("prep")
    assert names(p.ready(NOW)) == ["train"]
    p.start("train")
    p.succeed("train")
    assert names(p.ready(NOW)) == ["evaluate", "notify"]  # independent branches together


def test_steps_without_needs_all_start_at_once_and_the_run_succeeds_when_all_do() -> None:
    p = plan(("a", "notification", ()), ("b", "notification", ()))
    assert names(p.ready(NOW)) == ["a", "b"]
    for name in ("a", "b"):
        p.start(name)
        assert p.status == RUNNING
        p.succeed(name)
    assert p.done and p.status == SUCCEEDED


def test_a_failed_attempt_is_retried_after_a_backoff_that_doubles() -> None:
    p = plan(("train", "model_training", ()), attempts=3)
    p.start("train")
    assert p.fail("train", "oom", now=NOW, backoff=0.5) is True
    step = p["train"]
    assert (step.status, step.attempts, step.error) == (PENDING, 1, "oom")
    assert step.retry_at == NOW + timedelta(seconds=0.5)
    assert p.ready(NOW) == []  # not before its time
    assert p.next_retry() == step.retry_at
    assert names(p.ready(NOW + timedelta(seconds=0.5))) == ["train"]
    p.start("train")
    assert step.error is None and step.retry_at is None
    later = NOW + timedelta(seconds=1)
    assert p.fail("train", "oom again", now=later, backoff=0.5) is True
    assert step.retry_at == later + timedelta(seconds=1.0)  # 0.5 * 2
    p.start("train")
    assert p.fail("train", "third", now=later, backoff=0.5) is False  # attempts used up
    assert (step.status, step.attempts, step.error) == (FAILED, 3, "third")
    assert p.done and p.status == FAILED


def test_a_failed_step_skips_its_dependents_transitively_but_not_other_branches() -> None:
    p = plan(
        ("prep", "data_preprocessing", ()),
        ("train", "model_training", ("prep",)),
        ("evaluate", "evaluation", ("train",)),
        ("deploy", "deployment", ("evaluate",)),
        ("other", "model_training", ()),
        ("notify", "notification", ("other",)),
    )
    for name in ("prep", "other"):
        p.start(name)
    p.succeed("prep")
    p.start("train")
    assert p.fail("train", "boom", now=NOW, backoff=1) is False
    skipped = p.skip_blocked()
    assert names(skipped) == ["evaluate", "deploy"]
    assert all(step.status == SKIPPED for step in skipped)
    assert "train did not succeed" in (p["evaluate"].error or "")
    assert "evaluate did not succeed" in (p["deploy"].error or "")
    assert not p.done and p.status == RUNNING  # the other branch still runs
    assert p.skip_blocked() == []  # nothing twice
    p.succeed("other")
    assert names(p.ready(NOW)) == ["notify"]
    p.start("notify")
    p.succeed("notify")
    assert p.done and p.status == FAILED


def test_a_step_with_several_needs_waits_for_all_and_is_skipped_if_any_fails() -> None:
    p = plan(
        ("a", "data_preprocessing", ()),
        ("b", "data_preprocessing", ()),
        ("train", "model_training", ("a", "b")),
    )
    p.start("a")
    p.start("b")
    p.succeed("a")
    assert p.ready(NOW) == []
    p.fail("b", "bad", now=NOW, backoff=0)
    assert names(p.skip_blocked()) == ["train"]
    assert p.status == FAILED


def test_a_when_always_deployment_runs_after_failed_gates_but_not_after_skipped_ones() -> None:
    types = {"train": "model_training", "evaluate": "evaluation"}
    soft = soft_needs("deployment", {"when": "always"}, ["evaluate"], types)
    assert soft == {"evaluate"}
    assert soft_needs("deployment", {"when": "gates"}, ["evaluate"], types) == frozenset()
    assert soft_needs("deployment", {"when": "always"}, ["train"], types) == frozenset()

    def build() -> Plan:
        return Plan.of(
            [
                Step("train", "model_training"),
                Step("evaluate", "evaluation", ("train",)),
                Step("deploy", "deployment", ("evaluate",), soft_needs=soft),
            ]
        )

    gates_failed = build()
    gates_failed.start("train")
    gates_failed.succeed("train")
    gates_failed.start("evaluate")
    gates_failed.fail("evaluate", "gate", now=NOW, backoff=0)
    assert gates_failed.skip_blocked() == []
    assert names(gates_failed.ready(NOW)) == ["deploy"]

    training_failed = build()
    training_failed.start("train")
    training_failed.fail("train", "boom", now=NOW, backoff=0)
    assert names(training_failed.skip_blocked()) == ["evaluate", "deploy"]


def test_steps_are_ordered_topologically_and_bad_graphs_are_refused() -> None:
    p = Plan.of(
        [
            Step("deploy", "deployment", ("train",)),
            Step("train", "model_training", ("prep",)),
            Step("prep", "data_preprocessing"),
        ]
    )
    assert list(p.steps) == ["prep", "train", "deploy"]
    with pytest.raises(PlanError, match="cycle"):
        Plan.of([Step("a", "evaluation", ("b",)), Step("b", "evaluation", ("a",))])
    with pytest.raises(PlanError, match="unknown"):
        Plan.of([Step("a", "evaluation", ("ghost",))])
    with pytest.raises(PlanError, match="same name"):
        Plan.of([Step("a", "evaluation"), Step("a", "deployment")])


def test_moves_from_the_wrong_state_are_refused() -> None:
    p = pipeline()
    with pytest.raises(PlanError):
        p.succeed("prep")  # not running
    with pytest.raises(PlanError):
        p.fail("prep", "x", now=NOW, backoff=0)
    p.start("prep")
    with pytest.raises(PlanError):
        p.start("prep")


def test_nearest_ancestor_of_a_type() -> None:
    p = plan(
        ("raw", "data_preprocessing", ()),
        ("clean", "data_preprocessing", ("raw",)),
        ("train", "model_training", ("clean",)),
        ("evaluate", "evaluation", ("train",)),
        ("deploy", "deployment", ("evaluate",)),
        ("lonely", "notification", ()),
    )
    assert p.nearest("deploy", "model_training") == "train"
    assert p.nearest("train", "data_preprocessing") == "clean"  # the closest, not the first
    assert p.nearest("clean", "data_preprocessing") == "raw"
    assert p.nearest("lonely", "model_training") is None
    assert p.nearest("raw", "data_preprocessing") is None  # never itself


def test_attempts_come_from_retries_or_the_setting() -> None:
    assert attempts_allowed({"retries": 0}, default=2) == 1
    assert attempts_allowed({"retries": 3}, default=2) == 4
    assert attempts_allowed({}, default=2) == 2
    assert attempts_allowed({"retries": True}, default=2) == 2
    assert attempts_allowed({"retries": -1}, default=2) == 2


class FakeCondition:
    """`metric >= number` only: enough to test the gate logic without the real language."""

    def __init__(self, text: str) -> None:
        self.metric, op, number = text.split()
        if op != ">=":
            raise ValueError(f"unsupported {op}")
        self.bound = float(number)

    def evaluate_row(self, record: dict[str, Any]) -> Any:
        if self.metric not in record:
            raise ValueError(f"unknown column {self.metric!r}")
        return record[self.metric] >= self.bound


def test_gates_pass_fail_or_fail_with_the_reason() -> None:
    metrics = {"accuracy": 0.9, "f1_macro": 0.7}
    results = check_gates(
        [
            "accuracy >= 0.8",
            "f1_macro >= 0.75",
            "auc >= 0.5",
            {"metric": "accuracy", "op": "<", "value": 0.95},
            {"metric": "rmse", "op": "<", "value": 1},
        ],
        metrics,
        parse=FakeCondition,
    )
    assert [(r.gate, r.passed) for r in results] == [
        ("accuracy >= 0.8", True),
        ("f1_macro >= 0.75", False),
        ("auc >= 0.5", False),
        ("accuracy < 0.95", True),
        ("rmse < 1", False),
    ]
    assert results[2].error == "unknown column 'auc'"
    assert results[4].error == "the model has no metric 'rmse'"
    error = gate_failure(results, metrics)
    assert error is not None
    assert "f1_macro >= 0.75" in error and "auc >= 0.5 (unknown column 'auc')" in error
    assert "accuracy=0.9" in error
    assert gate_failure(results[:1], metrics) is None


def test_gates_with_the_real_expression_language() -> None:
    expressions = pytest.importorskip("mloop_common.workflows.expressions")
    results = check_gates(
        ["accuracy >= 0.8 and f1_macro > 0.5", "accuracy - f1_macro < 0.1", "nope > 1"],
        {"accuracy": 0.9, "f1_macro": 0.7},
        parse=expressions.parse,
    )
    assert [r.passed for r in results] == [True, False, False]
    assert results[2].error is not None and "nope" in results[2].error
