"""Workflow definitions: YAML in, a validated `WorkflowSpec` out, or every fault with its place.

    steps:
      - name: preprocess
        type: data_preprocessing
        config: {inputPath: data/raw.csv, outputPath: data/processed.csv}
      - name: train
        type: model_training
        needs: [preprocess]
        config: {algorithm: lightgbm, parameters: {learningRate: 0.1, numLeaves: 31}}

`parse(kind, text)` checks the structure, each step's config (`steps`), the `needs` graph
(unknown names, cycles, reported with the cycle's path) and how the steps fit together. Given the
scenario's facts (`ScenarioFacts`), it also checks data paths, columns, the algorithm and its
hyperparameters, and gate metrics against the scenario. The spec stored and read by the scheduler
is `to_json()`: `{"steps": [{"name", "type", "needs", "retries", "config"}]}` with the steps in a
topological order and every config normalised to snake_case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mloop_common.ml import metrics
from mloop_common.ml.algorithms import ALGORITHMS, InvalidParameters, validate_parameters
from mloop_common.workflows import expressions, steps
from mloop_common.workflows.checks import Checker, describe, snake
from mloop_common.workflows.errors import WorkflowError
from mloop_common.workflows.source import Source, child, load

Kind = Literal["train", "predict"]
KINDS: tuple[str, ...] = ("train", "predict")
STEP_TYPES: tuple[str, ...] = (
    "data_preprocessing",
    "model_training",
    "evaluation",
    "deployment",
    "notification",
)
MAX_STEPS = 50
MAX_RETRIES = 10
STEP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
STEP_KEYS = ("name", "type", "needs", "retries", "config", "description")


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    needs: tuple[str, ...]
    retries: int
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "needs": list(self.needs),
            "retries": self.retries,
            "config": self.config,
        }


@dataclass(frozen=True)
class WorkflowSpec:
    kind: str
    steps: tuple[Step, ...]
    """In a topological order: every step after the steps it needs."""

    def to_json(self) -> dict[str, Any]:
        return {"steps": [step.to_json() for step in self.steps]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str, *, kind: str = "train") -> WorkflowSpec:
        if isinstance(data, str):
            data = json.loads(data)
        return cls(
            kind=kind,
            steps=tuple(
                Step(
                    name=item["name"],
                    type=item["type"],
                    needs=tuple(item.get("needs", ())),
                    retries=int(item.get("retries", 0)),
                    config=dict(item.get("config", {})),
                )
                for item in data["steps"]
            ),
        )

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)

    def ancestors(self, name: str) -> list[str]:
        """Every step `name` needs, directly or not, in the spec's order."""
        found: set[str] = set()
        stack = list(self.step(name).needs)
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(self.step(current).needs)
        return [step.name for step in self.steps if step.name in found]

    def dependents(self, name: str) -> list[str]:
        """Every step that needs `name`, directly or not, in the spec's order."""
        return [step.name for step in self.steps if name in self.ancestors(step.name)]

    def summary(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "type": s.type, "needs": list(s.needs)} for s in self.steps]


@dataclass(frozen=True)
class ScenarioFacts:
    """What the scenario offers a workflow: its task, its data paths with the columns of each
    one's latest version, and its default data path and target."""

    task_type: str
    data_paths: Mapping[str, Sequence[str]] = field(default_factory=dict)
    default_data_path: str | None = None
    default_target: str | None = None
    clean_path: Callable[[str], str] | None = None
    """Refuses (ValueError) a data path that could name a place outside the scenario."""


def parse(
    kind: str, text: str, *, facts: ScenarioFacts | None = None, default_retries: int = 1
) -> WorkflowSpec:
    """The validated spec of a `kind` ("train" or "predict") workflow written in YAML `text`;
    WorkflowError listing every problem (path, line, column, message) otherwise."""
    if kind not in KINDS:
        raise ValueError(f"kind must be train or predict, not {kind!r}")
    source = load(text)
    c = Checker(source)
    parsed = _structure(c, kind, source.data, default_retries)
    names = {step.name for step, _ in parsed}
    if parsed and all(need in names for step, _ in parsed for need in step.needs):
        ordered = _ordered(c, parsed)
        if ordered is not None:
            spec = WorkflowSpec(kind=kind, steps=tuple(step for step, _ in ordered))
            _fit(c, spec, {step.name: at for step, at in ordered}, facts)
            if not c.problems:
                return spec
    if not c.problems:  # steps refused for a reason already reported cannot get here
        c.add("steps", "the workflow has no usable step")
    raise WorkflowError(c.problems)


# -- structure ---------------------------------------------------------------------------------


def _structure(c: Checker, kind: str, data: Any, default_retries: int) -> list[tuple[Step, str]]:
    if not isinstance(data, dict):
        c.add("", f"a workflow is a mapping with `steps`, not {describe(data)}")
        return []
    for key in data:
        if key not in ("steps", "description"):
            c.add(
                str(key), f"unknown key {key!r}; a workflow has steps (and a description)", key=True
            )
    if "description" in data and not isinstance(data["description"], (str, type(None))):
        c.add("description", "description must be a string")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        c.add("steps", "steps must be a non-empty list of steps")
        return []
    if len(raw_steps) > MAX_STEPS:
        c.add("steps", f"a workflow has at most {MAX_STEPS} steps")
        return []
    parsed: list[tuple[Step, str]] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(raw_steps):
        path = child("steps", i)
        step = _step(c, kind, path, raw, default_retries)
        if step is None:
            continue
        if step.name in names:
            c.add(
                child(path, "name"),
                f"the step name {step.name!r} is used by steps[{names[step.name]}] too",
            )
            continue
        names[step.name] = i
        parsed.append((step, path))
    for step, path in parsed:
        for j, need in enumerate(step.needs):
            if need not in names:
                c.add(
                    child(child(path, "needs"), j),
                    f"unknown step {need!r} in needs; steps: {', '.join(names)}",
                )
    return parsed


def _step(c: Checker, kind: str, path: str, raw: Any, default_retries: int) -> Step | None:
    if not isinstance(raw, dict):
        c.add(path, f"a step is a mapping with name, type and config, not {describe(raw)}")
        return None
    before = len(c.problems)
    for key in raw:
        if key not in STEP_KEYS:
            c.add(
                child(path, key),
                f"unknown key {key!r}; a step has {', '.join(STEP_KEYS)}",
                key=True,
            )
    name = raw.get("name")
    if "name" not in raw:
        c.add(path, "a step needs a name")
    elif not isinstance(name, str) or not STEP_NAME.match(name):
        c.add(
            child(path, "name"),
            "a step name starts with a letter and has at most 64 letters, digits, _ or -",
        )
    type_ = raw.get("type")
    allowed = STEP_TYPES if kind == "train" else ("data_preprocessing",)
    if "type" not in raw:
        c.add(path, f"a step needs a type: one of {', '.join(allowed)}")
    elif type_ not in allowed:
        if kind == "predict" and type_ in STEP_TYPES:
            message = (
                f"a predict workflow has data_preprocessing steps only (applied to the records "
                f"before the model), not {type_}"
            )
        else:
            what = repr(type_) if isinstance(type_, str) else describe(type_)
            message = f"unknown step type {what}; one of {', '.join(allowed)}"
        c.add(child(path, "type"), message)
    needs = _needs(c, child(path, "needs"), raw.get("needs", []))
    retries = raw.get("retries", default_retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        c.add(child(path, "retries"), f"retries must be a whole number from 0 to {MAX_RETRIES}")
    config_path = child(path, "config")
    config: dict[str, Any] = {}
    if type_ == "data_preprocessing":
        config = steps.data_preprocessing(c, config_path, raw.get("config"), kind=kind)
    elif type_ in steps.VALIDATORS:
        config = steps.VALIDATORS[type_](c, config_path, raw.get("config"))
    if len(c.problems) > before:
        # Keep a step with a faulty config for the needs checks, so that one fault does not
        # hide the others; the spec is refused anyway.
        if isinstance(name, str) and STEP_NAME.match(name):
            return Step(name, type_ if type_ in allowed else "", needs, 0, config)
        return None
    return Step(name=name, type=type_, needs=needs, retries=retries, config=config)


def _needs(c: Checker, path: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if value is None:
        return ()
    if not isinstance(value, list):
        c.add(path, f"needs must be a list of step names, not {describe(value)}")
        return ()
    names: list[str] = []
    for j, item in enumerate(value):
        if not isinstance(item, str):
            c.add(child(path, j), f"needs lists step names, not {describe(item)}")
        elif item in names:
            c.add(child(path, j), f"{item!r} is listed twice in needs")
        else:
            names.append(item)
    return tuple(names)


# -- the graph ---------------------------------------------------------------------------------


def _ordered(c: Checker, parsed: list[tuple[Step, str]]) -> list[tuple[Step, str]] | None:
    """The steps in a topological order (ties kept in the written order), or None after
    recording a cycle, at the `needs` entry that closes it."""
    by_name = {step.name: (step, path) for step, path in parsed}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    trail: list[str] = []

    def visit(name: str) -> bool:
        state[name] = 1
        trail.append(name)
        step, path = by_name[name]
        for j, need in enumerate(step.needs):
            if state.get(need) == 1:
                cycle = [*trail[trail.index(need) :], need]
                c.add(
                    child(child(path, "needs"), j),
                    f"the steps form a cycle: {' → '.join(cycle)}",
                )
                return False
            if state.get(need) is None and not visit(need):
                return False
        trail.pop()
        state[name] = 2
        return True

    for step, _ in parsed:
        if state.get(step.name) is None and not visit(step.name):
            return None
    remaining = list(parsed)
    done: set[str] = set()
    ordered: list[tuple[Step, str]] = []
    while remaining:
        for index, (step, path) in enumerate(remaining):
            if all(need in done for need in step.needs):
                ordered.append((step, path))
                done.add(step.name)
                del remaining[index]
                break
    return ordered


# -- how the steps fit together, and with the scenario -----------------------------------------


def _fit(
    c: Checker, spec: WorkflowSpec, paths: dict[str, str], facts: ScenarioFacts | None
) -> None:
    outputs: dict[str, list[str] | None] = {}  # data path written → its columns, when known
    writer: dict[str, str] = {}  # data path written → the step writing it
    for step in spec.steps:
        at = child(paths[step.name], "config")
        before = spec.ancestors(step.name)
        if step.type == "data_preprocessing":
            _fit_preprocessing(c, spec, step, at, before, facts, outputs, writer)
        elif step.type == "model_training":
            _fit_training(c, spec, step, at, before, facts, outputs, writer)
        elif step.type == "evaluation":
            _requires(c, spec, before, "model_training", paths[step.name], "evaluates the model of")
            _fit_gates(c, step, at, facts)
        elif step.type == "deployment":
            _requires(c, spec, before, "model_training", paths[step.name], "deploys the model of")
            if step.config["when"] == "gates":
                _requires(
                    c, spec, before, "evaluation", paths[step.name], "deploys when the gates of"
                )


def _requires(
    c: Checker, spec: WorkflowSpec, before: list[str], type_: str, path: str, what: str
) -> None:
    if not any(spec.step(name).type == type_ for name in before):
        c.add(
            child(path, "needs"),
            f"this step {what} {'an' if type_[0] in 'aeiou' else 'a'} {type_} step: add one to "
            "its needs (directly or not)",
        )


def _columns_of(
    path: str, facts: ScenarioFacts | None, outputs: dict[str, list[str] | None]
) -> list[str] | None:
    if path in outputs:
        return outputs[path]
    if facts is not None and path in facts.data_paths:
        return list(facts.data_paths[path])
    return None


def _fit_preprocessing(
    c: Checker,
    spec: WorkflowSpec,
    step: Step,
    at: str,
    before: list[str],
    facts: ScenarioFacts | None,
    outputs: dict[str, list[str] | None],
    writer: dict[str, str],
) -> None:
    config = step.config
    columns: list[str] | None = None
    if spec.kind == "train":
        for name in ("input_path", "output_path"):
            value = config[name]
            if value is not None and facts is not None and facts.clean_path is not None:
                try:
                    facts.clean_path(value)
                except ValueError as error:
                    c.add(_key(c, at, name), str(error))
                    return
        source = config["input_path"]
        if source is None and facts is not None:
            source = config["input_path"] = facts.default_data_path
            if source is None:
                c.add(at, "the scenario has no default data path: give inputPath")
                return
        if source is not None:
            columns = _input(
                c, spec, step, _key(c, at, "input_path"), source, before, facts, outputs, writer
            )
        output = config["output_path"]
        if output is not None:
            if output == source:
                c.add(_key(c, at, "output_path"), "outputPath must differ from inputPath")
            elif output in writer:
                c.add(_key(c, at, "output_path"), f"step {writer[output]!r} writes {output!r} too")
            writer[output] = step.name
    elif before:
        columns = None  # in a predict workflow, the columns of the records are not known
    known = columns
    for column in config["impute"]:
        if known is not None and column not in known:
            c.add(child(_key(c, at, "impute"), column), f"unknown column {column!r}", key=True)
    for column, text in config["derive"].items():
        c.columns(child(_key(c, at, "derive"), column), expressions.parse(text), known)
        if known is not None:
            known = [*known, column] if column not in known else known
    if config["filter"] is not None:
        c.columns(_key(c, at, "filter"), expressions.parse(config["filter"]), known)
    if config["select"] is not None:
        for i, column in enumerate(config["select"]):
            if known is not None and column not in known:
                c.add(child(_key(c, at, "select"), i), f"unknown column {column!r}")
        known = list(config["select"])
    if spec.kind == "train" and config["output_path"] is not None:
        outputs[config["output_path"]] = known


def _input(
    c: Checker,
    spec: WorkflowSpec,
    step: Step,
    at: str,
    source: str,
    before: list[str],
    facts: ScenarioFacts | None,
    outputs: dict[str, list[str] | None],
    writer: dict[str, str],
) -> list[str] | None:
    if source in writer:
        if writer[source] not in before:
            c.add(at, f"{source!r} is written by step {writer[source]!r}: add it to needs")
        return outputs.get(source)
    later = [
        s.name
        for s in spec.steps
        if s.type == "data_preprocessing" and s.config["output_path"] == source
    ]
    if later:
        c.add(at, f"{source!r} is written by step {later[0]!r}: add it to needs")
        return None
    if facts is not None and source not in facts.data_paths:
        known = ", ".join(sorted(facts.data_paths)) or "none yet"
        c.add(at, f"the scenario has no data path {source!r}; its data paths: {known}")
        return None
    return _columns_of(source, facts, outputs)


def _fit_training(
    c: Checker,
    spec: WorkflowSpec,
    step: Step,
    at: str,
    before: list[str],
    facts: ScenarioFacts | None,
    outputs: dict[str, list[str] | None],
    writer: dict[str, str],
) -> None:
    config = step.config
    data_path = config["data_path"]
    if data_path is None:
        prepared = [name for name in before if spec.step(name).type == "data_preprocessing"]
        if prepared:
            data_path = config["data_path"] = spec.step(prepared[-1]).config["output_path"]
    elif data_path in writer:
        if writer[data_path] not in before:
            c.add(
                _key(c, at, "data_path"),
                f"{data_path!r} is written by step {writer[data_path]!r}: add it to needs",
            )
    elif facts is not None and data_path not in facts.data_paths:
        c.add(_key(c, at, "data_path"), f"the scenario has no data path {data_path!r}")
    if facts is None:
        config["parameters"] = {snake(str(k)): v for k, v in config["parameters"].items()}
        if not any(config["algorithm"] in names for names in ALGORITHMS.values()):
            c.add(_key(c, at, "algorithm"), f"unknown algorithm {config['algorithm']!r}")
        return
    try:
        config["parameters"] = validate_parameters(
            facts.task_type, config["algorithm"], config["parameters"]
        )
    except InvalidParameters as error:
        for fault in error.errors:
            loc = fault["loc"]
            if loc[:1] == ["algorithm"]:
                c.add(_key(c, at, "algorithm"), fault["msg"])
            elif loc[:1] == ["parameters"] and len(loc) > 1:
                c.add(
                    child(_key(c, at, "parameters"), loc[1]),
                    fault["msg"],
                    key=fault["type"] == "unknown",
                )
            else:
                c.add(at, fault["msg"])
    columns = _columns_of(data_path or facts.default_data_path or "", facts, outputs)
    if columns is not None:
        if config["target"] is not None and config["target"] not in columns:
            c.add(_key(c, at, "target"), f"unknown column {config['target']!r}")
        for i, name in enumerate(config["features"] or ()):
            if name not in columns:
                c.add(child(_key(c, at, "features"), i), f"unknown column {name!r}")


def _fit_gates(c: Checker, step: Step, at: str, facts: ScenarioFacts | None) -> None:
    if facts is None:
        return
    known = metrics.task_metrics(facts.task_type)
    for i, gate in enumerate(step.config["gates"]):
        if gate["metric"] not in known:
            c.add(
                child(_key(c, at, "gates"), i),
                f"unknown metric {gate['metric']!r} for {facts.task_type}; "
                f"one of {', '.join(known)}",
            )


def _key(c: Checker, at: str, name: str) -> str:
    """The path of config entry `name` as written (camelCase or snake_case)."""
    for written in (name, _camel(name)):
        if child(at, written) in c.source.nodes:
            return child(at, written)
    return child(at, _camel(name))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


__all__ = [
    "KINDS",
    "STEP_TYPES",
    "ScenarioFacts",
    "Source",
    "Step",
    "WorkflowError",
    "WorkflowSpec",
    "parse",
]
