"""A workflow run as a DAG of steps, without I/O: which steps can start, retry or give up, which
are skipped, and when the run is over.

A step starts when every step it `needs` succeeded. A failed attempt is tried again after a
backoff that doubles each time, until the step has used its attempts; then it fails, and every
step that depends on it, directly or not, is skipped. The run ends when every step has ended:
succeeded when all succeeded, failed otherwise.

One exception to "needs must succeed": a step may tolerate the failure of some of its needs
(`soft_needs`): a deployment with `when: always` runs even when the evaluation it follows failed
its gates. A soft need that was skipped still stops it (there is nothing to run on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
TERMINAL = frozenset({SUCCEEDED, FAILED, SKIPPED})

# Step types
DATA_PREPROCESSING = "data_preprocessing"
MODEL_TRAINING = "model_training"
EVALUATION = "evaluation"
DEPLOYMENT = "deployment"
NOTIFICATION = "notification"


@dataclass
class Step:
    name: str
    type: str
    needs: tuple[str, ...] = ()
    max_attempts: int = 1
    soft_needs: frozenset[str] = frozenset()
    status: str = PENDING
    attempts: int = 0
    retry_at: datetime | None = None
    error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class PlanError(ValueError):
    """The steps do not form a DAG (unknown need, cycle, duplicate name)."""


@dataclass
class Plan:
    """The steps of one run, in topological order, and the moves between their states."""

    steps: dict[str, Step] = field(default_factory=dict)

    @classmethod
    def of(cls, steps: Iterable[Step]) -> Plan:
        ordered: dict[str, Step] = {}
        pending = list(steps)
        names = {step.name for step in pending}
        if len(names) != len(pending):
            raise PlanError("two steps have the same name")
        for step in pending:
            unknown = [need for need in step.needs if need not in names]
            if unknown:
                raise PlanError(f"step {step.name!r} needs unknown step(s) {unknown}")
        while pending:  # Kahn's algorithm, stable: keeps the given order where it can
            placed = [s for s in pending if all(need in ordered for need in s.needs)]
            if not placed:
                raise PlanError(f"the needs of {sorted(s.name for s in pending)} form a cycle")
            for step in placed:
                ordered[step.name] = step
            pending = [s for s in pending if s.name not in ordered]
        return cls(ordered)

    def __getitem__(self, name: str) -> Step:
        return self.steps[name]

    # --- what can happen next -----------------------------------------------------------------

    def ready(self, now: datetime) -> list[Step]:
        """Pending steps whose needs allow them to start now (retries once their time came)."""
        return [
            step
            for step in self.steps.values()
            if step.status == PENDING
            and (step.retry_at is None or step.retry_at <= now)
            and all(self._satisfied(step, need) for need in step.needs)
        ]

    def next_retry(self) -> datetime | None:
        """When the earliest waiting retry is due."""
        due = [s.retry_at for s in self.steps.values() if s.status == PENDING and s.retry_at]
        return min(due) if due else None

    def skip_blocked(self) -> list[Step]:
        """Skip every pending step that can no longer run (a need failed or was skipped),
        transitively; answers the steps skipped now."""
        skipped = []
        for step in self.steps.values():  # topological order: one pass reaches every dependent
            if step.status == PENDING and any(self._blocks(step, need) for need in step.needs):
                step.status = SKIPPED
                step.retry_at = None
                blocking = [need for need in step.needs if self._blocks(step, need)]
                step.error = f"skipped: {', '.join(blocking)} did not succeed"
                skipped.append(step)
        return skipped

    def _satisfied(self, step: Step, need: str) -> bool:
        status = self.steps[need].status
        return status == SUCCEEDED or (status == FAILED and need in step.soft_needs)

    def _blocks(self, step: Step, need: str) -> bool:
        status = self.steps[need].status
        return status == SKIPPED or (status == FAILED and need not in step.soft_needs)

    # --- moves --------------------------------------------------------------------------------

    def start(self, name: str) -> Step:
        step = self.steps[name]
        if step.status != PENDING:
            raise PlanError(f"step {name!r} is {step.status}, it cannot start")
        step.status = RUNNING
        step.attempts += 1
        step.retry_at = None
        step.error = None
        return step

    def succeed(self, name: str) -> Step:
        step = self.steps[name]
        if step.status != RUNNING:
            raise PlanError(f"step {name!r} is {step.status}, it cannot succeed")
        step.status = SUCCEEDED
        step.error = None
        return step

    def fail(self, name: str, error: str, *, now: datetime, backoff: float) -> bool:
        """An attempt failed: True when the step will be tried again (pending until its
        `retry_at`), False when it failed for good (call `skip_blocked` next)."""
        step = self.steps[name]
        if step.status != RUNNING:
            raise PlanError(f"step {name!r} is {step.status}, it cannot fail")
        step.error = error
        if step.attempts < step.max_attempts:
            step.status = PENDING
            step.retry_at = now + timedelta(seconds=backoff * 2 ** (step.attempts - 1))
            return True
        step.status = FAILED
        return False

    # --- the run ------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return all(step.terminal for step in self.steps.values())

    @property
    def status(self) -> str:
        """running until every step ended; then succeeded when all succeeded, else failed."""
        if not self.done:
            return RUNNING
        if all(step.status == SUCCEEDED for step in self.steps.values()):
            return SUCCEEDED
        return FAILED

    def nearest(self, name: str, type_: str) -> str | None:
        """The closest step of `type_` among the ancestors of `name` (fewest `needs` hops; the
        earliest in the plan on a tie), or None."""
        order = {step: index for index, step in enumerate(self.steps)}
        level = list(self.steps[name].needs)
        seen: set[str] = set()
        while level:
            found = [n for n in level if self.steps[n].type == type_]
            if found:
                return min(found, key=order.__getitem__)
            seen.update(level)
            level = sorted(
                {need for n in level for need in self.steps[n].needs if need not in seen},
                key=order.__getitem__,
            )
        return None


def soft_needs(
    type_: str, config: Mapping[str, Any], needs: Sequence[str], types: Mapping[str, str]
) -> frozenset[str]:
    """Needs whose failure does not stop the step: the evaluations a `when: always`
    deployment follows."""
    if type_ == DEPLOYMENT and config.get("when") == "always":
        return frozenset(need for need in needs if types.get(need) == EVALUATION)
    return frozenset()


def attempts_allowed(step: Mapping[str, Any], *, default: int) -> int:
    """Tries of a stored step: its `retries` plus one, or the setting's default."""
    retries = step.get("retries")
    if isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0:
        return retries + 1
    return default


# --- evaluation gates ------------------------------------------------------------------------

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class Condition(Protocol):
    def evaluate_row(self, record: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "passed": self.passed, "error": self.error}


def gate_text(gate: str | Mapping[str, Any]) -> str:
    """A gate as people write it: `accuracy >= 0.8`."""
    if isinstance(gate, Mapping):
        return f"{gate.get('metric')} {gate.get('op')} {gate.get('value')}"
    return str(gate)


def check_gates(
    gates: Sequence[str | Mapping[str, Any]],
    metrics: Mapping[str, float],
    *,
    parse: Callable[[str], Condition],
) -> list[GateResult]:
    """Each gate evaluated on the model's metrics; it passes when it is true. A gate is an
    expression over metric names (`"accuracy >= 0.8"`, evaluated with `parse`) or its stored
    form `{"metric", "op", "value"}`. A gate that cannot be evaluated (a metric the model does
    not have, say) fails, with the reason."""
    return [_check(gate, metrics, parse) for gate in gates]


def _check(
    gate: str | Mapping[str, Any], metrics: Mapping[str, float], parse: Callable[[str], Condition]
) -> GateResult:
    text = gate_text(gate)
    if isinstance(gate, Mapping):
        metric, op, bound = gate.get("metric"), gate.get("op"), gate.get("value")
        compare = COMPARISONS.get(str(op))
        if compare is None or not isinstance(bound, int | float):
            return GateResult(text, False, "not a comparison of a metric with a number")
        value = metrics.get(str(metric))
        if value is None:
            return GateResult(text, False, f"the model has no metric {metric!r}")
        return GateResult(text, bool(compare(float(value), float(bound))))
    try:
        value = parse(text).evaluate_row(dict(metrics))
    except ValueError as error:  # the expression language's errors (unknown metric, ...)
        return GateResult(text, False, str(error) or type(error).__name__)
    return GateResult(text, value is not None and bool(value))


def gate_failure(results: Sequence[GateResult], metrics: Mapping[str, float]) -> str | None:
    """The step's error when a gate failed, or None when they all passed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return None
    parts = [f"{r.gate} ({r.error})" if r.error else r.gate for r in failed]
    shown = ", ".join(f"{name}={_number(value)}" for name, value in sorted(metrics.items()))
    return f"gate(s) not met: {'; '.join(parts)}; the model's metrics: {shown or 'none'}"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else repr(value)
