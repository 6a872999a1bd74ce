"""Live metrics and A/B outcomes from logged outputs and feedback (mloop_common.ml.live)."""

from __future__ import annotations

import pytest
from mloop_common.ml.live import live_metrics, outcomes, readable_actual


def output(label: object, yes: float | None = None) -> dict[str, object]:
    found: dict[str, object] = {"prediction": label}
    if yes is not None:
        found["probabilities"] = {"False": 1 - yes, "True": yes}
    return found


def test_feedback_words_match_the_labels_of_a_yes_no_column_read_as_booleans() -> None:
    outputs = [output(True, 0.9), output(False, 0.2), output(True, 0.7), output(False, 0.4)]
    actuals = ["yes", "no", "No", 1]
    live = live_metrics("classification", outputs, actuals, labels=[False, True])
    assert live.labelled == 4
    assert live.metrics["accuracy"] == pytest.approx(0.5)
    assert outcomes("classification", outputs, actuals) == [1.0, 1.0, 0.0, 0.0]


def test_string_labels_are_not_read_as_flags() -> None:
    outputs = [output("yes"), output("y"), output("no")]
    assert outcomes("classification", outputs, ["yes", "yes", "n"]) == [1.0, 0.0, 0.0]
    live = live_metrics("classification", outputs, ["yes", "yes", "no"], labels=["no", "y", "yes"])
    assert live.metrics["accuracy"] == pytest.approx(2 / 3)


def test_numbers_match_labels_logged_as_text() -> None:
    assert outcomes("classification", [output("1"), output("0")], [1, 1]) == [1.0, 0.0]


def test_unreadable_actuals_are_counted_not_raised() -> None:
    live = live_metrics("regression", [output(1.0), output(2.0)], [1.5, "many"])
    assert (live.labelled, live.unreadable) == (1, 1)
    assert outcomes("regression", [output(1.0), output(2.0)], [1.5, None]) == [0.5]


@pytest.mark.parametrize(
    ("task_type", "actual", "reason"),
    [
        ("regression", True, "a number is expected"),
        ("regression", float("inf"), "a finite number is expected"),
        ("anomaly_detection", "maybe", "an anomaly actual must be true or false"),
        ("classification", {"a": 1}, "a label must be a string, number or boolean"),
        ("forecasting", [], "a forecast actual must not be empty"),
    ],
)
def test_readable_actual_says_why_not(task_type: str, actual: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        readable_actual(task_type, actual)
