"""The workflow expression language: parsing, positions of errors, vectorised and per-record
evaluation, and the bounds on hostile input."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from mloop_common.workflows import expressions
from mloop_common.workflows.expressions import ExpressionError, parse


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2.0, None, 4.0],
            "b": [0, 2, 3, 4],
            "name": ["Ann", "bob", None, "Cy"],
            "flag": pd.array([True, False, None, True], dtype="boolean"),
            "unit price": [1.5, 2.5, 3.5, 4.5],
        }
    )


def values(series: pd.Series) -> list:
    return [expressions.plain(value) for value in series]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512.0),  # right-associative
        ("-2 ** 2", -4.0),  # ** binds tighter than unary minus
        ("2 ** -1", 0.5),
        ("7 % 3", 1),
        ("7 / 2", 3.5),
        ("1 / 0", None),
        ("5 % 0", None),
        ("1 < 2 and 2 < 3", True),
        ("not 1 > 2", True),
        ("1 > 2 or null", False),
        ("'a' + \"b\"", "ab"),
        ("'it\\'s'", "it's"),
        ("true == (1 == 1)", True),
        ("null == null", False),
        ("null != 1", True),
        ("abs(-3)", 3.0),
        ("round(2.567, 2)", 2.57),
        ("min(3, 1, 2)", 1),
        ("max(3, null, 2)", 3),
        ("clip(5, 0, 3)", 3),
        ("coalesce(null, 4)", 4),
        ("if(1 > 0, 'yes', 'no')", "yes"),
        ("lower('AbC')", "abc"),
        ("upper('AbC')", "ABC"),
        ("len('four')", 4),
        ("sqrt(-1)", None),
        ("log(0)", None),
        ("exp(100000)", None),
        ("1.5e2", 150.0),
        (".5", 0.5),
    ],
)
def test_constant_expressions(text: str, expected: object) -> None:
    assert parse(text).evaluate_row({}) == expected
    result = values(parse(text).evaluate(pd.DataFrame({"x": [0, 1]})))
    assert result == [expected, expected]


def test_vectorised_arithmetic_and_nulls(frame: pd.DataFrame) -> None:
    assert values(parse("a + b").evaluate(frame)) == [1.0, 4.0, None, 8.0]
    assert values(parse("a / b").evaluate(frame)) == [None, 1.0, None, 1.0]
    assert values(parse("`unit price` * 2").evaluate(frame)) == [3.0, 5.0, 7.0, 9.0]
    assert values(parse("a > 1").evaluate(frame)) == [False, True, False, True]
    assert values(parse("a != 1").evaluate(frame)) == [False, True, True, True]
    assert values(parse("coalesce(a, b)").evaluate(frame)) == [1.0, 2.0, 3.0, 4.0]
    assert values(parse("min(a, b)").evaluate(frame)) == [0.0, 2.0, 3.0, 4.0]
    assert values(parse("clip(a, 1.5, 3)").evaluate(frame)) == [1.5, 2.0, None, 3.0]
    assert values(parse("round(a / 3, 1)").evaluate(frame)) == [0.3, 0.7, None, 1.3]
    assert values(parse("log(b)").evaluate(frame))[0] is None


def test_vectorised_text_and_booleans(frame: pd.DataFrame) -> None:
    assert values(parse("lower(name)").evaluate(frame)) == ["ann", "bob", None, "cy"]
    assert values(parse("len(name)").evaluate(frame)) == [3, 3, None, 2]
    assert values(parse("name + '!'").evaluate(frame)) == ["Ann!", "bob!", None, "Cy!"]
    assert values(parse("name == 'bob'").evaluate(frame)) == [False, True, False, False]
    assert values(parse("flag and b > 0").evaluate(frame)) == [False, False, False, True]
    assert values(parse("not flag").evaluate(frame)) == [False, True, True, False]
    assert values(parse("flag == true").evaluate(frame)) == [True, False, False, True]
    assert values(parse("if(b > 2, 'big', 'small')").evaluate(frame)) == [
        "small",
        "small",
        "big",
        "big",
    ]
    assert values(parse("if(b > 2, a, 0)").evaluate(frame)) == [0, 0, None, 4.0]


def test_row_evaluation_matches_the_frame(frame: pd.DataFrame) -> None:
    for text in ("a + b", "a / b", "a > 1", "coalesce(a, b) * 2", "lower(name)", "name + 'x'"):
        expression = parse(text)
        expected = values(expression.evaluate(frame))
        rows = [expression.evaluate_row(record) for record in frame.to_dict("records")]
        assert [expressions.plain(v) for v in rows] == expected, text


def test_columns_read_in_order_of_appearance() -> None:
    assert parse("b + a * b + `x y`").columns == ("b", "a", "x y")
    assert parse("max(1, 2)").columns == ()
    assert parse("if(c, d.e, f)").columns == ("c", "d.e", "f")


def test_unknown_column_names_it_with_its_position(frame: pd.DataFrame) -> None:
    with pytest.raises(ExpressionError, match="unknown column 'zz'") as caught:
        parse("a + zz").evaluate(frame)
    assert caught.value.column == 5
    with pytest.raises(ExpressionError, match="unknown column 'q'"):
        parse("q > 1").evaluate_row({"a": 1})
    with pytest.raises(ExpressionError, match="unknown column 'z'") as caught:
        parse("a + `z`").check(["a"])
    assert caught.value.position == 4


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("", "empty", 1),
        ("a +", "expected a value, found the end", 4),
        ("(a + 1", "expected `)`", 7),
        ("a + 1)", "unexpected ')'", 6),
        ("foo(1)", "unknown function 'foo'", 1),
        ("a = 1", "compare with `==`", 3),
        ("a && b", "use `and`", 3),
        ("a $ b", "unexpected character '$'", 3),
        ("1 < a < 3", "cannot be chained", 7),
        ("'abc", "unterminated string", 1),
        ("`abc", "unterminated", 1),
        ("``", "empty", 1),
        ("'a\\q'", "unknown escape", 3),
        ("2 ** 10000", "larger than 1000", 6),
        ("2 ** -5000", "larger than 1000", 6),
        ("1e999", "too large", 1),
        ("99999999999999999999", "too large", 1),
        ("12abc", "after a number", 3),
        ("min(1)", "2 or more arguments", 1),
        ("clip(1, 2)", "takes 3 arguments", 1),
        ("round(1, a)", "whole number from 0 to 15", 10),
        ("round(1, 99)", "whole number from 0 to 15", 10),
        ("abs()", "takes 1 arguments, not 0", 1),
        ("max(1, 2", "expected `,` or `)`", 9),
        ("true false", "unexpected 'false'", 6),
    ],
)
def test_syntax_errors_say_where(text: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)) as caught:
        parse(text)
    assert caught.value.column == column


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("name * 2", r"\* needs numbers, not text", 6),
        ("-name", "- needs numbers", 1),
        ("lower(b)", r"lower\(\) needs text", 1),
        ("name < 3", "cannot order text against numbers", 6),
        ("abs(name)", r"abs\(\) needs numbers", 1),
    ],
)
def test_type_errors_say_where(frame: pd.DataFrame, text: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError, match=message) as caught:
        parse(text).evaluate(frame)
    assert caught.value.column == column


def test_hostile_input_is_bounded() -> None:
    with pytest.raises(ExpressionError, match="longer than 2000"):
        parse("1 + " * 600 + "1")
    with pytest.raises(ExpressionError, match="nested more than"):
        parse("(" * 100 + "1" + ")" * 100)
    with pytest.raises(ExpressionError, match="nested more than"):
        parse("-" * 100 + "1")
    with pytest.raises(ExpressionError, match="nested more than"):
        parse("not " * 100 + "true")
    with pytest.raises(ExpressionError, match="must be a string"):
        parse(42)  # type: ignore[arg-type]
    # powers are computed in floating point: a huge result is null, never a huge integer
    assert parse("(10 ** 300) ** 1000").evaluate_row({}) is None
    big = parse("x ** 1000 ** 1000").evaluate(pd.DataFrame({"x": [10, 1]}))
    assert values(big) == [None, None]  # 1000 ** 1000 overflows: null, and so is x ** null


def test_never_evaluates_python() -> None:
    for text in ("__import__('os')", "a.__class__", "open('x')"):
        with pytest.raises(ExpressionError):
            parse(text).evaluate(pd.DataFrame({"a": [1]}))


def test_results_are_series_on_the_frame_index() -> None:
    frame = pd.DataFrame({"a": [1, 2]}, index=[10, 20])
    result = parse("a * 2").evaluate(frame)
    assert list(result.index) == [10, 20]
    constant = parse("'x'").evaluate(frame)
    assert list(constant.index) == [10, 20] and list(constant) == ["x", "x"]
    assert math.isnan(parse("null").evaluate(frame).iloc[0])
    assert parse("a > 1").evaluate(frame).dtype == np.dtype(bool)
