"""Each step type's `config`: what it accepts (camelCase or snake_case keys) and the normalised,
snake_case form stored in the spec. Checks that need the other steps or the scenario are in
`spec`; these look at one step's config alone."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from mloop_common.messages.commands import Evaluation, Resources
from mloop_common.workflows import expressions
from mloop_common.workflows.checks import Checker, describe
from mloop_common.workflows.source import child

IMPUTE_STRATEGIES = ("mean", "median", "mode")
MAX_COLUMN_NAME = 1024
MAX_ITEMS = 500
MAX_MESSAGE = 2000

# -- data_preprocessing ------------------------------------------------------------------------

PREPROCESSING = {
    "input_path": "data path read",
    "output_path": "data path written",
    "select": "columns kept",
    "filter": "rows kept",
    "impute": "missing values filled",
    "derive": "columns computed",
}
_PREDICT_REFUSED = {
    "input_path": "a predict workflow transforms the records sent for prediction; it reads no "
    "data path",
    "output_path": "a predict workflow transforms the records sent for prediction; it writes no "
    "data path",
    "filter": "a predict workflow cannot filter: every record sent must get its prediction",
}


def data_preprocessing(c: Checker, path: str, raw: Any, *, kind: str) -> dict[str, Any]:
    refused = _PREDICT_REFUSED if kind == "predict" else None
    given = c.fields(path, raw, PREPROCESSING, refused=refused)
    config: dict[str, Any] = {
        "input_path": None,
        "output_path": None,
        "select": None,
        "filter": None,
        "impute": {},
        "derive": {},
    }
    for name in ("input_path", "output_path"):
        if name in given:
            value, here = given[name]
            config[name] = _path(c, here, value)
    if kind == "train" and "output_path" not in given and isinstance(raw, dict):
        c.add(path, "a data_preprocessing step needs outputPath: the data path it writes")
    if "select" in given:
        value, here = given["select"]
        config["select"] = _column_list(c, here, value, "select")
    if "filter" in given:
        value, here = given["filter"]
        if c.expression(here, value, "filter") is not None:
            config["filter"] = value
    if "impute" in given:
        value, here = given["impute"]
        config["impute"] = _impute(c, here, value)
    if "derive" in given:
        value, here = given["derive"]
        config["derive"] = _derive(c, here, value)
    return config


def _path(c: Checker, here: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        c.add(here, f"must be a data path (a non-empty string), not {describe(value)}")
        return None
    if len(value) > 512:
        c.add(here, "a data path has at most 512 characters")
        return None
    return value


def _column_name(c: Checker, here: str, value: Any, *, key: bool = False) -> bool:
    if not isinstance(value, str) or not value:
        c.add(here, f"a column name must be a non-empty string, not {describe(value)}", key=key)
        return False
    if len(value) > MAX_COLUMN_NAME:
        c.add(here, f"a column name has at most {MAX_COLUMN_NAME} characters", key=key)
        return False
    return True


def _column_list(c: Checker, here: str, value: Any, what: str) -> list[str] | None:
    if not isinstance(value, list) or not value:
        c.add(here, f"{what} must be a non-empty list of column names, not {describe(value)}")
        return None
    if len(value) > MAX_ITEMS:
        c.add(here, f"{what} lists at most {MAX_ITEMS} columns")
        return None
    names: list[str] = []
    for i, item in enumerate(value):
        if not _column_name(c, child(here, i), item):
            continue
        if item in names:
            c.add(child(here, i), f"the column {item!r} is listed twice")
            continue
        names.append(item)
    return names


def _mapping(c: Checker, here: str, value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        c.add(here, f"{what} must be a non-empty mapping of column names, not {describe(value)}")
        return {}
    if len(value) > MAX_ITEMS:
        c.add(here, f"{what} names at most {MAX_ITEMS} columns")
        return {}
    return value


def _impute(c: Checker, here: str, value: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for column, how in _mapping(c, here, value, "impute").items():
        at = child(here, column)
        if not _column_name(c, at, column, key=True):
            continue
        if isinstance(how, str) or isinstance(how, bool) or how is None:
            ok = how is not None
        else:
            ok = isinstance(how, (int, float)) and math.isfinite(how)
        if not ok:
            c.add(
                at,
                "impute with mean, median, mode or a constant (a number, a string or "
                f"true/false), not {describe(how)}",
            )
            continue
        result[column] = how
    return result


def _derive(c: Checker, here: str, value: Any) -> dict[str, str]:
    result: dict[str, str] = {}
    for column, text in _mapping(c, here, value, "derive").items():
        at = child(here, column)
        if _column_name(c, at, column, key=True) and c.expression(at, text, "derive") is not None:
            result[column] = text
    return result


# -- model_training ----------------------------------------------------------------------------

TRAINING = {
    "algorithm": "algorithm name, or auto",
    "parameters": "hyperparameters",
    "target": "target column",
    "features": "feature columns",
    "data_path": "data path trained on",
    "resources": "limits of the run",
    "evaluation": "split and metric",
}


def model_training(c: Checker, path: str, raw: Any) -> dict[str, Any]:
    given = c.fields(path, raw, TRAINING)
    config: dict[str, Any] = {
        "algorithm": "auto",
        "parameters": {},
        "target": None,
        "features": None,
        "data_path": None,
        "resources": None,
        "evaluation": None,
    }
    if "algorithm" in given:
        value, here = given["algorithm"]
        if isinstance(value, str) and 0 < len(value) <= 64:
            config["algorithm"] = value
        else:
            c.add(here, f"algorithm must be an algorithm's name, not {describe(value)}")
    if "parameters" in given:
        value, here = given["parameters"]
        if isinstance(value, dict) and len(value) <= 100:
            config["parameters"] = value
        else:
            c.add(here, f"parameters must be a mapping of hyperparameters, not {describe(value)}")
    if "target" in given:
        value, here = given["target"]
        if value is not None and _column_name(c, here, value):
            config["target"] = value
    if "features" in given:
        value, here = given["features"]
        config["features"] = _column_list(c, here, value, "features")
    if "data_path" in given:
        value, here = given["data_path"]
        config["data_path"] = _path(c, here, value)
    for name, model in (("resources", Resources), ("evaluation", Evaluation)):
        if name in given:
            value, here = given[name]
            config[name] = _model(c, here, value, model)
    return config


def _model(c: Checker, here: str, value: Any, model: type[BaseModel]) -> dict[str, Any] | None:
    known = {name: field.description or name for name, field in model.model_fields.items()}
    given = c.fields(here, value, known)
    try:
        return model.model_validate({name: v for name, (v, _) in given.items()}).model_dump()
    except ValidationError as error:
        for fault in error.errors():
            name = str(fault["loc"][0]) if fault["loc"] else ""
            c.add(given[name][1] if name in given else here, fault["msg"])
        return None


# -- evaluation --------------------------------------------------------------------------------

GATE_OPERATORS = (">=", ">", "<=", "<", "==", "!=")
_FLIPPED = {">=": "<=", ">": "<", "<=": ">=", "<": ">", "==": "==", "!=": "!="}


def evaluation(c: Checker, path: str, raw: Any) -> dict[str, Any]:
    given = c.fields(path, raw, {"gates": "conditions on the candidate's metrics"})
    gates: list[dict[str, Any]] = []
    if "gates" not in given:
        if isinstance(raw, dict) or raw is None:
            c.add(path, 'an evaluation step needs gates, e.g. ["accuracy >= 0.8"]')
        return {"gates": gates}
    value, here = given["gates"]
    if not isinstance(value, list) or not value:
        c.add(here, f"gates must be a non-empty list, not {describe(value)}")
        return {"gates": gates}
    for i, item in enumerate(value[:MAX_ITEMS]):
        gate = _gate(c, child(here, i), item)
        if gate is not None:
            gates.append(gate)
    return {"gates": gates}


def _gate(c: Checker, here: str, item: Any) -> dict[str, Any] | None:
    if isinstance(item, dict):
        fields = c.fields(here, item, {"metric": "", "op": "", "value": ""})
        missing = [name for name in ("metric", "op", "value") if name not in fields]
        if missing:
            c.add(here, f"a gate needs metric, op and value; missing: {', '.join(missing)}")
            return None
        metric, metric_at = fields["metric"]
        op, op_at = fields["op"]
        number, number_at = fields["value"]
        ok = True
        if not isinstance(metric, str) or not metric:
            c.add(metric_at, f"metric must be a metric's name, not {describe(metric)}")
            ok = False
        if op not in GATE_OPERATORS:
            c.add(op_at, f"op must be one of {', '.join(GATE_OPERATORS)}, not {describe(op)}")
            ok = False
        if not _number(number):
            c.add(number_at, f"value must be a number, not {describe(number)}")
            ok = False
        return {"metric": metric, "op": op, "value": float(number)} if ok else None
    parsed = c.expression(here, item, "gate")
    if parsed is None:
        return None
    tree = parsed.tree
    if isinstance(tree, expressions.Binary) and tree.op in GATE_OPERATORS:
        left, right = _gate_side(tree.left), _gate_side(tree.right)
        if isinstance(left, str) and isinstance(right, float):
            return {"metric": left, "op": tree.op, "value": right}
        if isinstance(left, float) and isinstance(right, str):
            return {"metric": right, "op": _FLIPPED[tree.op], "value": left}
    c.add(here, 'a gate compares one metric with a number, e.g. "accuracy >= 0.8"')
    return None


def _gate_side(node: expressions.Node) -> str | float | None:
    if isinstance(node, expressions.Column):
        return node.name
    if isinstance(node, expressions.Literal) and _number(node.value):
        return float(node.value)
    if isinstance(node, expressions.Unary) and node.op in "-+":
        inner = _gate_side(node.operand)
        if isinstance(inner, float):
            return -inner if node.op == "-" else inner
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- deployment --------------------------------------------------------------------------------

DEPLOYMENT_WHEN = ("gates", "always")
DEPLOYMENT_POLICIES = ("auto", "manual")


def deployment(c: Checker, path: str, raw: Any) -> dict[str, Any]:
    given = c.fields(path, raw, {"when": "gates or always", "policy": "auto or manual"})
    config = {"when": "gates", "policy": "auto"}
    for name, choices in (("when", DEPLOYMENT_WHEN), ("policy", DEPLOYMENT_POLICIES)):
        if name in given:
            value, here = given[name]
            if value in choices:
                config[name] = value
            else:
                c.add(here, f"{name} must be one of {', '.join(choices)}, not {describe(value)}")
    return config


# -- notification ------------------------------------------------------------------------------


def notification(c: Checker, path: str, raw: Any) -> dict[str, Any]:
    given = c.fields(
        path, raw, {"url": "webhook URL", "events": "what to notify", "message": "text sent"}
    )
    config: dict[str, Any] = {"url": None, "events": None, "message": None}
    if "url" not in given:
        if isinstance(raw, dict) or raw is None:
            c.add(path, "a notification step needs url: the webhook to call")
    else:
        value, here = given["url"]
        if _url(value):
            config["url"] = value
        else:
            c.add(here, f"url must be an http or https URL, not {describe(value)}")
    if "events" in given:
        value, here = given["events"]
        if (
            isinstance(value, list)
            and value
            and len(value) <= 50
            and all(isinstance(item, str) and 0 < len(item) <= 64 for item in value)
        ):
            config["events"] = value
        else:
            c.add(here, "events must be a non-empty list of event names")
    if "message" in given:
        value, here = given["message"]
        if isinstance(value, str) and len(value) <= MAX_MESSAGE:
            config["message"] = value
        else:
            c.add(here, f"message must be a string of at most {MAX_MESSAGE} characters")
    return config


def _url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


VALIDATORS = {
    "model_training": model_training,
    "evaluation": evaluation,
    "deployment": deployment,
    "notification": notification,
}
