"""What a run needs, frozen when it is requested (by the gateway for users, by the scheduler for
triggers and workflows): later changes to the configs never change a run."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.catalog import DatasetVersion, FeatureSet, Scenario
from mloop_common.db.training import Experiment, ModelConfig, ResourceProfile
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
