"""An experiment's semantic version, from what changed since the previous version (pure).

A new dataset version or feature set bumps the major, a model config change the minor,
resources or tags the patch. The first version of a name is 1.0.0.
"""

from __future__ import annotations

from collections.abc import Mapping

FIRST = "1.0.0"
MAJOR_FIELDS = ("dataset_id", "feature_set_id")
MINOR_FIELDS = ("model_config_id", "evaluation")
PATCH_FIELDS = ("resource_profile_id", "tags")


def parse(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def next_version(
    previous: str | None, before: Mapping[str, object], after: Mapping[str, object]
) -> str:
    """The version of `after`, given the previous version of the same name and its fields.

    Nothing changed: a patch bump, so every version names one row."""
    if previous is None:
        return FIRST
    major, minor, patch = parse(previous)

    def changed(fields: tuple[str, ...]) -> bool:
        return any(before.get(name) != after.get(name) for name in fields)

    if changed(MAJOR_FIELDS):
        return f"{major + 1}.0.0"
    if changed(MINOR_FIELDS):
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def sort_key(version: str) -> tuple[int, int, int]:
    return parse(version)
