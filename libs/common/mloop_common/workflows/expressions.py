"""The expression language of workflows: derived columns, row filters and metric gates.

A small language of our own, tokenised and parsed into a tree (precedence climbing, in
`syntax`), then evaluated over a whole pandas DataFrame at once (`evaluation`). Nothing is ever
handed to `eval`, `exec` or `compile`.

    expression  := or
    or          := and ("or" and)*
    and         := not ("and" not)*
    not         := "not" not | comparison
    comparison  := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
    sum         := product (("+" | "-") product)*
    product     := unary (("*" | "/" | "%") unary)*
    unary       := ("-" | "+") unary | power
    power       := atom ("**" unary)?              (right-associative: 2 ** -1, -2 ** 2 = -4)
    atom        := number | string | true | false | null | column | call | "(" expression ")"
    column      := identifier | `any name in backquotes`
    call        := identifier "(" [expression ("," expression)*] ")"

Semantics (the same for `evaluate` over a frame and `evaluate_row` over one record): a missing
value is null; arithmetic with null gives null; division or modulo by zero, and any result that
is not finite (overflow, log of 0), give null; a comparison with null is false, except `!=`,
which is true; `and`/`or`/`not` treat null, 0, false and "" as false. `+` also joins two strings.

Hostile input is bounded: an expression has at most `MAX_LENGTH` characters and `MAX_DEPTH`
levels of nesting, a literal exponent at most `MAX_EXPONENT`, and powers are computed in
floating point (no unbounded integer arithmetic).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mloop_common.workflows.evaluation import Evaluator, dtype_of, plain
from mloop_common.workflows.syntax import (
    COMPARISONS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    Binary,
    Call,
    Column,
    ExpressionError,
    Literal,
    Node,
    Parser,
    Unary,
)

__all__ = [
    "COMPARISONS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "Binary",
    "Call",
    "Column",
    "Expression",
    "ExpressionError",
    "Literal",
    "Node",
    "Unary",
    "parse",
    "plain",
]


# -- expressions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression: evaluate it over a frame (vectorised) or one record."""

    text: str
    tree: Node
    columns: tuple[str, ...] = field(default=())
    """The column names it reads, in order of first appearance."""

    def check(self, columns: Collection[str]) -> None:
        """ExpressionError naming the first column read that is not in `columns`."""
        for node in _walk(self.tree):
            if isinstance(node, Column) and node.name not in columns:
                raise ExpressionError(f"unknown column {node.name!r}", node.position)

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """The value for every row of `frame`, as a Series on its index."""
        self.check(frame.columns)
        value = Evaluator(frame).eval(self.tree)
        if not isinstance(value, pd.Series):
            value = pd.Series([value] * len(frame), index=frame.index, dtype=dtype_of(value))
        return value

    def evaluate_row(self, record: dict[str, Any]) -> Any:
        """The value for one record (a dict of column → value), as a plain Python value."""
        frame = pd.DataFrame({name: [record.get(name)] for name in self.columns}, index=[0])
        missing = [name for name in self.columns if name not in record]
        if missing:
            node = next(n for n in _walk(self.tree) if isinstance(n, Column) and n.name in missing)
            raise ExpressionError(f"unknown column {node.name!r}", node.position)
        return plain(self.evaluate(frame).iloc[0])


def parse(text: str) -> Expression:
    """Parse `text`; ExpressionError (with its position) when it is not a valid expression."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    tree = Parser(text).parse()
    seen: dict[str, None] = {}
    for node in _walk(tree):
        if isinstance(node, Column):
            seen.setdefault(node.name)
    return Expression(text=text, tree=tree, columns=tuple(seen))


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Unary):
        yield from _walk(node.operand)
    elif isinstance(node, Binary):
        yield from _walk(node.left)
        yield from _walk(node.right)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from _walk(arg)
