"""The gateway's pure rules: data paths, feature-set checks, cursors, policies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from mloop_common.features import check_feature_set
from mloop_gateway.domain.access import POLICIES, allows
from mloop_gateway.domain.paging import BadCursor, decode_cursor, encode_cursor
from mloop_gateway.domain.paths import BadPath, clean_data_path


@pytest.mark.parametrize("path", ["a.csv", "raw/2024/a b.csv", "데이터/고객.csv", "x..y.csv"])
def test_ordinary_paths_pass(path: str) -> None:
    assert clean_data_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        " ",
        "../a",
        "a/../b",
        "/a",
        "C:/a",
        "a\\b",
        "a%2fb",
        "a\x00b",
        "a\nb",
        "a//b",
        "./a",
        "a/ b",
        "a\u202eb",
        "x" * 513,
    ],
)
def test_paths_that_could_escape_are_refused(path: str) -> None:
    with pytest.raises(BadPath):
        clean_data_path(path)


def test_cursor_round_trip_and_garbage() -> None:
    now, id_ = datetime.now(UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(now, id_)) == (now, id_)
    for garbage in ("", "!!!", "e30", "WzFd", encode_cursor(now, "not-a-uuid")):
        with pytest.raises(BadCursor):
            decode_cursor(garbage)


def test_roles_per_policy() -> None:
    assert allows("viewer", "viewer") and not allows("editor", "viewer")
    assert allows("predictor", "predictor") and not allows("viewer", "predictor")
    assert all(allows(policy, "admin") for policy in POLICIES)


COLUMNS = {"t": "datetime", "x": "numeric", "c": "categorical", "doc": "text", "y": "numeric"}


def test_a_usable_feature_set_has_no_errors() -> None:
    assert (
        check_feature_set(task_type="regression", columns=COLUMNS, target="y", features=["x", "c"])
        == []
    )
    assert (
        check_feature_set(
            task_type="anomaly_detection", columns=COLUMNS, target=None, features=["x"]
        )
        == []
    )


def test_feature_set_errors_point_at_fields() -> None:
    errors = check_feature_set(
        task_type="forecasting", columns=COLUMNS, target="c", features=["x", "x", "zz"]
    )
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["body", "target"], "unusable_type"),
        (["body", "features", 1], "duplicate"),
        (["body", "features", 2], "unknown"),
        (["body", "features"], "missing"),
    ]
