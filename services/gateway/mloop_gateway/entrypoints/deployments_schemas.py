"""Request and response shapes of deployments (promote, rollback, state, history) and A/B tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mloop_gateway.entrypoints.schemas import Column, Strict

Reason = Literal["manual", "policy"]
REASON = Field("manual", description="Why: `manual` (a person) or `policy` (an automation).")


class PromoteRequest(Strict):
    reason: Reason = REASON


class RollbackRequest(Strict):
    reason: Reason = REASON


class DeploymentAccepted(BaseModel):
    """A promotion or rollback was accepted; the scheduler applies it shortly."""

    status: Literal["accepted"] = "accepted"
    command_id: uuid.UUID = Field(description="Id of the command sent to the scheduler.")
    scenario_id: uuid.UUID
    model_id: uuid.UUID = Field(description="The model that will be the champion.")
    previous_model_id: uuid.UUID | None = Field(description="The champion it replaces.")
    version: int = Field(
        description="The deployment version when accepted (0: none yet); the change makes a "
        "higher one, visible at GET .../deployments."
    )


class ABTestCreate(Strict):
    challenger_model_id: uuid.UUID = Field(description="Model to test against the champion.")
    champion_model_id: uuid.UUID | None = Field(
        None, description="The current champion, if you want that checked (409 otherwise)."
    )
    mode: Literal["ab_test", "shadow"] = Field(
        "ab_test",
        description="ab_test: the challenger answers its share of requests; shadow: the "
        "challenger scores every request, only the champion answers.",
    )
    challenger_share: float | None = Field(
        None,
        description="Share of requests the challenger answers, strictly between 0 and 1 "
        "(mode ab_test; default 0.1). Leave out in shadow mode.",
    )
    sticky_column: Column | None = Field(
        None,
        description="Record field whose value always picks the same arm, by hash (mode ab_test).",
    )
    primary_metric: str | None = Field(
        None,
        max_length=64,
        description="Metric the arms are compared on; default the scenario's primary metric.",
    )
    min_samples: int = Field(
        100, ge=1, le=10_000_000, description="Labelled predictions each arm needs."
    )


class ABTestEnd(Strict):
    promote_challenger: bool = Field(False, description="Make the challenger the champion.")
    reason: Reason = REASON


class ABTestAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    command_id: uuid.UUID
    test_id: uuid.UUID = Field(description="The test; GET .../ab-tests/{test_id} once started.")
    scenario_id: uuid.UUID
    mode: str
    champion_model_id: uuid.UUID
    challenger_model_id: uuid.UUID
    challenger_share: float
    sticky_column: str | None
    primary_metric: str
    min_samples: int
    version: int


class ABTestEndAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    command_id: uuid.UUID
    test_id: uuid.UUID
    promote_challenger: bool
    model_id: uuid.UUID = Field(description="The champion once the test has ended.")
    version: int


class ModelSummary(BaseModel):
    """A deployed model: which, since when, and what it is."""

    model_id: uuid.UUID
    id: uuid.UUID = Field(description="The same as `model_id`.")
    since: datetime | None = Field(description="When it took this alias.")
    algorithm: str | None
    primary_metric: str | None
    primary_value: float | None
    experiment_id: uuid.UUID | None
    created_at: datetime | None = Field(description="When it was trained.")


class HistoryEntry(BaseModel):
    """One alias change."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    version: int = Field(description="Deployment version the change made.")
    alias: Literal["champion", "challenger"]
    action: str = Field(description="promote, rollback, ab_test_started or ab_test_ended.")
    model_id: uuid.UUID | None = Field(description="The model the alias points to after.")
    previous_model_id: uuid.UUID | None = Field(description="The model it pointed to before.")
    reason: str = Field(
        description="Why: manual, policy (`policy: first model` for a scenario's first), "
        "rollback, or probation (the policy rolled back a champion that did worse live)."
    )
    requested_by: uuid.UUID | None = Field(description="API key id of who asked (null: system).")
    requested_by_name: str | None = Field(None, description="That key's name.")
    at: datetime


class ABTestPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    scenario_id: uuid.UUID
    mode: str
    status: str = Field(description="running or ended.")
    champion_model_id: uuid.UUID
    challenger_model_id: uuid.UUID
    challenger_share: float
    sticky_column: str | None
    primary_metric: str | None
    min_samples: int
    winner_model_id: uuid.UUID | None
    end_reason: str | None
    requested_by: uuid.UUID | None
    started_at: datetime
    ended_at: datetime | None


class Arm(BaseModel):
    model_id: uuid.UUID
    arm: Literal["champion", "challenger", "shadow"] = Field(
        description="The arm its predictions are logged under (shadow: scored, not answered)."
    )
    predictions: int = Field(description="Predictions logged for it since the test started.")
    labelled: int = Field(
        0,
        description="Of which with feedback (the latest `ab_max_samples` at most are used).",
    )
    metric: float | None = Field(
        None,
        description="The compared quantity (`results.compared`) on the labelled ones: accuracy, "
        "mean absolute error, or the mean per-prediction metric.",
    )
    confidence_interval: list[float | None] | None = Field(
        None,
        description="(1 - alpha) interval of `metric`: Wilson's for accuracy, Student's t "
        "otherwise; null bounds when too few samples.",
    )
    primary_value: float | None = Field(
        None, description="The test's primary metric, live, on the labelled ones."
    )


class ABResults(BaseModel):
    status: Literal["pending_feedback", "continue", "challenger", "champion"] = Field(
        description="pending_feedback: no feedback on either arm yet; continue: no verdict yet "
        "(too few samples, or not significant yet); challenger: significantly better; "
        "champion: significantly better, or the test was inconclusive at the maximum sample. "
        "The scheduler acts on the verdict for tests of scenarios whose policy is `ab_test`."
    )
    detail: str = Field(description="The verdict explained.")
    primary_metric: str | None
    compared: str | None = Field(
        None,
        description="What is compared per labelled prediction: accuracy (classification, "
        "anomaly detection: two-proportion z-test), absolute_error (regression, forecasting: "
        "Welch's t-test) or a per-prediction metric (recommendation: Welch's t-test).",
    )
    higher_is_better: bool | None = None
    p_value: float | None = Field(None, description="Of the challenger being better.")
    statistic: float | None = Field(None, description="z or t; positive favours the challenger.")
    alpha: float = Field(description="Significance level.")
    min_samples: int = Field(description="Labelled predictions each arm needs for a verdict.")
    max_samples: int = Field(
        description="Per arm, at which an inconclusive test keeps the champion."
    )
    unreadable: int = Field(0, description="Feedback the task could not read (skipped).")


class ABTestDetail(ABTestPublic):
    arms: dict[str, Arm] = Field(description="`champion` and `challenger`.")
    results: ABResults


class DecisionPublic(BaseModel):
    """One decision of the deployment policy, with its explanation."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    scenario_id: uuid.UUID
    model_id: uuid.UUID | None = Field(description="The model decided about.")
    policy: str = Field(description="The scenario's deployment policy at the time.")
    decision: str = Field(
        description="promoted, ab_test_started, kept_champion, left_as_candidate (on a trained "
        "model or an A/B test); rolled_back, probation_passed (on probation)."
    )
    reason: str = Field(description="Why, in words: the numbers compared and the rule applied.")
    detail: dict[str, Any] = Field(
        description="The numbers: metric, values compared and their source, margin, p-value..."
    )
    at: datetime


class DeploymentPublic(BaseModel):
    """Who answers a scenario's requests now, and how it got there."""

    scenario_id: uuid.UUID
    version: int = Field(description="Grows with every change; 0 before the first promotion.")
    mode: Literal["single", "ab_test", "shadow"]
    champion: ModelSummary | None
    challenger: ModelSummary | None
    challenger_share: float
    sticky_column: str | None
    ab_test: ABTestPublic | None = Field(description="The running test, if any.")
    rollback_target: uuid.UUID | None = Field(description="What a rollback would restore.")
    history: list[HistoryEntry] = Field(description="Alias changes, newest first.")
    history_next_cursor: str | None = Field(
        description="Pass as `cursor` to GET .../deployments/history for older changes."
    )


def model_summary(model: Any, model_id: uuid.UUID, since: datetime | None) -> ModelSummary:
    return ModelSummary(
        model_id=model_id,
        id=model_id,
        since=since,
        algorithm=getattr(model, "algorithm", None),
        primary_metric=getattr(model, "primary_metric", None),
        primary_value=getattr(model, "primary_value", None),
        experiment_id=getattr(model, "experiment_id", None),
        created_at=getattr(model, "created_at", None),
    )
