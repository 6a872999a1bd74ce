"""Batch prediction's column-wise typing (the online rules, applied to CSV text), its refusals,
and the output columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from mloop_predictor.batches.frames import (
    BadInput,
    convert,
    missing_columns,
    model_frame,
    output_batch,
    output_column,
    output_names,
)
from mloop_predictor.batches.runner import chunks


def strings(*values: str) -> pa.Array:
    return pa.array(list(values), pa.string())


def test_numbers_parse_with_missing_tokens_and_spaces() -> None:
    got = convert(
        strings("1", "2.5", "", "NA", " 3 ", "1e3", "-.5", "+7"), "numeric", name="x", first_row=1
    )
    np.testing.assert_array_equal(got, [1.0, 2.5, np.nan, np.nan, 3.0, 1000.0, -0.5, 7.0])
    assert got.dtype == np.float64


@pytest.mark.parametrize("bad", ["abc", "1,000", "inf", "-Infinity", "0x10"])
def test_values_that_are_not_numbers_fail_with_their_row(bad: str) -> None:
    with pytest.raises(BadInput) as caught:
        convert(strings("1", "2", bad), "numeric", name="age", first_row=101)
    assert str(caught.value) == f"column 'age': 1 value(s) not a number (data row 103: {bad!r})"


def test_a_failure_names_five_faults_and_counts_the_rest() -> None:
    values = strings(*(["x"] * 8), "1")
    with pytest.raises(BadInput, match=r"8 value\(s\) not a number .*data row 5: 'x' and 3 more"):
        convert(values, "numeric", name="age", first_row=1)


def test_booleans_take_the_online_words() -> None:
    got = convert(
        strings("true", "FALSE", " yes", "n", "1", "0", "", "T", "f"),
        "boolean",
        name="member",
        first_row=1,
    )
    assert list(got) == [True, False, True, False, True, False, pd.NA, True, False]
    with pytest.raises(BadInput, match=r"'member': 1 value\(s\) not a boolean .*data row 2: '2'"):
        convert(strings("1", "2"), "boolean", name="member", first_row=1)


def test_text_stays_text_and_missing_is_none() -> None:
    got = convert(strings("north", "", "7", "null"), "categorical", name="shop", first_row=1)
    assert list(got) == ["north", None, "7", None]


def test_datetimes_are_checked_and_kept_as_given() -> None:
    got = convert(strings("2024-01-02", "2024-01-02 10:30", ""), "datetime", name="d", first_row=1)
    assert list(got) == ["2024-01-02", "2024-01-02 10:30", None]
    with pytest.raises(BadInput, match=r"'d': 1 value\(s\) not a date/time \(data row 2: 'soon'\)"):
        convert(strings("2024-01-02", "soon"), "datetime", name="d", first_row=1)


def test_model_frame_types_the_model_columns_only() -> None:
    chunk = pa.table({"id": strings("a", "b"), "x": strings("1", ""), "flag": strings("t", "f")})
    frame = model_frame(
        chunk,
        ["id", "x", "flag"],
        [("x", "numeric"), ("flag", "boolean"), ("gone", "numeric")],
        first_row=1,
    )
    assert list(frame.columns) == ["x", "flag"]
    assert frame["x"].dtype == np.float64 and str(frame["flag"].dtype) == "boolean"


def test_missing_columns_are_all_or_the_required_ones() -> None:
    columns = [("user", "categorical"), ("item", "categorical")]
    assert missing_columns(["user"], columns, None) == ["item"]
    assert missing_columns(["user"], columns, frozenset({"user"})) == []
    assert missing_columns(["x"], columns, frozenset({"user"})) == ["user"]


def test_prediction_columns_never_replace_an_input_column() -> None:
    named = output_names(["prediction", "predicted_prediction", "x"], ["prediction", "score"])
    assert named == {"prediction": "predicted_predicted_prediction", "score": "score"}


def test_output_columns_by_kind() -> None:
    assert output_column(np.array([0.5, np.nan])).to_pylist() == [0.5, None]
    assert output_column(np.array([True, False])).type == pa.bool_()
    assert output_column(np.array(["a", "b"], dtype=object)).to_pylist() == ["a", "b"]
    assert output_column(np.array([1, "b"], dtype=object)).to_pylist() == ["1", "b"]
    lists = output_column([[1.0, None], [2.0, 3.5]])
    assert [json.loads(v) for v in lists.to_pylist()] == [[1.0, None], [2.0, 3.5]]
    items = output_column(np.array([[{"item": "i1"}], []], dtype=object))
    assert items.to_pylist() == ['[{"item": "i1"}]', "[]"]


def test_output_batch_keeps_the_input_as_read() -> None:
    chunk = pa.table({"x": strings("01.50", "NA")})
    table = output_batch(
        chunk, ["x"], {"prediction": np.array([1.0, 2.0])}, {"prediction": "prediction"}
    )
    assert table.column_names == ["x", "prediction"]
    assert table.column("x").to_pylist() == ["01.50", "NA"]


def test_chunks_have_exactly_the_rows_asked_for() -> None:
    batches = [
        pa.record_batch({"a": pa.array(range(start, start + 7))}) for start in range(0, 35, 7)
    ]
    got = list(chunks(iter(batches), 10))
    assert [t.num_rows for t in got] == [10, 10, 10, 5]
    assert pa.concat_tables(got).column("a").to_pylist() == list(range(35))
