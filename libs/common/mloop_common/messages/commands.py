"""Commands: imperative requests, each consumed by exactly one service's work group."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mloop_common import topics
from mloop_common.messages.envelope import Message


class Resources(BaseModel):
    """What a run may use; the trainer enforces it in the run's child process."""

    model_config = ConfigDict(frozen=True)

    cpu_cores: int = Field(1, ge=1, le=32, description="Threads the run may use.")
    memory_gb: float = Field(2.0, ge=1, le=128, description="Resident memory cap, in GB.")
    gpus: int = Field(0, ge=0, le=8, description="GPUs the run needs.")
    gpu_memory_gb: float = Field(0.0, ge=0, le=32, description="GPU memory per GPU, in GB.")
    max_hours: float = Field(1.0, ge=0.1, le=168, description="Wall-time cap, in hours.")


class Evaluation(BaseModel):
    """How a run is evaluated."""

    model_config = ConfigDict(frozen=True)

    holdout: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of rows held out (the latest, in time order, for forecasting).",
    )
    cv_folds: int = Field(
        0, ge=0, le=20, description="k-fold cross-validation on the training part; 0 for none."
    )
    seed: int = Field(42, description="Seed of every random choice of the run.")
    primary_metric: str | None = Field(
        None, description="Metric that decides the best model; the task's default when null."
    )


class RunSpec(BaseModel):
    """Everything a trainer needs to execute a run, frozen when the run is requested, so a run
    never changes after the configs it came from do."""

    model_config = ConfigDict(frozen=True)

    task_type: str = Field(description="The scenario's task type.")
    dataset_id: uuid.UUID = Field(description="Dataset version trained on.")
    dataset_key: str = Field(description="Artifact-store key of the dataset version's CSV.")
    encoding: str = Field("utf-8", description="Text encoding of the dataset's CSV.")
    delimiter: str = Field(",", description="Field delimiter of the dataset's CSV.")
    columns: dict[str, str] = Field(
        description="Every column of the dataset and its inferred type."
    )
    target: str | None = Field(description="Target column; null for unsupervised tasks.")
    features: list[str] = Field(description="Feature columns, in order.")
    algorithm: str = Field(description="Algorithm name, or `auto` for a search.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Validated hyperparameters, by the library's names."
    )
    resources: Resources = Field(default_factory=Resources, description="Limits of the run.")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="Split and metrics.")
    feature_set_id: uuid.UUID | None = Field(None, description="Lineage: the feature set.")
    model_config_id: uuid.UUID | None = Field(None, description="Lineage: the model config.")
    resource_profile_id: uuid.UUID | None = Field(
        None, description="Lineage: the resource profile."
    )


class TrainModel(Message):
    """Train one run of an experiment (gateway or scheduler → trainer)."""

    topic: ClassVar[str] = topics.TRAIN_MODEL
    type: Literal["TrainModel"] = "TrainModel"
    run_id: uuid.UUID = Field(description="The run to execute; its id is chosen by the sender.")
    experiment_id: uuid.UUID | None = Field(None, description="Experiment the run belongs to.")
    trigger: str = Field("manual", description="Why: manual, schedule, drift, performance, ...")
    spec: RunSpec | None = Field(None, description="What to train; a run without one fails.")
    requested_by: uuid.UUID | None = Field(None, description="API key id of the requester.")


class PrepareDataset(Message):
    """Derive a new dataset version from an existing one (scheduler → trainer)."""

    topic: ClassVar[str] = topics.PREPARE_DATASET
    type: Literal["PrepareDataset"] = "PrepareDataset"
    source_dataset_id: uuid.UUID = Field(description="Dataset version to prepare from.")
    recipe: dict[str, Any] = Field(
        default_factory=dict,
        description="Preparation steps: a data_preprocessing step's normalised config "
        "(`impute`, `derive`, `filter`, `select`; see mloop_common.workflows.recipe).",
    )
    dataset_id: uuid.UUID = Field(
        description="Id of the new dataset version, chosen by the sender; the gateway records "
        "the prepared file under it (unless the path already holds the same content)."
    )
    path: str = Field(
        min_length=1, max_length=512, description="Data path the new version is recorded at."
    )
    workflow_run_id: uuid.UUID | None = Field(
        None, description="The workflow run whose step asked for it, if any."
    )


class PredictBatch(Message):
    """Score a stored dataset version or an uploaded file with a model (gateway → predictor)."""

    topic: ClassVar[str] = topics.PREDICT_BATCH
    type: Literal["PredictBatch"] = "PredictBatch"
    job_id: uuid.UUID = Field(description="The batch job; its request row is written first.")
    dataset_id: uuid.UUID | None = Field(None, description="Dataset version to score.")
    input_key: str | None = Field(
        None, description="Artifact-store key of an uploaded CSV to score instead of a dataset."
    )
    encoding: str = Field("utf-8", description="Text encoding of the input.")
    delimiter: str = Field(",", max_length=1, description="Field delimiter of the input.")
    model_id: uuid.UUID | None = Field(None, description="Model to use; default the champion.")
    requested_by: uuid.UUID | None = Field(None, description="API key id of the requester.")


class RunWorkflow(Message):
    """Start a run of a scenario's workflow (gateway → scheduler)."""

    topic: ClassVar[str] = topics.RUN_WORKFLOW
    type: Literal["RunWorkflow"] = "RunWorkflow"
    workflow_id: uuid.UUID = Field(description="Workflow to run.")
    requested_by: str | None = Field(None, description="API key id of the requester.")
    workflow_run_id: uuid.UUID | None = Field(
        None,
        description="Id of the run, chosen by the sender so it can follow the run; one run per "
        "id however often the command arrives (default: derived from `event_id`).",
    )


class PromoteModel(Message):
    """Make a model the scenario's champion (gateway → scheduler)."""

    topic: ClassVar[str] = topics.PROMOTE_MODEL
    type: Literal["PromoteModel"] = "PromoteModel"
    model_id: uuid.UUID = Field(description="Model version to promote.")
    reason: str = Field("manual", description="manual or policy.")
    requested_by: uuid.UUID | None = Field(None, description="API key id of the requester.")


class RollbackModel(Message):
    """Restore the scenario's previous champion (gateway → scheduler)."""

    topic: ClassVar[str] = topics.ROLLBACK_MODEL
    type: Literal["RollbackModel"] = "RollbackModel"
    reason: str = Field("manual", description="manual or policy.")
    requested_by: uuid.UUID | None = Field(None, description="API key id of the requester.")


class StartABTest(Message):
    """Split a scenario's traffic between champion and a challenger, or shadow the champion
    with it (gateway → scheduler)."""

    topic: ClassVar[str] = topics.START_AB_TEST
    type: Literal["StartABTest"] = "StartABTest"
    test_id: uuid.UUID = Field(description="The A/B test; the gateway chooses it.")
    mode: Literal["ab_test", "shadow"] = Field(
        "ab_test",
        description="ab_test: the challenger answers its share; shadow: it scores every request "
        "but only the champion answers.",
    )
    champion_model_id: uuid.UUID | None = Field(
        None, description="Arm A; default the current champion."
    )
    challenger_model_id: uuid.UUID = Field(description="Model to test against the champion.")
    challenger_share: float = Field(0.1, ge=0, le=1, description="Share of traffic it answers.")
    sticky_column: str | None = Field(
        None, description="Record field whose value always picks the same arm (by hash)."
    )
    primary_metric: str | None = Field(None, description="Metric the arms are compared on.")
    min_samples: int = Field(100, ge=1, description="Labelled predictions each arm needs.")
    requested_by: uuid.UUID | None = Field(None, description="API key id of the requester.")


class EndABTest(Message):
    """Stop a running A/B test, optionally promoting its challenger (gateway → scheduler)."""

    topic: ClassVar[str] = topics.END_AB_TEST
    type: Literal["EndABTest"] = "EndABTest"
    test_id: uuid.UUID = Field(description="The A/B test.")
    promote_challenger: bool = Field(False, description="Make the challenger the champion.")
    reason: str = Field("manual", description="manual or policy.")
    requested_by: uuid.UUID | None = Field(None, description="API key id of the requester.")


class DeleteModels(Message):
    """Delete model versions and their artifacts (gateway → trainer, which owns them)."""

    topic: ClassVar[str] = topics.DELETE_MODELS
    type: Literal["DeleteModels"] = "DeleteModels"
    model_ids: list[uuid.UUID] = Field(max_length=10_000, description="Models to delete.")
    requested_by: uuid.UUID | None = Field(None, description="API key id of the requester.")


class DeletePredictions(Message):
    """Delete a scenario's logged predictions older than a moment (gateway → monitor)."""

    topic: ClassVar[str] = topics.DELETE_PREDICTIONS
    type: Literal["DeletePredictions"] = "DeletePredictions"
    older_than: datetime = Field(description="Predictions made before this are deleted.")
    requested_by: uuid.UUID | None = Field(None, description="API key id of the requester.")
