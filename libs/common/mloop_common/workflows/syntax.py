"""The syntax of the workflow expression language: tokens, the tree, and the parser
(precedence climbing). See `expressions` for the grammar and the semantics."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_EXPONENT = 1000
MAX_ROUND_DIGITS = 15


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated. `position` is the 0-based offset in the
    text of the fault (`column` is 1-based), None when it concerns the whole expression."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (column {position + 1})")
        self.message, self.position = message, position

    @property
    def column(self) -> int | None:
        return None if self.position is None else self.position + 1


# -- tokens ------------------------------------------------------------------------------------

KEYWORDS = {"and", "or", "not", "true", "false", "null"}
OPERATORS = ("**", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",")
_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, column, keyword, op, end
    value: Any
    position: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char.isdigit() or (char == "." and i + 1 < n and text[i + 1].isdigit()):
            match = _NUMBER.match(text, i)
            assert match is not None
            tokens.append(Token("number", _number(match.group(), i), i))
            i = match.end()
            if i < n and (text[i].isalpha() or text[i] == "_"):
                raise ExpressionError(f"unexpected {text[i]!r} after a number", i)
        elif char.isalpha() or char == "_":
            match = _IDENT.match(text, i)
            assert match is not None
            word = match.group()
            kind = "keyword" if word in KEYWORDS else "name"
            tokens.append(Token(kind, word, i))
            i = match.end()
        elif char in "'\"":
            value, end = _string(text, i)
            tokens.append(Token("string", value, i))
            i = end
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ExpressionError("unterminated `column name`", i)
            if end == i + 1:
                raise ExpressionError("empty `column name`", i)
            tokens.append(Token("column", text[i + 1 : end], i))
            i = end + 1
        else:
            for op in OPERATORS:
                if text.startswith(op, i):
                    tokens.append(Token("op", op, i))
                    i += len(op)
                    break
            else:
                hint = " (use `and`, `or`, `not`)" if char in "&|!" else ""
                hint = " (compare with `==`)" if char == "=" else hint
                raise ExpressionError(f"unexpected character {char!r}{hint}", i)
    tokens.append(Token("end", None, n))
    return tokens


def _number(text: str, position: int) -> int | float:
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        if not math.isfinite(value):
            raise ExpressionError(f"the number {text} is too large", position)
        return value
    if len(text) > 18 or int(text) > 2**63 - 1:
        raise ExpressionError(f"the integer {text} is too large", position)
    return int(text)


def _string(text: str, start: int) -> tuple[str, int]:
    quote, i, parts = text[start], start + 1, []
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(parts), i + 1
        if char == "\\":
            escaped = text[i + 1 : i + 2]
            if escaped not in _ESCAPES:
                raise ExpressionError(f"unknown escape \\{escaped} in a string", i)
            parts.append(_ESCAPES[escaped])
            i += 2
            continue
        parts.append(char)
        i += 1
    raise ExpressionError("unterminated string", start)


# -- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    position: int


@dataclass(frozen=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True)
class Column(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-", "+", "not"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]


COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")

# name: (least, most arguments; None: any number)
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "log": (1, 1),
    "exp": (1, 1),
    "sqrt": (1, 1),
    "round": (1, 2),
    "min": (2, None),
    "max": (2, None),
    "clip": (3, 3),
    "coalesce": (2, None),
    "if": (3, 3),
    "lower": (1, 1),
    "upper": (1, 1),
    "len": (1, 1),
}


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, kind: str, *values: Any) -> bool:
        return self.token.kind == kind and (not values or self.token.value in values)

    def expect(self, value: str, what: str) -> Token:
        if not self.at("op", value):
            raise ExpressionError(
                f"expected {what}, found {_describe(self.token)}", self.token.position
            )
        return self.take()

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} levels deep", self.token.position)
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse(self) -> Node:
        if self.at("end"):
            raise ExpressionError("the expression is empty", 0)
        node = self.expression()
        if not self.at("end"):
            raise ExpressionError(f"unexpected {_describe(self.token)}", self.token.position)
        return node

    def expression(self) -> Node:
        return self.nested(self.or_)

    def or_(self) -> Node:
        node = self.and_()
        while self.at("keyword", "or"):
            token = self.take()
            node = Binary(token.position, "or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("keyword", "and"):
            token = self.take()
            node = Binary(token.position, "and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.at("keyword", "not"):
            token = self.take()
            return Unary(token.position, "not", self.nested(self.not_))
        return self.comparison()

    def comparison(self) -> Node:
        node = self.sum()
        if self.at("op", *COMPARISONS):
            token = self.take()
            node = Binary(token.position, token.value, node, self.sum())
            if self.at("op", *COMPARISONS):
                raise ExpressionError(
                    "comparisons cannot be chained; join them with `and`", self.token.position
                )
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.at("op", "+", "-"):
            token = self.take()
            node = Binary(token.position, token.value, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.at("op", "*", "/", "%"):
            token = self.take()
            node = Binary(token.position, token.value, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("op", "-", "+"):
            token = self.take()
            return Unary(token.position, token.value, self.nested(self.unary))
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.at("op", "**"):
            token = self.take()
            exponent = self.nested(self.unary)
            literal = _literal_number(exponent)
            if literal is not None and abs(literal) > MAX_EXPONENT:
                raise ExpressionError(
                    f"the exponent {literal} is larger than {MAX_EXPONENT}", exponent.position
                )
            node = Binary(token.position, "**", node, exponent)
        return node

    def atom(self) -> Node:
        token = self.token
        if token.kind in ("number", "string"):
            self.take()
            return Literal(token.position, token.value)
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            self.take()
            return Literal(
                token.position, {"true": True, "false": False, "null": None}[token.value]
            )
        if token.kind == "column":
            self.take()
            return Column(token.position, token.value)
        if token.kind == "name":
            self.take()
            if self.at("op", "("):
                return self.call(token)
            return Column(token.position, token.value)
        if self.at("op", "("):
            self.take()
            node = self.expression()
            self.expect(")", "`)`")
            return node
        raise ExpressionError(f"expected a value, found {_describe(token)}", token.position)

    def call(self, name: Token) -> Node:
        if name.value not in FUNCTIONS:
            known = ", ".join(FUNCTIONS)
            raise ExpressionError(f"unknown function {name.value!r}; known: {known}", name.position)
        self.take()  # (
        args: list[Node] = []
        if not self.at("op", ")"):
            args.append(self.expression())
            while self.at("op", ","):
                self.take()
                args.append(self.expression())
        self.expect(")", "`,` or `)`")
        least, most = FUNCTIONS[name.value]
        if len(args) < least or (most is not None and len(args) > most):
            wanted = (
                str(least)
                if least == most
                else f"{least} or more"
                if most is None
                else f"{least} to {most}"
            )
            raise ExpressionError(
                f"{name.value}() takes {wanted} arguments, not {len(args)}", name.position
            )
        if name.value == "round" and len(args) == 2:
            digits = args[1]
            if not (isinstance(digits, Literal) and type(digits.value) is int) or not (
                0 <= digits.value <= MAX_ROUND_DIGITS
            ):
                raise ExpressionError(
                    f"round()'s digits must be a whole number from 0 to {MAX_ROUND_DIGITS}",
                    digits.position,
                )
        return Call(name.position, name.value, tuple(args))


def _literal_number(node: Node) -> float | None:
    if isinstance(node, Literal) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, Unary) and node.op in ("-", "+"):
        inner = _literal_number(node.operand)
        return None if inner is None else (-inner if node.op == "-" else inner)
    return None


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    if token.kind == "string":
        return "a string"
    if token.kind == "column":
        return f"`{token.value}`"
    return repr(str(token.value))
