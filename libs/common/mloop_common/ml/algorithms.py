"""The algorithms each task can train, their hyperparameters, and the checks on given values.

`ALGORITHMS` lists them per task (`auto` included: a search over the others); `validate_parameters`
turns what a user gave (canonical or camelCase names) into canonical names or refuses it with
one error per field; `algorithm_schemas` is the JSON published as GET /api/algorithms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import hyperparameters as hp
from .parameters import InvalidParameters, Param

_LOGISTIC = "Logistic regression on scaled, one-hot encoded features."
_RIDGE = "Ridge regression on scaled, one-hot encoded features."
_HGB = "scikit-learn histogram gradient boosting."
_TFIDF = "TF-IDF per text column, then "
_ISOLATION = "Isolation forest: flags the rows that few random splits isolate."
_FORECAST = "LightGBM on lags, rolling means and calendar parts, forecasting step by step."
_ALS = "Matrix factorisation by implicit alternating least squares over user-item interactions."
_AUTO = "Optuna search over the task's algorithms and their hyperparameters."


@dataclass(frozen=True)
class Algorithm:
    name: str
    description: str
    params: tuple[Param, ...]

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


_REGISTRY: dict[str, tuple[Algorithm, ...]] = {
    "classification": (
        Algorithm("lightgbm", "LightGBM gradient-boosted trees.", hp.LIGHTGBM),
        Algorithm("random_forest", "scikit-learn random forest.", hp.random_forest("sqrt")),
        Algorithm("logistic_regression", _LOGISTIC, hp.LOGISTIC_REGRESSION),
        Algorithm("hist_gradient_boosting", _HGB, hp.HIST_GRADIENT_BOOSTING),
    ),
    "regression": (
        Algorithm("lightgbm", "LightGBM gradient-boosted trees.", hp.LIGHTGBM),
        Algorithm("random_forest", "scikit-learn random forest.", hp.random_forest("all")),
        Algorithm("linear_regression", _RIDGE, hp.RIDGE),
        Algorithm("hist_gradient_boosting", _HGB, hp.HIST_GRADIENT_BOOSTING),
    ),
    "text_classification": (
        Algorithm("logistic_regression", _TFIDF + "logistic regression.", hp.TEXT),
        Algorithm("linear_svm", _TFIDF + "linear SVM with calibrated probabilities.", hp.TEXT),
    ),
    "anomaly_detection": (Algorithm("isolation_forest", _ISOLATION, hp.ISOLATION_FOREST),),
    "forecasting": (Algorithm("lightgbm", _FORECAST, hp.FORECASTING),),
    "recommendation": (Algorithm("matrix_factorization", _ALS, hp.MATRIX_FACTORIZATION),),
}

# Settings of a task that `auto` does not search but passes to every trial.
_FIXED_IN_SEARCH: dict[str, tuple[str, ...]] = {
    "forecasting": ("horizon", "windows"),
    "recommendation": ("k", "user_column", "item_column"),
    "anomaly_detection": ("contamination",),
}


def _auto(task_type: str) -> Algorithm:
    names = tuple(entry.name for entry in _REGISTRY[task_type])
    first = _REGISTRY[task_type][0]
    fixed = tuple(first.param(name) for name in _FIXED_IN_SEARCH.get(task_type, ()))
    return Algorithm("auto", _AUTO, hp.auto(names, fixed))


ALGORITHMS: dict[str, tuple[str, ...]] = {
    task: (*(algorithm.name for algorithm in algorithms), "auto")
    for task, algorithms in _REGISTRY.items()
}


def definition(task_type: str, name: str) -> Algorithm:
    """The definition of `name` for `task_type`; InvalidParameters when there is none."""
    if task_type not in _REGISTRY:
        tasks = ", ".join(_REGISTRY)
        raise InvalidParameters(
            [
                {
                    "loc": ["task_type"],
                    "type": "unknown",
                    "msg": f"unknown task type {task_type!r}; one of {tasks}",
                }
            ]
        )
    if name == "auto":
        return _auto(task_type)
    for candidate in _REGISTRY[task_type]:
        if candidate.name == name:
            return candidate
    known = ", ".join(ALGORITHMS[task_type])
    raise InvalidParameters(
        [
            {
                "loc": ["algorithm"],
                "type": "unknown",
                "msg": f"unknown algorithm {name!r} for {task_type}; one of {known}",
            }
        ]
    )


def fixed_in_search(task_type: str) -> tuple[str, ...]:
    return _FIXED_IN_SEARCH.get(task_type, ())


def validate_parameters(task_type: str, algorithm: str, parameters: dict) -> dict:
    """The parameters under their canonical names (defaults not filled in), or InvalidParameters
    listing every fault: an unknown name, a name given twice (alias and canonical), a wrong type
    or a value out of range."""
    spec = definition(task_type, algorithm)
    if not isinstance(parameters, dict):
        raise InvalidParameters(
            [{"loc": ["parameters"], "type": "type_error", "msg": "parameters must be an object"}]
        )
    by_name: dict[str, Param] = {}
    for param in spec.params:
        by_name[param.name] = param
        for alias in param.all_aliases:
            by_name[alias] = param
    errors: list[dict[str, Any]] = []
    given: dict[str, str] = {}
    result: dict[str, Any] = {}
    for key, value in parameters.items():
        param = by_name.get(key) if isinstance(key, str) else None
        if param is None:
            known = ", ".join(p.name for p in spec.params) or "none"
            errors.append(
                {
                    "loc": ["parameters", key],
                    "type": "unknown",
                    "msg": f"unknown parameter {key!r} for {algorithm}; known: {known}",
                }
            )
            continue
        if param.name in given:
            errors.append(
                {
                    "loc": ["parameters", key],
                    "type": "duplicate",
                    "msg": f"{key!r} and {given[param.name]!r} name the same "
                    f"parameter {param.name!r}",
                }
            )
            continue
        given[param.name] = key
        checked, message, kind = param.check(value)
        if message:
            errors.append({"loc": ["parameters", key], "type": kind, "msg": message})
        else:
            result[param.name] = checked
    if (
        task_type == "recommendation"
        and result.get("user_column") is not None
        and result.get("user_column") == result.get("item_column")
    ):
        errors.append(
            {
                "loc": ["parameters", given["item_column"]],
                "type": "value_error",
                "msg": "item_column cannot be the user column",
            }
        )
    if errors:
        raise InvalidParameters(errors)
    return result


def with_defaults(task_type: str, algorithm: str, parameters: dict) -> dict[str, Any]:
    """Every parameter of the algorithm: those given (validated) and the defaults of the rest."""
    given = validate_parameters(task_type, algorithm, parameters)
    return {
        p.name: given.get(p.name, list(p.default) if isinstance(p.default, tuple) else p.default)
        for p in definition(task_type, algorithm).params
    }


def algorithm_schemas() -> dict:
    """Every task's algorithms and hyperparameters, JSON-able (GET /api/algorithms)."""
    return {
        task: [
            {
                "name": entry.name,
                "description": entry.description,
                "parameters": [param.schema() for param in entry.params],
            }
            for entry in (*_REGISTRY[task], _auto(task))
        ]
        for task in _REGISTRY
    }
