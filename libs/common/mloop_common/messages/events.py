"""Events: facts in the past tense. Any number of services may consume each one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mloop_common import topics
from mloop_common.messages.envelope import Message


class DatasetUploaded(Message):
    """A new immutable dataset version was stored."""

    topic: ClassVar[str] = topics.DATASET_UPLOADED
    type: Literal["DatasetUploaded"] = "DatasetUploaded"
    dataset_id: uuid.UUID = Field(description="The dataset version.")
    path: str = Field(description="Data path inside the scenario.")
    sha256: str = Field(description="Content hash of the stored file.")
    rows: int = Field(ge=0, description="Number of data rows.")
    origin: Literal["upload", "workflow"] = Field(
        "upload",
        description="Who made the version: `upload`, a person or an app through the API; "
        "`workflow`, a workflow's data_preprocessing step (recorded from DatasetPrepared). "
        "new_data triggers fire on uploads only, so a workflow's own data never retrains in "
        "a loop.",
    )
    workflow_run_id: uuid.UUID | None = Field(
        None, description="The workflow run whose step made the version (origin `workflow`)."
    )


class DatasetPrepared(Message):
    """The trainer wrote a prepared dataset; the gateway records it as a version."""

    topic: ClassVar[str] = topics.DATASET_PREPARED
    type: Literal["DatasetPrepared"] = "DatasetPrepared"
    source_dataset_id: uuid.UUID = Field(description="Dataset version it was prepared from.")
    artifact_key: str = Field(
        description="Artifact-store key of the prepared file; empty on error."
    )
    sha256: str = Field(description="Content hash of the prepared file; empty on error.")
    rows: int = Field(ge=0, description="Number of data rows.")
    dataset_id: uuid.UUID | None = Field(
        None, description="The new version's id, as `PrepareDataset` chose it."
    )
    path: str | None = Field(None, description="Data path the new version is recorded at.")
    size: int = Field(0, ge=0, description="Size of the prepared file, in bytes.")
    columns: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The prepared file's columns as an upload's inspection reports them: "
        "`name`, `type` (numeric, categorical, text, datetime, boolean), `missing_share`, "
        "`distinct`, `distinct_approximate`.",
    )
    encoding: str = Field("utf-8", description="Text encoding of the prepared file.")
    delimiter: str = Field(",", max_length=1, description="Field delimiter of the prepared file.")
    workflow_run_id: uuid.UUID | None = Field(
        None, description="The workflow run that asked for it, if any."
    )
    error: str | None = Field(
        None,
        description="Why the recipe could not apply (an unknown column, a type that does not "
        "fit); null on success. On error no file was written and no version is recorded.",
    )


class ScenarioDeleted(Message):
    """A scenario and everything it owned were deleted."""

    topic: ClassVar[str] = topics.SCENARIO_DELETED
    type: Literal["ScenarioDeleted"] = "ScenarioDeleted"


class FeedbackItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    prediction_id: str = Field(description="Id the prediction was answered with.")
    actual: Any = Field(description="The observed outcome.")


class FeedbackReceived(Message):
    """Observed outcomes for earlier predictions (gateway, or the external feedback topic)."""

    topic: ClassVar[str] = topics.FEEDBACK_RECEIVED
    type: Literal["FeedbackReceived"] = "FeedbackReceived"
    items: list[FeedbackItem] = Field(description="Feedback items, in arrival order.")


class KeysChanged(Message):
    """An API key was created or revoked; services holding key copies refresh them."""

    topic: ClassVar[str] = topics.KEYS_CHANGED
    type: Literal["KeysChanged"] = "KeysChanged"
    key_id: uuid.UUID = Field(description="The key that changed.")
    role: str = Field(description="admin, editor, viewer or predictor.")
    key_hash: str = Field(description="sha256 of the secret; never the secret itself.")
    revoked: bool = Field(False, description="True when the key was revoked.")
    name: str = Field("", description="The key's name.")
    scenarios: list[uuid.UUID] | None = Field(
        None, description="Scenarios the key is limited to; null for all."
    )


class RunStarted(Message):
    """A trainer claimed a run and began it."""

    topic: ClassVar[str] = topics.RUN_STARTED
    type: Literal["RunStarted"] = "RunStarted"
    run_id: uuid.UUID = Field(description="The run.")


class RunProgressed(Message):
    """A run reached a new step."""

    topic: ClassVar[str] = topics.RUN_PROGRESSED
    type: Literal["RunProgressed"] = "RunProgressed"
    run_id: uuid.UUID = Field(description="The run.")
    progress: float = Field(ge=0, le=1, description="Share of the work done.")
    message: str = Field("", description="What the run is doing now.")


class ModelTrained(Message):
    """A run finished and produced a model version."""

    topic: ClassVar[str] = topics.MODEL_TRAINED
    type: Literal["ModelTrained"] = "ModelTrained"
    run_id: uuid.UUID = Field(description="The run.")
    model_id: uuid.UUID = Field(description="The stored model version.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Holdout metrics.")
    baseline: dict[str, Any] | None = Field(
        None,
        description="The scenario's champion when the run started, scored by the trainer on "
        "this run's holdout rows with the same metric code, so candidate and champion compare "
        'on the same data: `{"model_id": uuid, "metrics": {name: value}}`. Null when there '
        "was no champion, it is of another task, its input columns are not in the holdout, "
        "the task's holdout cannot score another model (forecasting, recommendation), or it "
        "could not be scored (the trainer's log says why).",
    )


class RunFailed(Message):
    """A run ended without a model."""

    topic: ClassVar[str] = topics.RUN_FAILED
    type: Literal["RunFailed"] = "RunFailed"
    run_id: uuid.UUID = Field(description="The run.")
    error: str = Field(description="Why it failed.")


class ModelsDeleted(Message):
    """Model versions and their artifacts were deleted."""

    topic: ClassVar[str] = topics.MODELS_DELETED
    type: Literal["ModelsDeleted"] = "ModelsDeleted"
    model_ids: list[uuid.UUID] = Field(description="The deleted models.")


class PredictionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    prediction_id: str = Field(
        description="Signed id returned to the caller (a shadow prediction shares the champion's)."
    )
    model_id: uuid.UUID = Field(description="Model that answered.")
    arm: str = Field("champion", description="champion, challenger or shadow.")
    inputs: dict[str, Any] = Field(
        description="The record the model scored: as received, or as the scenario's predict "
        "workflow transformed it (the inputs drift is measured on)."
    )
    output: Any = Field(description="The prediction.")
    latency_ms: float = Field(ge=0, description="Time spent predicting the request.")
    predicted_at: datetime = Field(description="When it was answered.")


class PredictionMade(Message):
    """A batch of online predictions (published without the outbox: at most once locally)."""

    topic: ClassVar[str] = topics.PREDICTION_MADE
    type: Literal["PredictionMade"] = "PredictionMade"
    predictions: list[PredictionRecord] = Field(description="Predictions of the batch.")


class BatchPredictionCompleted(Message):
    """A batch prediction job wrote its output."""

    topic: ClassVar[str] = topics.BATCH_PREDICTION_COMPLETED
    type: Literal["BatchPredictionCompleted"] = "BatchPredictionCompleted"
    job_id: uuid.UUID = Field(description="The batch job.")
    model_id: uuid.UUID = Field(description="Model that scored it.")
    output_key: str = Field(description="Artifact-store key of the output CSV.")
    rows: int = Field(ge=0, description="Rows scored.")


class DriftDetected(Message):
    """A drift episode began for the scenario's champion."""

    topic: ClassVar[str] = topics.DRIFT_DETECTED
    type: Literal["DriftDetected"] = "DriftDetected"
    model_id: uuid.UUID = Field(description="Model whose inputs drifted.")
    features: dict[str, float] = Field(description="Drifted features and their scores.")
    drifted_share: float = Field(ge=0, le=1, description="Share of features that drifted.")


class PerformanceDegraded(Message):
    """A performance episode began: a live metric crossed its threshold."""

    topic: ClassVar[str] = topics.PERFORMANCE_DEGRADED
    type: Literal["PerformanceDegraded"] = "PerformanceDegraded"
    model_id: uuid.UUID = Field(description="Model whose metric fell.")
    metric: str = Field(description="Metric name.")
    value: float = Field(description="Live value over the window.")
    threshold: float = Field(description="Threshold it crossed.")


class DeploymentState(BaseModel):
    """Who answers a scenario's requests, as of one deployment version.

    Every deployment event carries the whole state it leads to, so a replica applies an event by
    replacing its copy when the version is newer, whatever it missed before."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1, description="Grows with every deployment change of the scenario.")
    champion_model_id: uuid.UUID | None = Field(description="Model answering requests.")
    challenger_model_id: uuid.UUID | None = Field(
        None, description="Model under test beside the champion."
    )
    mode: Literal["single", "ab_test", "shadow"] = Field(
        "single",
        description="single: the champion answers; ab_test: the challenger answers its share; "
        "shadow: the challenger scores every request, the champion answers.",
    )
    ab_test_id: uuid.UUID | None = Field(None, description="The running A/B or shadow test.")
    challenger_share: float = Field(0, ge=0, le=1, description="Share the challenger answers.")
    sticky_column: str | None = Field(
        None, description="Record field whose value always picks the same arm (by hash)."
    )


class ModelPromoted(Message):
    """The scenario's champion changed."""

    topic: ClassVar[str] = topics.MODEL_PROMOTED
    type: Literal["ModelPromoted"] = "ModelPromoted"
    model_id: uuid.UUID = Field(description="The new champion.")
    previous_model_id: uuid.UUID | None = Field(None, description="The champion it replaced.")
    reason: str = Field("manual", description="manual or policy.")
    state: DeploymentState = Field(description="The deployment this leads to.")


class ModelRolledBack(Message):
    """The previous champion was restored."""

    topic: ClassVar[str] = topics.MODEL_ROLLED_BACK
    type: Literal["ModelRolledBack"] = "ModelRolledBack"
    model_id: uuid.UUID = Field(description="The restored champion.")
    previous_model_id: uuid.UUID = Field(description="The champion it replaced.")
    reason: str = Field("manual", description="manual or policy.")
    state: DeploymentState = Field(description="The deployment this leads to.")


class ABTestStarted(Message):
    """Traffic is now split between champion and challenger, or the challenger shadows."""

    topic: ClassVar[str] = topics.AB_TEST_STARTED
    type: Literal["ABTestStarted"] = "ABTestStarted"
    test_id: uuid.UUID = Field(description="The A/B test.")
    champion_model_id: uuid.UUID = Field(description="Arm A.")
    challenger_model_id: uuid.UUID = Field(description="Arm B.")
    state: DeploymentState = Field(description="The deployment this leads to.")


class ABTestEnded(Message):
    """An A/B test ended, with or without a winner."""

    topic: ClassVar[str] = topics.AB_TEST_ENDED
    type: Literal["ABTestEnded"] = "ABTestEnded"
    test_id: uuid.UUID = Field(description="The A/B test.")
    winner_model_id: uuid.UUID | None = Field(None, description="Winner, if decided.")
    reason: str = Field("manual", description="manual or policy.")
    state: DeploymentState = Field(description="The deployment this leads to.")


class WorkflowStepFinished(Message):
    """One step of a workflow run ended."""

    topic: ClassVar[str] = topics.WORKFLOW_STEP_FINISHED
    type: Literal["WorkflowStepFinished"] = "WorkflowStepFinished"
    workflow_run_id: uuid.UUID = Field(description="The workflow run.")
    step: str = Field(description="Step name.")
    status: Literal["succeeded", "failed", "skipped"] = Field(description="How it ended.")


class WorkflowSaved(Message):
    """A scenario's train or predict workflow in force changed: a new version was saved (or,
    with `workflow_id` null, none of that kind is in force any more). Every predictor re-reads
    the scenario's predict workflow, which transforms the records before the model."""

    topic: ClassVar[str] = topics.WORKFLOW_SAVED
    type: Literal["WorkflowSaved"] = "WorkflowSaved"
    kind: Literal["train", "predict"] = Field(description="Which workflow: train or predict.")
    workflow_id: uuid.UUID | None = Field(
        description="The version now in force; null when none of this kind is in force."
    )
    version: int | None = Field(None, ge=1, description="Its version number, when one is.")


class ServiceHeartbeat(Message):
    """A service instance is alive and connected to the bus (broadcast every few seconds)."""

    topic: ClassVar[str] = topics.HEARTBEATS
    type: Literal["ServiceHeartbeat"] = "ServiceHeartbeat"
    service: str = Field(description="gateway, trainer, predictor, monitor or scheduler.")
    instance: str = Field(description="Host and process id of the instance.")
    started_at: datetime = Field(description="When the instance started.")
