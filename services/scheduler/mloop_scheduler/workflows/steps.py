"""What each step type does when it starts, in the transaction that starts it.

Preprocessing and training send a command (PrepareDataset, TrainModel through the outbox) and
wait for its outcome (`Waiting`); evaluation, deployment and notification finish at once (`Done`
or `Failed`). A `Failed` outcome that is not `retryable` (a gate not met, a configuration that
cannot work) fails the step without using its remaining attempts: trying again would give the
same answer.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mloop_common import outbox
from mloop_common.db.catalog import DatasetVersion, Scenario
from mloop_common.db.catalog_reads import latest_dataset
from mloop_common.db.workflow_runs import WorkflowRun, WorkflowStep
from mloop_common.features import check_feature_set, usable_features
from mloop_common.messages.commands import (
    Evaluation,
    PrepareDataset,
    Resources,
    RunSpec,
    TrainModel,
)
from mloop_common.messages.envelope import Message
from mloop_common.messages.events import ModelPromoted
from mloop_common.ml.metrics import default_metric
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.context import SERVICE, Scheduler
from mloop_scheduler.domain.deployments import Refused
from mloop_scheduler.workflows import adapters
from mloop_scheduler.workflows.domain import (
    DATA_PREPROCESSING,
    DEPLOYMENT,
    EVALUATION,
    MODEL_TRAINING,
    NOTIFICATION,
    Plan,
    check_gates,
    gate_failure,
)

log = logging.getLogger(__name__)

TRAIN_TRIGGER = "workflow"
DEPLOY_REASON = "workflow"
MANUAL = "manual"  # a deployment step's policy: leave the model for people to promote
RECIPE_KEYS = ("select", "filter", "impute", "derive")
PREDICT = "predict"


@dataclass(frozen=True)
class Waiting:
    """A command was sent; the step runs until its outcome arrives."""

    command_id: uuid.UUID
    output: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    output: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    error: str
    retryable: bool = True
    output: dict[str, Any] = field(default_factory=dict)


StepOutcome = Waiting | Done | Failed


@dataclass
class StepContext:
    scheduler: Scheduler
    session: AsyncSession
    run: WorkflowRun
    step: WorkflowStep
    plan: Plan
    rows: Mapping[str, WorkflowStep]
    envelope: dict[str, Any]
    requested_by: uuid.UUID | None

    def stage(self, message: Message) -> None:
        outbox.stage(self.session, service=SERVICE, message=message)

    def output_of_nearest(self, type_: str) -> tuple[str, dict[str, Any]] | None:
        """(name, output) of the closest ancestor step of `type_`."""
        name = self.plan.nearest(self.step.name, type_)
        return None if name is None else (name, self.rows[name].output or {})


async def execute(context: StepContext) -> StepOutcome:
    run_step = EXECUTORS.get(context.step.type)
    if run_step is None:
        return Failed(f"unknown step type {context.step.type!r}", retryable=False)
    return await run_step(context)


# --- data_preprocessing ----------------------------------------------------------------------


async def prepare(context: StepContext) -> StepOutcome:
    config = context.step.config
    if context.run.kind == PREDICT:
        return Failed(
            "a predict workflow's preprocessing applies to the records sent for prediction; "
            "it writes no dataset when run",
            retryable=False,
        )
    output_path = config.get("output_path")
    if not output_path:
        return Failed("the step names no output_path", retryable=False)
    scenario = await adapters.scenario(context.session, context.run.scenario_id)
    assert scenario is not None  # the run's row would be gone with it (cascade)
    path = config.get("input_path") or scenario.default_data_path
    if not path:
        return Failed(
            "no input_path, and the scenario has no default data path (upload data first)"
        )
    source_id = _produced_upstream(context, path)
    if source_id is None:
        source = await latest_dataset(context.session, scenario.id, path)
        if source is None:
            return Failed(f"no data is stored at {path!r}")
        source_id = source.id
    dataset_id = uuid.uuid4()
    recipe = {key: config[key] for key in RECIPE_KEYS if config.get(key) is not None}
    try:
        command = PrepareDataset(
            **context.envelope,
            source_dataset_id=source_id,
            recipe=recipe,
            dataset_id=dataset_id,
            path=output_path,
            workflow_run_id=context.run.id,
        )
    except ValidationError as error:
        return Failed(f"bad preprocessing configuration: {error}", retryable=False)
    context.stage(command)
    output = {"source_dataset_id": str(source_id), "dataset_id": str(dataset_id)}
    return Waiting(dataset_id, {**output, "path": output_path})


def _produced_upstream(context: StepContext, path: str) -> uuid.UUID | None:
    """The dataset an ancestor preprocessing step of this run wrote at `path`, if any: the
    version this run made, not whatever is newest there now."""
    name = context.step.name
    while (name := context.plan.nearest(name, DATA_PREPROCESSING)) is not None:
        output = context.rows[name].output or {}
        if output.get("path") == path and output.get("dataset_id"):
            return uuid.UUID(output["dataset_id"])
    return None


# --- model_training --------------------------------------------------------------------------


async def train(context: StepContext) -> StepOutcome:
    session, config = context.session, context.step.config
    scenario = await adapters.scenario(session, context.run.scenario_id)
    assert scenario is not None
    dataset = await _training_data(context, scenario)
    if isinstance(dataset, Failed):
        return dataset
    columns = {column["name"]: column["type"] for column in dataset.columns}
    target = config.get("target") or scenario.default_target
    features = config.get("features") or usable_features(
        task_type=scenario.task_type, columns=columns, target=target
    )
    problems = check_feature_set(
        task_type=scenario.task_type, columns=columns, target=target, features=features
    )
    if problems:
        found = "; ".join(f"{'.'.join(map(str, p['loc'][1:]))}: {p['msg']}" for p in problems)
        return Failed(f"cannot train on dataset {dataset.id}: {found}", retryable=False)
    try:
        resources = Resources.model_validate(config.get("resources") or {})
        spec = RunSpec(
            task_type=scenario.task_type,
            dataset_id=dataset.id,
            dataset_key=dataset.artifact_key,
            encoding=dataset.encoding,
            delimiter=dataset.delimiter,
            columns=columns,
            target=target,
            features=features,
            algorithm=config.get("algorithm") or "auto",
            parameters=config.get("parameters") or {},
            resources=resources,
            evaluation=_evaluation(config.get("evaluation") or {}, scenario),
        )
    except ValidationError as error:
        return Failed(f"bad training configuration: {error}", retryable=False)
    run_id = uuid.uuid4()
    context.stage(
        TrainModel(
            **context.envelope,
            run_id=run_id,
            trigger=TRAIN_TRIGGER,
            spec=spec,
            requested_by=context.requested_by,
        )
    )
    return Waiting(run_id, {"run_id": str(run_id), "dataset_id": str(dataset.id)})


async def _training_data(context: StepContext, scenario: Scenario) -> DatasetVersion | Failed:
    """The dataset version trained on: the latest at the step's `data_path` (the version this
    run made there, if a preprocessing step before it wrote it); else what the nearest
    preprocessing step before it made; else the latest at the scenario's default data path."""
    session, path = context.session, context.step.config.get("data_path")
    if path:
        made = _produced_upstream(context, path)
        found = await (
            adapters.dataset(session, made) if made else latest_dataset(session, scenario.id, path)
        )
        return found or Failed(f"no data is stored at {path!r}")
    upstream = context.output_of_nearest(DATA_PREPROCESSING)
    if upstream is not None:
        name, output = upstream
        found = await adapters.dataset(session, uuid.UUID(output["dataset_id"]))
        return found or Failed(f"the dataset step {name!r} made is gone")
    if scenario.default_data_path is None:
        return Failed("no preprocessing step precedes it and the scenario has no default data")
    found = await latest_dataset(session, scenario.id, scenario.default_data_path)
    return found or Failed(f"no data is stored at {scenario.default_data_path!r}")


def _evaluation(given: Mapping[str, Any], scenario: Scenario) -> Evaluation:
    metric = given.get("primary_metric") or scenario.primary_metric
    return Evaluation(**{**given, "primary_metric": metric or default_metric(scenario.task_type)})


# --- evaluation ------------------------------------------------------------------------------


async def evaluate(context: StepContext) -> StepOutcome:
    trained = await _trained_model(context)
    if isinstance(trained, Failed):
        return trained
    model_id, metrics = trained
    gates = context.step.config.get("gates")
    if not isinstance(gates, list) or not gates:
        return Failed("the step has no gates (a non-empty list)", retryable=False)
    results = check_gates(gates, metrics, parse=_parse())
    output = {
        "model_id": str(model_id),
        "metrics": metrics,
        "gates": [result.as_dict() for result in results],
    }
    error = gate_failure(results, metrics)
    if error is not None:
        return Failed(error, retryable=False, output=output)
    return Done(output)


def _parse() -> Callable[[str], Any]:
    from mloop_common.workflows.expressions import parse

    return parse


async def _trained_model(context: StepContext) -> tuple[uuid.UUID, dict[str, float]] | Failed:
    upstream = context.output_of_nearest(MODEL_TRAINING)
    if upstream is None:
        return Failed("no model_training step precedes it", retryable=False)
    name, output = upstream
    if not output.get("model_id"):
        return Failed(f"step {name!r} produced no model", retryable=False)
    model_id = uuid.UUID(output["model_id"])
    model = await adapters.model(context.session, context.run.scenario_id, model_id)
    if model is None:
        return Failed(f"model {model_id} of step {name!r} is gone", retryable=False)
    return model_id, dict(model.metrics or {})


# --- deployment ------------------------------------------------------------------------------


async def deploy(context: StepContext) -> StepOutcome:
    trained = await _trained_model(context)
    if isinstance(trained, Failed):
        return trained
    model_id, _ = trained
    if context.step.config.get("policy") == MANUAL:
        return Done({"model_id": str(model_id), "promoted": False, "policy": MANUAL})
    try:
        state, outcome = await adapters.promote(
            context.session, context.run.scenario_id, model_id, reason=DEPLOY_REASON
        )
    except Refused as refused:
        return Failed(f"cannot promote model {model_id}: {refused}")
    if outcome is None:
        return Done({"model_id": str(model_id), "promoted": True, "already_champion": True})
    assert outcome.promoted is not None and state is not None
    previous = outcome.promoted.previous_model_id
    context.stage(
        ModelPromoted(
            **context.envelope,
            model_id=model_id,
            previous_model_id=previous,
            reason=DEPLOY_REASON,
            state=state,
        )
    )
    return Done(
        {
            "model_id": str(model_id),
            "promoted": True,
            "previous_model_id": str(previous) if previous else None,
            "deployment_version": state.version,
        }
    )


# --- notification ----------------------------------------------------------------------------


async def notify(context: StepContext) -> StepOutcome:
    try:
        from mloop_scheduler.webhooks.outbox import enqueue_notification
    except ImportError:
        return Failed("webhooks unavailable: this scheduler cannot send notifications")
    config = context.step.config
    url = config.get("url")
    if not url:
        return Failed("the step names no url", retryable=False)
    run = context.run
    states = {
        name: {
            "type": step.type,
            "status": step.status,  # the plan's: rows are written when the change ends
            "output": _plain(context.rows[name].output or {}),
        }
        for name, step in context.plan.steps.items()
    }
    payload = {
        "workflow_run_id": str(run.id),
        "workflow_id": str(run.workflow_id),
        "kind": run.kind,
        "trigger": run.trigger,
        "step": context.step.name,
        "message": config.get("message") or "",
        "steps": states,
    }
    try:
        delivery_id = await enqueue_notification(
            context.session,
            scenario_id=run.scenario_id,
            url=str(url),
            payload=payload,
            allow=context.scheduler.settings.webhook_allow,
        )
    except ValueError as refused:  # a target the rules refuse (TargetRefused), a bad payload
        return Failed(f"notification refused: {refused}", retryable=False)
    return Done({"delivery_id": delivery_id, "url": str(url)})


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite numbers (a NaN metric, say) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


EXECUTORS: dict[str, Callable[[StepContext], Awaitable[StepOutcome]]] = {
    DATA_PREPROCESSING: prepare,
    MODEL_TRAINING: train,
    EVALUATION: evaluate,
    DEPLOYMENT: deploy,
    NOTIFICATION: notify,
}
