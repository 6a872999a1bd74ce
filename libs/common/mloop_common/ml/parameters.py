"""One hyperparameter's schema (`Param`) and the checks a value given for it must pass.

A value is taken as given, never parsed: `True` is not an integer and `"0.1"` is not a number.
An integral float (`100.0`, as some JSON encoders write 100) is accepted for an integer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

ParamType = Literal["integer", "number", "boolean", "string"]


class InvalidParameters(ValueError):
    """Parameters that cannot be used; `errors` holds one `{"loc", "msg", "type"}` per fault,
    `loc` naming the field (`["parameters", name]` or `["algorithm"]`)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(error["msg"] for error in errors))
        self.errors = errors


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Param:
    """A hyperparameter: `minimum`/`maximum` bound what is accepted (inclusive); `search` is the
    range (low, high) or the choices `auto` explores, None when `auto` leaves it at its value.
    `nullable`: None is accepted (its meaning is in the description); `many`: a list of values
    is accepted as well as a single one."""

    name: str
    type: ParamType
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    log: bool = False
    search: tuple[Any, ...] | None = None
    aliases: tuple[str, ...] = ()
    nullable: bool = False
    many: bool = False

    @property
    def all_aliases(self) -> tuple[str, ...]:
        camel = camel_case(self.name)
        extra = tuple(alias for alias in self.aliases if alias not in (camel, self.name))
        return ((camel,) if camel != self.name else ()) + extra

    def check(self, value: Any) -> tuple[Any, str | None, str]:
        """(the value to use, an error message or None, the error type)."""
        if value is None:
            if self.nullable:
                return None, None, ""
            return value, f"{self.name} cannot be null", "type_error"
        if self.many and isinstance(value, (list, tuple)):
            if not value:
                return value, f"{self.name} cannot be an empty list", "value_error"
            checked = []
            for item in value:
                item_value, message, kind = self._check_one(item)
                if message:
                    return value, message, kind
                checked.append(item_value)
            return sorted(set(checked)) if self.type != "string" else checked, None, ""
        return self._check_one(value)

    def _check_one(self, value: Any) -> tuple[Any, str | None, str]:
        expected = {
            "integer": "an integer",
            "number": "a number",
            "boolean": "true or false",
            "string": "a string",
        }[self.type] + (" or a list of them" if self.many else "")
        wrong = f"{self.name} must be {expected}, not {_describe(value)}"
        if self.type == "boolean":
            return (value, None, "") if isinstance(value, bool) else (value, wrong, "type_error")
        if self.type == "string":
            if not isinstance(value, str):
                return value, wrong, "type_error"
            if self.choices is not None and value not in self.choices:
                options = ", ".join(map(repr, self.choices))
                return value, f"{self.name} must be one of {options}, not {value!r}", "value_error"
            return value, None, ""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value, wrong, "type_error"
        if not math.isfinite(value):
            return value, f"{self.name} must be finite, not {value}", "value_error"
        if self.type == "integer":
            if isinstance(value, float):
                if not value.is_integer():
                    return value, wrong, "type_error"
                value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and value < self.minimum:
            return value, f"{self.name} must be at least {_number(self.minimum)}", "value_error"
        if self.maximum is not None and value > self.maximum:
            return value, f"{self.name} must be at most {_number(self.maximum)}", "value_error"
        return value, None, ""

    def schema(self) -> dict[str, Any]:
        search: dict[str, Any] | None = None
        if self.search is not None:
            if self.type in ("integer", "number"):
                search = {"minimum": self.search[0], "maximum": self.search[1]}
            else:
                search = {"choices": list(self.search)}
        return {
            "name": self.name,
            "aliases": list(self.all_aliases),
            "type": self.type,
            "default": list(self.default) if isinstance(self.default, tuple) else self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices) if self.choices is not None else None,
            "log": self.log,
            "nullable": self.nullable,
            "list": self.many,
            "search": search,
            "description": self.description,
        }


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, float):
        return f"the number {value}"
    return repr(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else str(value)
