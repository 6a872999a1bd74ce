"""The shared machinery of workflow validation: collecting problems with their positions, and
reading config mappings whose keys may be camelCase (`inputPath`) or snake_case (`input_path`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mloop_common.workflows import expressions
from mloop_common.workflows.source import Source, child

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(key: str) -> str:
    """`learningRate` → `learning_rate`; snake_case names are kept."""
    return _CAMEL.sub(r"_\1", key).lower()


@dataclass
class Checker:
    source: Source
    problems: list[dict[str, Any]] = field(default_factory=list)

    def add(self, path: str, message: str, *, key: bool = False) -> None:
        self.problems.append(self.source.problem(path, message, key=key))

    def add_inside(self, path: str, offset: int | None, message: str) -> None:
        line, column = self.source.inside(path, offset)
        self.problems.append({"path": path, "line": line, "column": column, "message": message})

    def expression(self, path: str, text: Any, what: str) -> expressions.Expression | None:
        """The parsed expression at `path`, or None after recording why it is not one."""
        if not isinstance(text, str):
            self.add(path, f"{what} must be an expression in a string, not {describe(text)}")
            return None
        try:
            return expressions.parse(text)
        except expressions.ExpressionError as error:
            self.add_inside(path, error.position, f"{what}: {error.message}")
            return None

    def columns(
        self, path: str, expression: expressions.Expression, available: list[str] | None
    ) -> None:
        """Record the first column the expression reads that `available` lacks (when known)."""
        if available is None:
            return
        try:
            expression.check(available)
        except expressions.ExpressionError as error:
            self.add_inside(path, error.position, f"{error.message}; known: {_names(available)}")

    def fields(
        self,
        path: str,
        config: Any,
        known: dict[str, str],
        *,
        refused: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The entries of the mapping at `path` by snake_case name. `known` maps each accepted
        name to a description used in messages; `refused` maps names to the reason they are not
        accepted here. Unknown and duplicate (camel + snake) keys are recorded as problems."""
        if config is None:
            return {}
        if not isinstance(config, dict):
            self.add(path, f"must be a mapping, not {describe(config)}")
            return {}
        result: dict[str, Any] = {}
        given: dict[str, str] = {}
        for key, value in config.items():
            name = snake(str(key))
            here = child(path, key)
            if refused and name in refused:
                self.add(here, refused[name], key=True)
            elif name not in known:
                accepted = ", ".join(camel(name) for name in known)
                self.add(here, f"unknown key {key!r}; accepted: {accepted}", key=True)
            elif name in given:
                self.add(here, f"{key!r} and {given[name]!r} are the same key", key=True)
            else:
                given[name] = str(key)
                result[name] = (value, here)
        return result


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _names(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
