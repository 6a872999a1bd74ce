"""Commands: imperative requests, each consumed by exactly one service's work group."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

from pydantic import Field

from mloop_common import topics
from mloop_common.messages.envelope import Message


class TrainModel(Message):
    """Train one run of an experiment (gateway or scheduler → trainer)."""

    topic: ClassVar[str] = topics.TRAIN_MODEL
    type: Literal["TrainModel"] = "TrainModel"
    run_id: uuid.UUID = Field(description="The run to execute; created before the command.")
    experiment_id: uuid.UUID | None = Field(None, description="Experiment the run belongs to.")
    trigger: str = Field("manual", description="Why: manual, schedule, drift, performance, ...")


class PrepareDataset(Message):
    """Derive a new dataset version from an existing one (scheduler → trainer)."""

    topic: ClassVar[str] = topics.PREPARE_DATASET
    type: Literal["PrepareDataset"] = "PrepareDataset"
    source_dataset_id: uuid.UUID = Field(description="Dataset version to prepare from.")
    recipe: dict[str, Any] = Field(default_factory=dict, description="Preparation steps.")


class PredictBatch(Message):
    """Score a stored dataset version with a model (gateway → predictor)."""

    topic: ClassVar[str] = topics.PREDICT_BATCH
    type: Literal["PredictBatch"] = "PredictBatch"
    job_id: uuid.UUID = Field(description="The batch job; created before the command.")
    dataset_id: uuid.UUID = Field(description="Dataset version to score.")
    model_id: uuid.UUID | None = Field(None, description="Model to use; default the champion.")


class RunWorkflow(Message):
    """Start a run of a scenario's workflow (gateway → scheduler)."""

    topic: ClassVar[str] = topics.RUN_WORKFLOW
    type: Literal["RunWorkflow"] = "RunWorkflow"
    workflow_id: uuid.UUID = Field(description="Workflow to run.")
    requested_by: str | None = Field(None, description="API key id of the requester.")


class PromoteModel(Message):
    """Make a model the scenario's champion (gateway → scheduler)."""

    topic: ClassVar[str] = topics.PROMOTE_MODEL
    type: Literal["PromoteModel"] = "PromoteModel"
    model_id: uuid.UUID = Field(description="Model version to promote.")
    reason: str = Field("manual", description="manual or policy.")
    requested_by: str | None = Field(None, description="API key id of the requester.")


class RollbackModel(Message):
    """Restore the scenario's previous champion (gateway → scheduler)."""

    topic: ClassVar[str] = topics.ROLLBACK_MODEL
    type: Literal["RollbackModel"] = "RollbackModel"
    reason: str = Field("manual", description="manual or policy.")
    requested_by: str | None = Field(None, description="API key id of the requester.")


class StartABTest(Message):
    """Split a scenario's traffic between champion and a challenger (gateway → scheduler)."""

    topic: ClassVar[str] = topics.START_AB_TEST
    type: Literal["StartABTest"] = "StartABTest"
    challenger_model_id: uuid.UUID = Field(description="Model to test against the champion.")
    challenger_share: float = Field(0.1, gt=0, lt=1, description="Share of traffic it gets.")
    requested_by: str | None = Field(None, description="API key id of the requester.")
