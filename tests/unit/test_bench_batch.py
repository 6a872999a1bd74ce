"""The batch benchmark's pure parts: its input data and the row-by-row output comparison."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pa_csv

from bench.batch import compare_outputs
from bench.serving_data import FEATURES, write_batch_csv

HEADER = "f0,f1,prediction,probability_0,probability_1\n"


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def test_batch_input_has_the_rows_and_features_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "input.csv"
    write_batch_csv(path, 250)
    table = pa_csv.read_csv(path)
    assert table.num_rows == 250
    assert table.column_names == list(FEATURES)
    again = tmp_path / "again.csv"
    write_batch_csv(again, 250)
    assert again.read_bytes() == path.read_bytes()


def test_identical_outputs_are_the_same(tmp_path: Path) -> None:
    rows = ["1.5,2,1,0.25,0.75", "-3,4.5,0,0.9,0.1"]
    found = compare_outputs(_write(tmp_path / "a.csv", rows), _write(tmp_path / "b.csv", rows))
    assert found["same"]
    assert found["differences"]["prediction"] == 0


def test_probabilities_within_the_tolerance_are_the_same(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", ["1.5,2,1,0.25,0.75"])
    b = _write(tmp_path / "b.csv", ["1.5,2,1,0.2500000000001,0.7499999999999"])
    assert compare_outputs(a, b)["same"]


def test_a_different_label_or_probability_is_reported(tmp_path: Path) -> None:
    floor = _write(tmp_path / "floor.csv", ["1.5,2,1,0.25,0.75", "-3,4.5,0,0.9,0.1"])
    label = _write(tmp_path / "label.csv", ["1.5,2,0,0.25,0.75", "-3,4.5,0,0.9,0.1"])
    found = compare_outputs(label, floor)
    assert not found["same"]
    assert found["differences"]["prediction"] == 1
    proba = _write(tmp_path / "proba.csv", ["1.5,2,1,0.26,0.74", "-3,4.5,0,0.9,0.1"])
    found = compare_outputs(proba, floor)
    assert not found["same"]
    assert abs(found["differences"]["probability_0"] - 0.01) < 1e-12


def test_missing_rows_or_columns_are_not_the_same(tmp_path: Path) -> None:
    floor = _write(tmp_path / "floor.csv", ["1.5,2,1,0.25,0.75", "-3,4.5,0,0.9,0.1"])
    short = _write(tmp_path / "short.csv", ["1.5,2,1,0.25,0.75"])
    assert not compare_outputs(short, floor)["same"]
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("f0,f1,prediction\n1.5,2,1\n-3,4.5,0\n")
    found = compare_outputs(narrow, floor)
    assert not found["same"]
    assert found["missing_columns"] == ["probability_0", "probability_1"]
