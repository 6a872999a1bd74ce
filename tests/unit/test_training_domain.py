"""Pure training rules: experiment versions and what a trainer's machine can run."""

from __future__ import annotations

import pytest
from mloop_common.messages.commands import Resources
from mloop_gateway.domain.semver import next_version
from mloop_trainer.domain.capacity import Machine, limits, refusal

BASE = {
    "dataset_id": "d1",
    "feature_set_id": "f1",
    "model_config_id": "m1",
    "evaluation": {},
    "resource_profile_id": None,
    "tags": [],
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, "1.4.3"),
        ({"tags": ["x"]}, "1.4.3"),
        ({"resource_profile_id": "r1"}, "1.4.3"),
        ({"model_config_id": "m2"}, "1.5.0"),
        ({"evaluation": {"cv_folds": 5}}, "1.5.0"),
        ({"feature_set_id": "f2"}, "2.0.0"),
        ({"dataset_id": "d2", "model_config_id": "m2", "tags": ["x"]}, "2.0.0"),
    ],
)
def test_the_largest_change_decides_the_bump(change: dict, expected: str) -> None:
    assert next_version("1.4.2", BASE, {**BASE, **change}) == expected


def test_the_first_version_is_1_0_0() -> None:
    assert next_version(None, {}, BASE) == "1.0.0"


MACHINE = Machine(cores=2, memory_mb=24 * 1024, gpus=0)


def test_a_profile_the_machine_can_give_is_accepted() -> None:
    assert refusal(Resources(cpu_cores=2, memory_gb=8), MACHINE) is None


@pytest.mark.parametrize(
    ("resources", "reason"),
    [
        (
            Resources(gpus=1),
            "the run asks for 1 GPU(s) and this trainer has none; "
            "use a profile with gpus=0 or a trainer with GPUs",
        ),
        (Resources(cpu_cores=4), "the profile asks for 4 CPU cores and this trainer has 2"),
        (
            Resources(memory_gb=32),
            "the profile asks for 32 GB of memory and this trainer has 24.0 GB",
        ),
    ],
)
def test_a_profile_larger_than_the_machine_is_refused(resources: Resources, reason: str) -> None:
    assert refusal(resources, MACHINE) == reason


def test_more_gpus_than_the_machine_has_are_refused() -> None:
    assert refusal(Resources(gpus=4), Machine(cores=2, memory_mb=1e6, gpus=2)) == (
        "the run asks for 4 GPUs and this trainer has 2"
    )


def test_operator_ceilings_lower_the_profile_only_where_tighter() -> None:
    profile = Resources(cpu_cores=2, memory_gb=4, max_hours=0.5)
    assert limits(profile, max_seconds=None, max_memory_mb=None) == (
        limits(profile, max_seconds=7200, max_memory_mb=10_000)
    )
    capped = limits(profile, max_seconds=60, max_memory_mb=1000)
    assert (capped.cores, capped.memory_mb, capped.wall_seconds) == (2, 1000, 60)
