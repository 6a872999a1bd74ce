"""Whether a feature set can serve its scenario's task, and which columns can be features (pure;
shared by the gateway, which checks feature sets, and the scheduler, which builds workflow runs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mloop_common.tasks import FEATURE_TYPES, TARGET_OPTIONAL, TARGET_TYPES


def _error(loc: list[Any], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": type_}


def check_feature_set(
    *, task_type: str, columns: Mapping[str, str], target: str | None, features: list[str]
) -> list[dict[str, Any]]:
    """Problems with a feature set, as problem+json `errors`; empty when it is usable.

    `columns` maps each column of the dataset version to its inferred type.
    """
    errors: list[dict[str, Any]] = []
    if target is None and task_type not in TARGET_OPTIONAL:
        errors.append(_error(["target"], f"a {task_type} scenario needs a target", "missing"))
    elif target is not None:
        if target not in columns:
            errors.append(_error(["target"], f"no column {target!r} in the dataset", "unknown"))
        elif columns[target] not in TARGET_TYPES[task_type]:
            errors.append(
                _error(
                    ["target"],
                    f"a {columns[target]} column cannot be the target of {task_type}",
                    "unusable_type",
                )
            )
    seen: set[str] = set()
    for index, name in enumerate(features):
        if name in seen:
            errors.append(_error(["features", index], f"{name!r} is listed twice", "duplicate"))
        seen.add(name)
        if name == target:
            errors.append(_error(["features", index], "the target cannot be a feature", "target"))
        elif name not in columns:
            errors.append(_error(["features", index], f"no column {name!r}", "unknown"))
        elif columns[name] not in FEATURE_TYPES[task_type]:
            errors.append(
                _error(
                    ["features", index],
                    f"a {columns[name]} column is not usable by {task_type}",
                    "unusable_type",
                )
            )
    types = {columns.get(name) for name in features}
    if task_type == "text_classification" and "text" not in types and "categorical" not in types:
        errors.append(_error(["features"], "text classification needs a text column", "missing"))
    if task_type == "forecasting" and "datetime" not in types:
        errors.append(_error(["features"], "forecasting needs a datetime column", "missing"))
    return errors


def usable_features(*, task_type: str, columns: Mapping[str, str], target: str | None) -> list[str]:
    """Every column the task can take as a feature, in the dataset's order (target excluded)."""
    return [
        name
        for name, kind in columns.items()
        if name != target and kind in FEATURE_TYPES[task_type]
    ]
