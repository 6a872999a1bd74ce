"""Automatic deployment decisions, without I/O: what to do with a trained model, and whether a
champion on probation keeps its place.

On a trained model (`on_trained`), by the scenario's `deployment_policy`:
- `manual`: leave the candidate for a person to promote (even the first model);
- no champion yet (`auto`, `ab_test`): promote at once;
- `auto`: promote when the candidate beats the champion on the primary metric (the candidate's,
  direction from `higher_is_better`) by at least `margin`, strictly: with margin 0 a tie keeps
  the champion. The champion's value is its `baseline` — the champion scored by the trainer on
  the candidate's holdout rows, the same data — when the trained event carries one for the
  current champion; otherwise the champion's own holdout value, which was measured on other
  rows, and the decision says so;
- `ab_test`: start an A/B test of the candidate against the champion.

On probation (`probation_verdict`): the new champion's live primary metric over its first
labelled predictions against the baseline (the old champion's live metric over its last labelled
predictions, or its holdout value when it had too little feedback); it is rolled back when it is
worse by more than `margin`, in the metric's own units.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from mloop_common.db.policy import (
    AB_TEST_STARTED,
    KEPT_CHAMPION,
    LEFT_AS_CANDIDATE,
    PROBATION_PASSED,
    PROMOTED,
    ROLLED_BACK,
)
from mloop_common.ml.metrics import higher_is_better

Action = Literal["promote", "start_ab_test", "rollback", "none"]
FIRST_MODEL = "policy: first model"


@dataclass(frozen=True)
class Model:
    """What the policy knows of a model: its holdout metrics and primary metric."""

    model_id: uuid.UUID
    primary_metric: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class Choice:
    """What to do, the decision to record, why, and the numbers behind it."""

    action: Action
    decision: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


def _shown(value: float) -> str:
    return f"{value:.4g}"


def on_trained(
    policy: str,
    candidate: Model,
    champion: Model | None,
    *,
    baseline: dict[str, Any] | None,
    margin: float,
) -> Choice:
    """The decision on a newly trained `candidate` (see the module docstring)."""
    if policy == "manual":
        kept = f"the champion stays {champion.model_id}" if champion else "there is no champion"
        return Choice(
            "none",
            LEFT_AS_CANDIDATE,
            f"policy manual: left as a candidate; {kept} until a person promotes a model",
        )
    if champion is None:
        return Choice(
            "promote",
            PROMOTED,
            f"policy {policy}: first model of the scenario, promoted at once",
            {"first_model": True},
        )
    if champion.model_id == candidate.model_id:
        return Choice("none", LEFT_AS_CANDIDATE, "the model is the champion already")
    if policy == "ab_test":
        return Choice(
            "start_ab_test",
            AB_TEST_STARTED,
            f"policy ab_test: A/B test against the champion {champion.model_id}",
            {"champion_model_id": str(champion.model_id)},
        )
    return compare(candidate, champion, baseline=baseline, margin=margin)


def compare(
    candidate: Model, champion: Model, *, baseline: dict[str, Any] | None, margin: float
) -> Choice:
    """`auto`: promote when better than the champion by at least `margin` on the primary metric."""
    metric = candidate.primary_metric
    higher = higher_is_better(metric)
    value = candidate.metrics.get(metric)
    detail: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": higher,
        "margin": margin,
        "candidate": value,
        "champion_model_id": str(champion.model_id),
    }
    reference, source, why = _reference(champion, metric, baseline)
    detail |= {"champion": reference, "champion_source": source}
    if why:
        detail["champion_source_reason"] = why
    if value is None or not math.isfinite(value):
        return Choice(
            "none", KEPT_CHAMPION, f"the candidate has no {metric} to compare: kept", detail
        )
    if reference is None or not math.isfinite(reference):
        return Choice(
            "none",
            KEPT_CHAMPION,
            f"the champion has no {metric} to compare with ({why}): kept the champion",
            detail,
        )
    improvement = value - reference if higher else reference - value
    detail["improvement"] = improvement
    where = (
        "on the candidate's holdout rows"
        if source == "baseline"
        else f"on its own holdout, not the same rows: {why}"
    )
    direction = "higher" if higher else "lower"
    compared = (
        f"{metric} {_shown(value)} against the champion's {_shown(reference)} {where} "
        f"({direction} is better)"
    )
    if improvement > 0 and improvement >= margin:
        return Choice(
            "promote",
            PROMOTED,
            f"better by {_shown(improvement)} (margin {_shown(margin)}): {compared}",
            detail,
        )
    verdict = "not better" if improvement <= 0 else f"better by only {_shown(improvement)}"
    return Choice(
        "none",
        KEPT_CHAMPION,
        f"{verdict} (margin {_shown(margin)}): {compared}; kept the champion",
        detail,
    )


def _reference(
    champion: Model, metric: str, baseline: dict[str, Any] | None
) -> tuple[float | None, str, str | None]:
    """(champion's value, `baseline` or `holdout`, why not the baseline)."""
    if not baseline:
        why = "the trainer sent no baseline"
    elif str(baseline.get("model_id")) != str(champion.model_id):
        why = f"the baseline scored model {baseline.get('model_id')}, no longer the champion"
    elif metric not in (baseline.get("metrics") or {}):
        why = f"the baseline has no {metric}"
    else:
        return float(baseline["metrics"][metric]), "baseline", None
    return champion.metrics.get(metric), "holdout", why


# --- probation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    value: float | None
    source: str | None  # live | holdout


def probation_reference(
    live: float | None, labelled: int, *, min_labelled: int, holdout: float | None
) -> Reference:
    """The old champion's live value when it had `min_labelled` labelled predictions with the
    metric defined, else its holdout value."""
    if live is not None and math.isfinite(live) and labelled >= min_labelled:
        return Reference(live, "live")
    if holdout is not None and math.isfinite(holdout):
        return Reference(holdout, "holdout")
    return Reference(None, None)


def probation_verdict(
    metric: str, *, baseline: Reference, live: float | None, labelled: int, margin: float
) -> Choice:
    """The new champion's verdict once it has its labelled predictions: roll back, or pass."""
    higher = higher_is_better(metric)
    detail: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": higher,
        "margin": margin,
        "live": live,
        "labelled": labelled,
        "baseline": baseline.value,
        "baseline_source": baseline.source,
    }
    if live is None or not math.isfinite(live):
        return Choice(
            "none",
            PROBATION_PASSED,
            f"{metric} is undefined on the new champion's {labelled} labelled predictions: "
            "nothing to compare, it stays",
            detail,
        )
    if baseline.value is None:
        return Choice(
            "none",
            PROBATION_PASSED,
            f"the previous champion has no {metric} to compare with: the new champion stays",
            detail,
        )
    fall = baseline.value - live if higher else live - baseline.value
    detail["fall"] = fall
    compared = (
        f"live {metric} {_shown(live)} over {labelled} labelled predictions against the "
        f"previous champion's {_shown(baseline.value)} ({baseline.source})"
    )
    if fall > margin:
        return Choice(
            "rollback",
            ROLLED_BACK,
            f"worse by {_shown(fall)}, more than the margin {_shown(margin)}: {compared}; "
            "rolled back",
            detail,
        )
    return Choice(
        "none",
        PROBATION_PASSED,
        f"{compared}: within the margin {_shown(margin)}; it stays",
        detail,
    )
