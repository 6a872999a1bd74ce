"""A scenario's predict workflow as the predictor applies it (pure: pandas, no I/O).

The predict workflow (`mloop_common.workflows.spec`, kind "predict") holds data_preprocessing
steps only, in a topological order of their `needs`; each step's recipe runs impute, then
derive, then select (`mloop_common.workflows.recipe`); a predict workflow never filters: every
record sent keeps its place and gets its prediction.

`PredictTransform.records` transforms the records of one online request, `frame` one chunk of
a batch input. The columns a workflow reads from the records (`inputs`: read by an impute, a
derive expression or a select before any step produced them) are checked first, record by
record, so a record lacking one is refused with its position, the column and the step reading
it. A transform that fails on the records together is retried record by record to name the
records at fault. A transformed record keeps its own keys and the derived columns only (a key
another record had is not added as null), so the model's signature check still tells a missing
column from an explicit null.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from mloop_common.workflows import expressions, recipe


class TransformFailed(ValueError):
    """Records the workflow cannot transform: `errors` as {record, field, message}."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e["message"]) for e in errors[:3]))
        self.errors = errors


class TransformBroken(ValueError):
    """The stored workflow cannot be applied at all (refused when it was loaded)."""


@dataclass(frozen=True)
class Input:
    """A column the workflow reads from the records, and the first step reading it."""

    column: str
    step: str


@dataclass
class PredictTransform:
    """The data_preprocessing steps of one predict workflow version, ready to apply."""

    workflow_id: uuid.UUID
    version: int
    steps: list[tuple[str, dict[str, Any]]]
    """(step name, normalised recipe) in the order they run."""
    broken: str | None = None
    """Why the workflow cannot be applied (checked once, at load); None when it can."""
    inputs: list[Input] = field(init=False)
    derived: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.inputs, self.derived = [], frozenset()
        if self.broken is not None:
            return
        try:
            for name, config in self.steps:
                recipe.check(config)
                if config.get("filter"):
                    raise recipe.RecipeError(
                        f"step {name!r} filters: a predict workflow cannot filter records"
                    )
                if config.get("input_path") or config.get("output_path"):
                    raise recipe.RecipeError(f"step {name!r} names a data path")
            self.inputs, self.derived = _inputs(self.steps)
        except recipe.RecipeError as error:
            self.broken = str(error)

    @classmethod
    def from_spec(
        cls, workflow_id: uuid.UUID, version: int, spec: Mapping[str, Any]
    ) -> PredictTransform:
        """From a stored spec (`WorkflowSpec.to_json()`); a spec that cannot apply gives a
        transform whose `broken` says why (it refuses every use)."""
        try:
            steps = [
                (str(step["name"]), dict(step.get("config") or {}))
                for step in spec["steps"]
                if step.get("type") == "data_preprocessing"
            ]
            others = [step.get("type") for step in spec["steps"]]
        except (KeyError, TypeError, AttributeError) as error:
            return cls(workflow_id, version, [], broken=f"the stored spec is unreadable: {error}")
        if any(kind != "data_preprocessing" for kind in others):
            return cls(
                workflow_id, version, [], broken="a predict workflow step is not data_preprocessing"
            )
        return cls(workflow_id, version, steps)

    def describe(self) -> dict[str, Any]:
        return {
            "workflow_id": str(self.workflow_id),
            "version": self.version,
            "steps": [name for name, _ in self.steps],
            "reads": [item.column for item in self.inputs],
            "derives": sorted(self.derived),
            "broken": self.broken,
        }

    # -- online --------------------------------------------------------------------------------

    def records(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """The records transformed, in their order. TransformFailed naming each record at fault
        (not an object, a column the workflow reads is absent, a value it cannot compute with);
        TransformBroken when the workflow cannot apply at all."""
        self._usable()
        errors = self._check(records)
        if errors:
            raise TransformFailed(errors)
        try:
            frame = self._apply(_frame(records))
        except recipe.RecipeError as error:
            raise TransformFailed(self._culprits(records, str(error))) from None
        return _records(frame, records, self.derived)

    def _check(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        for position, record in enumerate(records):
            if type(record) is not dict:
                errors.append(_error(position, None, "a record must be an object"))
                continue
            for item in self.inputs:
                if item.column not in record:
                    errors.append(
                        _error(
                            position,
                            item.column,
                            f"missing column: step {item.step!r} of the predict workflow reads it",
                        )
                    )
        return errors

    def _culprits(self, records: Sequence[dict[str, Any]], together: str) -> list[dict]:
        """The records that fail alone (with their reasons), or the failure of all of them
        together when each record alone transforms."""
        errors = []
        if len(records) > 1:
            for position, record in enumerate(records):
                try:
                    self._apply(_frame([record]))
                except recipe.RecipeError as error:
                    errors.append(_error(position, None, f"predict workflow: {error}"))
        if not errors:
            for position in range(len(records)):
                errors.append(_error(position, None, f"predict workflow: {together}"))
        return errors

    # -- batch ---------------------------------------------------------------------------------

    def missing(self, columns: Iterable[str]) -> list[Input]:
        """The inputs the workflow reads that `columns` lack."""
        present = set(columns)
        return [item for item in self.inputs if item.column not in present]

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A new frame: `frame` transformed. RecipeError when the workflow cannot apply to it
        (an absent column, a type that does not fit); TransformBroken as for `records`."""
        self._usable()
        lacking = self.missing(frame.columns)
        if lacking:
            raise recipe.RecipeError(_lacking(lacking))
        return self._apply(frame)

    # -- both ----------------------------------------------------------------------------------

    def _usable(self) -> None:
        if self.broken is not None:
            raise TransformBroken(
                f"the scenario's predict workflow (version {self.version}) cannot be applied: "
                f"{self.broken}"
            )

    def _apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        for _, config in self.steps:
            frame = recipe.apply(frame, config)
        return frame


def _inputs(steps: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[list[Input], frozenset[str]]:
    """The columns the steps read from their input (in order of first reading) and the columns
    they derive. A column read after a select dropped it is left to fail at apply time."""
    inputs: dict[str, Input] = {}
    derived: set[str] = set()
    scope: set[str] | None = None  # the columns left by the last select, once one ran

    def read(column: str, step: str) -> None:
        if scope is not None or column in derived or column in inputs:
            return
        inputs[column] = Input(column, step)

    for name, config in steps:
        for column in config.get("impute") or {}:
            read(column, name)
        for column, text in (config.get("derive") or {}).items():
            for used in expressions.parse(text).columns:
                read(used, name)
            derived.add(column)
            if scope is not None:
                scope.add(column)
        select = config.get("select")
        if select:
            for column in select:
                read(column, name)
            scope = set(select)
    kept = derived if scope is None else derived & scope
    return list(inputs.values()), frozenset(kept)


def _frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(records), index=pd.RangeIndex(len(records)))


def _records(
    frame: pd.DataFrame, sent: Sequence[dict[str, Any]], derived: frozenset[str]
) -> list[dict[str, Any]]:
    out = []
    for row, record in zip(frame.to_dict(orient="records"), sent, strict=True):
        out.append(
            {key: _plain(value) for key, value in row.items() if key in record or key in derived}
        )
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return None if value is pd.NaT else value.isoformat()
    value = expressions.plain(value)
    if isinstance(value, float) and math.isinf(value):
        return None
    return value


def _error(record: int, field_: str | None, message: str) -> dict[str, Any]:
    return {"record": record, "field": field_, "message": message}


def _lacking(lacking: Sequence[Input]) -> str:
    return "the input has no column " + ", ".join(
        f"{item.column!r} (read by step {item.step!r} of the predict workflow)" for item in lacking
    )
