"""Algorithm registry, hyperparameter checks and schemas (`mloop_common.ml.algorithms`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mloop_common.ml.algorithms import (
    ALGORITHMS,
    algorithm_schemas,
    validate_parameters,
    with_defaults,
)
from mloop_common.ml.metrics import default_metric, higher_is_better, task_metrics
from mloop_common.ml.parameters import InvalidParameters
from mloop_common.tasks import TASK_TYPES

EVERY_ALGORITHM = [(task, name) for task in TASK_TYPES for name in ALGORITHMS[task]]


def refused(task: str, algorithm: str, parameters: dict) -> list[dict]:
    with pytest.raises(InvalidParameters) as caught:
        validate_parameters(task, algorithm, parameters)
    return caught.value.errors


def test_every_task_has_algorithms_and_auto() -> None:
    assert set(ALGORITHMS) == set(TASK_TYPES)
    for task in TASK_TYPES:
        assert ALGORITHMS[task][-1] == "auto"
        assert len(ALGORITHMS[task]) >= 2


def test_camel_case_aliases_map_to_canonical_names() -> None:
    given = {
        "learningRate": 0.05,
        "numLeaves": 15,
        "nEstimators": 50,
        "maxDepth": 5,
        "minChildSamples": 3,
        "regAlpha": 0.1,
        "colsampleBytree": 0.8,
    }
    assert validate_parameters("classification", "lightgbm", given) == {
        "learning_rate": 0.05,
        "num_leaves": 15,
        "n_estimators": 50,
        "max_depth": 5,
        "min_child_samples": 3,
        "reg_alpha": 0.1,
        "colsample_bytree": 0.8,
    }
    assert validate_parameters("regression", "auto", {"timeBudget": 5, "maxTrials": 3}) == {
        "time_budget": 5.0,
        "max_trials": 3,
    }
    assert validate_parameters("text_classification", "linear_svm", {"ngramMax": 1}) == {
        "ngram_max": 1
    }


def test_canonical_names_pass_and_defaults_are_not_filled_in() -> None:
    assert validate_parameters("regression", "linear_regression", {"alpha": 2}) == {"alpha": 2.0}
    assert validate_parameters("regression", "linear_regression", {}) == {}


def test_unknown_parameter_is_refused_naming_it() -> None:
    [error] = refused("classification", "lightgbm", {"learningRate": 0.1, "colour": "red"})
    assert error["loc"] == ["parameters", "colour"]
    assert error["type"] == "unknown"
    assert "colour" in error["msg"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("numLeaves", True),  # a boolean is not an integer
        ("learningRate", "0.1"),  # a string is not a number
        ("n_estimators", 10.5),  # a fraction is not an integer
        ("max_features", 3),  # a number is not one of the choices' strings
        ("max_depth", [3]),
    ],
)
def test_wrong_type_is_refused_naming_the_field(name: str, value: object) -> None:
    algorithm = "random_forest" if name in ("max_features", "max_depth") else "lightgbm"
    [error] = refused("classification", algorithm, {name: value})
    assert error["loc"] == ["parameters", name]
    assert error["type"] == "type_error"


def test_integral_float_is_an_integer() -> None:
    assert validate_parameters("classification", "lightgbm", {"num_leaves": 16.0}) == {
        "num_leaves": 16
    }


@pytest.mark.parametrize(
    ("task", "algorithm", "name", "value"),
    [
        ("classification", "lightgbm", "learning_rate", 2.0),
        ("classification", "lightgbm", "numLeaves", 1),
        ("classification", "random_forest", "max_features", "most"),
        ("anomaly_detection", "isolation_forest", "contamination", 0.9),
        ("forecasting", "lightgbm", "lags", [0, 7]),
        ("forecasting", "lightgbm", "horizon", 0),
        ("recommendation", "auto", "maxTrials", 0),
    ],
)
def test_out_of_range_value_is_refused_naming_the_field(
    task: str, algorithm: str, name: str, value: object
) -> None:
    [error] = refused(task, algorithm, {name: value})
    assert error["loc"] == ["parameters", name]
    assert error["type"] == "value_error"


def test_alias_and_canonical_name_together_are_a_duplicate() -> None:
    [error] = refused("regression", "lightgbm", {"learning_rate": 0.1, "learningRate": 0.2})
    assert error["loc"] == ["parameters", "learningRate"]
    assert error["type"] == "duplicate"
    assert "learning_rate" in error["msg"]


def test_every_fault_is_reported_at_once() -> None:
    errors = refused("classification", "lightgbm", {"foo": 1, "numLeaves": "8", "eta": 9.0})
    assert sorted(error["loc"][1] for error in errors) == ["eta", "foo", "numLeaves"]


def test_unknown_algorithm_is_refused_on_the_algorithm_field() -> None:
    [error] = refused("classification", "xgboost", {})
    assert error["loc"] == ["algorithm"]
    [error] = refused("regression", "logistic_regression", {})
    assert error["loc"] == ["algorithm"]


def test_parameters_must_be_an_object() -> None:
    [error] = refused("classification", "lightgbm", [1, 2])  # type: ignore[arg-type]
    assert error["loc"] == ["parameters"]


def test_list_parameters_take_one_value_or_a_list() -> None:
    assert validate_parameters("forecasting", "lightgbm", {"lags": [7, 1, 7]}) == {"lags": [1, 7]}
    assert validate_parameters("forecasting", "lightgbm", {"windows": 3}) == {"windows": 3}
    [error] = refused("forecasting", "lightgbm", {"lags": []})
    assert error["loc"] == ["parameters", "lags"]
    assert validate_parameters("classification", "auto", {"algorithms": ["lightgbm"]}) == {
        "algorithms": ["lightgbm"]
    }
    [error] = refused("classification", "auto", {"algorithms": ["lightgbm", "svm"]})
    assert error["loc"] == ["parameters", "algorithms"]


def test_user_and_item_columns_must_differ() -> None:
    [error] = refused(
        "recommendation", "matrix_factorization", {"userColumn": "u", "itemColumn": "u"}
    )
    assert error["loc"] == ["parameters", "itemColumn"]


def test_every_algorithm_of_every_task_has_a_schema() -> None:
    schemas = algorithm_schemas()
    assert set(schemas) == set(TASK_TYPES)
    for task in TASK_TYPES:
        assert [entry["name"] for entry in schemas[task]] == list(ALGORITHMS[task])
        for entry in schemas[task]:
            assert entry["description"]
            assert entry["parameters"], f"{task}/{entry['name']} has no parameters"


@pytest.mark.parametrize(("task", "algorithm"), EVERY_ALGORITHM)
def test_defaults_validate(task: str, algorithm: str) -> None:
    schema = next(e for e in algorithm_schemas()[task] if e["name"] == algorithm)
    defaults = {param["name"]: param["default"] for param in schema["parameters"]}
    assert validate_parameters(task, algorithm, defaults) == defaults
    assert with_defaults(task, algorithm, {}) == defaults


@pytest.mark.parametrize(("task", "algorithm"), EVERY_ALGORITHM)
def test_search_ranges_are_inside_the_accepted_ranges(task: str, algorithm: str) -> None:
    schema = next(e for e in algorithm_schemas()[task] if e["name"] == algorithm)
    for param in schema["parameters"]:
        search = param["search"]
        if search is None:
            continue
        if "choices" in search:
            allowed = {False, True} if param["type"] == "boolean" else set(param["choices"])
            assert set(search["choices"]) <= allowed
            continue
        for bound in (search["minimum"], search["maximum"]):
            validate_parameters(task, algorithm, {param["name"]: bound})
        if param["log"]:
            assert search["minimum"] > 0


def test_schemas_are_json_and_list_aliases() -> None:
    schemas = json.loads(json.dumps(algorithm_schemas()))
    lightgbm = next(e for e in schemas["classification"] if e["name"] == "lightgbm")
    by_name = {param["name"]: param for param in lightgbm["parameters"]}
    assert "learningRate" in by_name["learning_rate"]["aliases"]
    assert "minChildSamples" in by_name["min_child_samples"]["aliases"]
    assert by_name["learning_rate"]["type"] == "number"
    assert by_name["learning_rate"]["log"] is True
    assert by_name["num_leaves"]["minimum"] == 2
    keys = {"name", "aliases", "type", "default", "minimum", "maximum", "choices", "log"}
    for task_schemas in schemas.values():
        for entry in task_schemas:
            for param in entry["parameters"]:
                assert keys <= set(param)
                assert param["type"] in ("integer", "number", "boolean", "string")
                aliases = {alias for other in entry["parameters"] for alias in other["aliases"]}
                assert param["name"] not in aliases
    auto = next(e for e in schemas["forecasting"] if e["name"] == "auto")
    assert {"time_budget", "max_trials", "algorithms", "horizon"} <= {
        param["name"] for param in auto["parameters"]
    }


def test_metrics_per_task_have_a_default_and_a_direction() -> None:
    for task in TASK_TYPES:
        assert default_metric(task) in task_metrics(task)
    assert default_metric("classification") == "f1_weighted"
    assert default_metric("regression") == "rmse"
    assert default_metric("anomaly_detection") == "roc_auc"
    assert default_metric("anomaly_detection", labelled=False) == "separation"
    assert default_metric("forecasting") == "rmse"
    assert default_metric("recommendation") == "ndcg_at_k"
    assert higher_is_better("f1_weighted") and higher_is_better("ndcg_at_k")
    assert not higher_is_better("rmse") and not higher_is_better("log_loss")
    assert not higher_is_better("cv_mape_mean") and higher_is_better("cv_accuracy_mean")


def test_validating_and_comparing_do_not_load_the_ml_libraries() -> None:
    code = (
        "import sys\n"
        "from mloop_common.ml.algorithms import algorithm_schemas, validate_parameters\n"
        "from mloop_common.ml.metrics import higher_is_better\n"
        "validate_parameters('regression', 'lightgbm', {'learningRate': 0.1})\n"
        "algorithm_schemas(); higher_is_better('rmse')\n"
        "heavy = {'sklearn', 'lightgbm', 'optuna', 'pandas'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
