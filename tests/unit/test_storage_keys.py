"""Artifact keys: clean relative paths pass, anything that could leave the store is refused."""

import pytest
from mloop_common.storage import InvalidKey, clean_key, clean_prefix


@pytest.mark.parametrize(
    "key",
    [
        "model.joblib",
        "models/3f2a/model.joblib",
        "datasets/v1/part-0001.parquet",
        ".hidden",
        "a..b/c...d",
        "名前/データ.csv",
        "with space/and-dash_underscore.txt",
    ],
)
def test_normal_keys_pass_unchanged(key: str) -> None:
    assert clean_key(key) == key


@pytest.mark.parametrize(
    ("key", "cleaned"),
    [("./a", "a"), ("a/./b", "a/b"), ("a/b/.", "a/b"), ("./././a/./b", "a/b")],
)
def test_dot_segments_are_dropped(key: str, cleaned: str) -> None:
    assert clean_key(key) == cleaned


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param(".", id="only-dot"),
        pytest.param("./.", id="only-dots"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("/", id="root"),
        pytest.param("..", id="parent"),
        pytest.param("../secret", id="leading-parent"),
        pytest.param("a/../../b", id="inner-parent"),
        pytest.param("a/..", id="trailing-parent"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("..\\..\\windows", id="backslash-parent"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("a\nb", id="newline"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a\x1bb", id="escape"),
        pytest.param("a\x7fb", id="delete"),
        pytest.param("a\x85b", id="c1-control"),
        pytest.param("a//b", id="double-slash"),
        pytest.param("a/", id="trailing-slash"),
        pytest.param("a\ud800b", id="lone-surrogate"),
        pytest.param("k" * 1025, id="too-long"),
    ],
)
def test_hostile_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        clean_key(key)


def test_non_string_key_is_refused() -> None:
    with pytest.raises(InvalidKey):
        clean_key(None)  # type: ignore[arg-type]


def test_invalid_key_is_a_value_error() -> None:
    assert issubclass(InvalidKey, ValueError)


@pytest.mark.parametrize(
    ("prefix", "cleaned"),
    [("", ""), ("models", "models"), ("models/", "models"), ("a/./b/", "a/b")],
)
def test_prefixes_name_folders(prefix: str, cleaned: str) -> None:
    assert clean_prefix(prefix) == cleaned


@pytest.mark.parametrize("prefix", ["/", "../", "a//", "/abs/", "a/../"])
def test_hostile_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        clean_prefix(prefix)
