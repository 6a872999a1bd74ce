"""Monitoring windows (pure): a window's statistics assembled from its rows, and which windows
start or end an episode and so emit an event, once per episode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from mloop_common.messages.events import DriftDetected, PerformanceDegraded
from mloop_common.ml.profile import frequencies, numeric_profile, reference
from mloop_common.monitoring import effective
from mloop_common.settings import Settings
from mloop_monitor.domain.windows import (
    DRIFT,
    EpisodeState,
    ModelFacts,
    Volume,
    advance,
    assemble,
    drift_event,
    input_frame,
    performance_event,
    performance_threshold,
    prediction_values,
    volume,
)
from mloop_monitor.window_handlers import window_end

SID = uuid.uuid4()
END = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
START = END - timedelta(seconds=60)
COLUMNS = {"x": "numeric", "shop": "categorical"}


def config(**overrides: object):  # type: ignore[no-untyped-def]
    return effective(
        Settings(monitor_min_predictions=50, monitor_min_labelled=20, monitor_episode_windows=2),
        overrides,
    )


def training(rows: int = 2000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(10, 2, rows), "shop": rng.choice(["north", "south"], rows)}
    )


def model(**changes: object) -> ModelFacts:
    frame = training()
    labels = np.where(frame["x"] > 10, "big", "small")
    profile = reference(frame, COLUMNS, frequencies(labels))
    facts = {
        "model_id": uuid.uuid4(),
        "task_type": "classification",
        "signature": {
            "columns": [{"name": n, "type": t} for n, t in COLUMNS.items()],
            "target": {"name": "size", "labels": ["big", "small"]},
        },
        "reference": profile,
        "primary_metric": "accuracy",
        "primary_value": 0.9,
        "higher_is_better": True,
    }
    return ModelFacts.of(**(facts | changes))  # type: ignore[arg-type]


def records(rows: int, *, shift: float = 0.0, seed: int = 2) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    shops = ["north", "south"] if not shift else ["east", "west"]
    return [
        {"x": float(x), "shop": str(s), "unused": 1}
        for x, s in zip(rng.normal(10 + shift, 2, rows), rng.choice(shops, rows), strict=True)
    ]


def outputs(inputs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{"prediction": "big" if r["x"] > 10 else "small"} for r in inputs]  # type: ignore[operator]


def window(facts: ModelFacts, inputs, *, labelled=(), actuals=(), cfg=None):  # type: ignore[no-untyped-def]
    return assemble(
        facts,
        arm="champion",
        start=START,
        end=END,
        counted=volume([1.0] * len(inputs)),
        inputs=inputs,
        outputs=outputs(inputs),
        labelled_outputs=list(labelled),
        actuals=list(actuals),
        config=cfg or config(),
    )


def test_volume_and_latency_percentiles() -> None:
    found = volume(np.arange(1, 101, dtype=float))
    assert found.predictions == 100
    assert found.p50 == pytest.approx(50.5) and found.p99 == pytest.approx(99.01)
    assert volume([]) == Volume(0)


def test_the_frame_holds_the_models_columns_only() -> None:
    frame = input_frame([{"x": 1.0, "shop": "a", "other": 3}, {"x": 2.0}], ["x", "shop"])
    assert list(frame.columns) == ["x", "shop"]
    assert frame["shop"].isna().tolist() == [False, True]


def test_an_in_distribution_window_does_not_drift() -> None:
    found = window(model(), records(400))
    assert found.drift.drifted is False and found.drift.share == 0.0
    assert set(found.drift.features) == {"x", "shop"}
    assert found.drift.features["x"]["method"] == "wasserstein"
    assert found.drift.prediction is not None and not found.drift.prediction["drifted"]
    assert found.sampled == 400 and found.volume.predictions == 400


def test_a_shifted_window_drifts_per_feature_and_in_its_predictions() -> None:
    found = window(model(), records(400, shift=6.0))
    assert found.drift.drifted is True and found.drift.share == 1.0
    assert found.drift.features["x"]["drifted"] and found.drift.features["shop"]["drifted"]
    assert found.drift.prediction["drifted"]  # nearly every prediction is "big" now
    event = drift_event(SID, found)
    assert isinstance(event, DriftDetected) and event.scenario_id == SID
    assert set(event.features) == {"x", "shop"} and event.drifted_share == 1.0


def test_too_few_predictions_give_no_drift_verdict() -> None:
    found = window(model(), records(10, shift=6.0))
    assert found.drift.drifted is None and found.drift.features == {}
    assert "10 predictions, 50 needed" in found.drift.reason


def test_live_metrics_need_the_minimum_labelled_and_compare_with_the_holdout() -> None:
    facts = model()
    inputs = records(100)
    predicted = outputs(inputs)
    few = window(facts, inputs, labelled=predicted[:5], actuals=["big"] * 5)
    assert few.live.degraded is None and few.live.labelled == 5 and few.live.metrics == {}
    truth = [o["prediction"] for o in predicted]
    good = window(facts, inputs, labelled=predicted, actuals=truth)
    assert good.live.metrics["accuracy"] == 1.0 and good.live.degraded is False
    wrong = ["small" if t == "big" else "big" for t in truth]
    bad = window(facts, inputs, labelled=predicted, actuals=wrong)
    assert bad.live.value == 0.0 and bad.live.degraded is True
    assert bad.live.threshold == pytest.approx(0.81)
    event = performance_event(SID, bad, facts)
    assert isinstance(event, PerformanceDegraded)
    assert (event.metric, event.value, event.threshold) == ("accuracy", 0.0, pytest.approx(0.81))


def test_threshold_direction_and_negative_values() -> None:
    assert performance_threshold(0.9, True, 0.1) == pytest.approx(0.81)
    assert performance_threshold(10.0, False, 0.1) == pytest.approx(11.0)
    assert performance_threshold(-2.0, True, 0.5) == pytest.approx(-3.0)


def test_prediction_values_per_task() -> None:
    kind, values, key = prediction_values("anomaly_detection", [{"prediction": True, "score": 2}])
    assert (kind, values.tolist(), key) == ("numeric", [2], "score")
    kind, values, _ = prediction_values("forecasting", [{"prediction": [1.0, 2.0]}])
    assert (kind, values.tolist()) == ("numeric", [1.0, 2.0])
    kind, values, _ = prediction_values("recommendation", [{"prediction": ["a", "b"]}, {}])
    assert (kind, values.tolist()) == ("categorical", ["a", "b"])


def test_regression_prediction_drift_uses_the_numeric_profile() -> None:
    frame = training()
    facts = model(
        task_type="regression",
        reference=reference(frame, COLUMNS, numeric_profile(frame["x"].to_numpy() * 2)),
        primary_metric="rmse",
        primary_value=1.0,
        higher_is_better=False,
    )
    inputs = records(300, shift=5.0)
    found = assemble(
        facts,
        arm="champion",
        start=START,
        end=END,
        counted=volume([1.0] * 300),
        inputs=inputs,
        outputs=[{"prediction": r["x"] * 2} for r in inputs],  # type: ignore[operator]
        labelled_outputs=[],
        actuals=[],
        config=config(),
    )
    assert found.drift.prediction["drifted"] and found.drift.prediction["method"] == "wasserstein"


def episode_run(overs: list[bool | None], model_ids: list[uuid.UUID] | None = None) -> list:
    state: EpisodeState | None = None
    changes = []
    ids = model_ids or [SID] * len(overs)
    for over, model_id in zip(overs, ids, strict=True):
        state, change = advance(state, model_id, over, windows=2)
        changes.append(change)
    return changes


def test_one_event_per_episode_however_many_windows_stay_drifted() -> None:
    changes = episode_run([True, True, True, True, None, True, False, False, True, True])
    assert changes.count("started") == 2 and changes.count("ended") == 1
    assert changes == [None, "started", None, None, None, None, None, "ended", None, "started"]


def test_a_new_champion_starts_a_fresh_episode() -> None:
    other = uuid.uuid4()
    changes = episode_run([True, True, True, True], [SID, SID, other, other])
    assert changes == [None, "started", None, "started"]


def test_episode_state_round_trips_through_json() -> None:
    state, _ = advance(None, SID, True, windows=3)
    again = EpisodeState.from_json(SID, state.as_json())
    assert again == state and state.as_json() == {"active": False, "streak": 1}
    assert DRIFT == "drift"


def test_windows_end_on_the_interval_grid() -> None:
    now = datetime(2026, 11, 24, 12, 0, 7, 500000, tzinfo=UTC)
    assert window_end(now, 5) == datetime(2026, 11, 24, 12, 0, 5, tzinfo=UTC)
    assert window_end(now, 60) == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
