"""What a run needs, frozen when it is requested (by the gateway for users, by the scheduler for
triggers and workflows): later changes to the configs never change a run."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.catalog import DatasetVersion, FeatureSet, Scenario
from mloop_common.db.training import Experiment, ModelConfig, ModelVersion, ResourceProfile
from mloop_common.features import check_feature_set
from mloop_common.messages.commands import Evaluation, Resources, RunSpec
from mloop_common.ml.metrics import default_metric


async def build_spec(session: AsyncSession, scenario: Scenario, experiment: Experiment) -> RunSpec:
    """What the trainer needs, frozen now: later changes to the configs never change a run."""
    dataset = await session.get(DatasetVersion, experiment.dataset_id)
    feature_set = await session.get(FeatureSet, experiment.feature_set_id)
    config = await session.get(ModelConfig, experiment.model_config_id)
    assert dataset is not None and feature_set is not None and config is not None
    resources = Resources()
    if experiment.resource_profile_id is not None:
        profile = await session.get(ResourceProfile, experiment.resource_profile_id)
        assert profile is not None
        resources = Resources.model_validate(profile, from_attributes=True)
    evaluation = Evaluation(
        **{
            **experiment.evaluation,
            "primary_metric": scenario.primary_metric or default_metric(scenario.task_type),
        }
    )
    return RunSpec(
        task_type=scenario.task_type,
        dataset_id=dataset.id,
        dataset_key=dataset.artifact_key,
        encoding=dataset.encoding,
        delimiter=dataset.delimiter,
        columns={column["name"]: column["type"] for column in dataset.columns},
        target=feature_set.target,
        features=feature_set.features,
        algorithm=config.algorithm,
        parameters=config.parameters,
        resources=resources,
        evaluation=evaluation,
        feature_set_id=feature_set.id,
        model_config_id=config.id,
        resource_profile_id=experiment.resource_profile_id,
    )


class NoRetrain(Exception):
    """The champion's configuration cannot be rebuilt on the dataset version; says why."""


async def retrain_spec(
    session: AsyncSession, scenario: Scenario, model: ModelVersion, dataset: DatasetVersion
) -> RunSpec:
    """The champion `model`'s configuration, frozen now, on `dataset` (its path's latest version):
    its feature set's target and features, its model config's algorithm and parameters, its
    resource profile and its experiment's evaluation. Raises `NoRetrain` when a part is gone or
    the dataset lacks a column the model needs."""
    feature_set = (
        await session.get(FeatureSet, model.feature_set_id) if model.feature_set_id else None
    )
    if feature_set is not None:
        target, features = feature_set.target, list(feature_set.features)
    else:  # the feature set went with its dataset: the model's signature still tells
        target = (model.signature.get("target") or {}).get("name")
        features = [column["name"] for column in model.signature.get("columns", [])]
    config = (
        await session.get(ModelConfig, model.model_config_id) if model.model_config_id else None
    )
    algorithm = config.algorithm if config is not None else model.algorithm
    parameters = config.parameters if config is not None else model.parameters
    resources = Resources()
    if model.resource_profile_id is not None:
        profile = await session.get(ResourceProfile, model.resource_profile_id)
        if profile is not None:
            resources = Resources.model_validate(profile, from_attributes=True)
    experiment = await session.get(Experiment, model.experiment_id) if model.experiment_id else None
    evaluation = Evaluation(
        **{
            **(experiment.evaluation if experiment is not None else {}),
            "primary_metric": scenario.primary_metric or default_metric(scenario.task_type),
        }
    )
    columns = {column["name"]: column["type"] for column in dataset.columns}
    missing = [name for name in [*([target] if target else []), *features] if name not in columns]
    if missing:
        raise NoRetrain(
            f"{dataset.path} version {dataset.version} lacks column(s) {', '.join(missing)} "
            "of the champion"
        )
    errors = check_feature_set(
        task_type=scenario.task_type, columns=columns, target=target, features=features
    )
    if errors:
        found = "; ".join(error["msg"] for error in errors)
        raise NoRetrain(
            f"{dataset.path} version {dataset.version} cannot train the champion: {found}"
        )
    return RunSpec(
        task_type=scenario.task_type,
        dataset_id=dataset.id,
        dataset_key=dataset.artifact_key,
        encoding=dataset.encoding,
        delimiter=dataset.delimiter,
        columns=columns,
        target=target,
        features=features,
        algorithm=algorithm,
        parameters=parameters,
        resources=resources,
        evaluation=evaluation,
        feature_set_id=feature_set.id if feature_set is not None else None,
        model_config_id=config.id if config is not None else None,
        resource_profile_id=model.resource_profile_id,
    )
