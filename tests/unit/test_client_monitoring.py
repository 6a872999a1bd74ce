"""The monitoring part of MLoopClient and of the `mloop` CLI, on `httpx.MockTransport`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from mloop_client import MLoopError

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

S = SCENARIO_ID
BASE = f"/api/scenarios/{S}/monitoring"
M1 = "11111111-1111-1111-1111-111111111111"


def point(**fields: Any) -> dict[str, Any]:
    return {
        "start": "2026-11-24T11:00:00Z",
        "end": "2026-11-24T12:00:00Z",
        "model_id": M1,
        "arm": "champion",
        "windows": 1,
        "predictions": 120,
        "latency_ms": {"p50": 1.5, "p95": 3.25, "p99": 7.0},
        "labelled": 40,
        "metrics": {"accuracy": 0.875},
        "drifted": True,
        "drifted_share": 0.5,
        "drift": {"x": 0.42, "shop": 0.01},
        "drifted_features": ["x"],
    } | fields


SERIES = {
    "since": "2026-11-23T12:00:00Z",
    "until": "2026-11-24T12:00:01Z",
    "bucket_seconds": None,
    "items": [point()],
}
DRIFT = {
    "drifted": True,
    "drifted_share": 0.5,
    "model_id": M1,
    "window": {
        "start": "2026-11-24T11:00:00Z",
        "end": "2026-11-24T12:00:00Z",
        "arm": "champion",
        "predictions": 120,
        "computed_at": "2026-11-24T12:00:00.2Z",
    },
    "features": {
        "x": {"method": "wasserstein", "score": 0.42, "drifted": True, "statistics": {}},
        "shop": {"method": "jensenshannon", "score": 0.01, "drifted": False, "statistics": {}},
    },
    "prediction": {"method": "jensenshannon", "score": 0.2, "drifted": True, "statistics": {}},
}


def test_monitoring_sends_its_filters_and_answers_the_series() -> None:
    gateway = FakeGateway()
    gateway.on("GET", BASE, httpx.Response(200, json=SERIES))
    with gateway.client() as client:
        assert client.monitoring(S) == SERIES
        client.monitoring(
            S,
            since=datetime(2026, 11, 24, tzinfo=UTC),
            until="2026-11-25T00:00:00Z",
            model_id=M1,
            bucket="5m",
            limit=10,
        )
    first, second = gateway.requests
    assert dict(first.url.params) == {}
    assert dict(second.url.params) == {
        "since": "2026-11-24T00:00:00+00:00",
        "until": "2026-11-25T00:00:00Z",
        "model_id": M1,
        "bucket": "5m",
        "limit": "10",
    }


def test_drift_answers_the_latest_window_and_raises_404_before_any() -> None:

    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/drift", httpx.Response(200, json=DRIFT))
    with gateway.client() as client:
        assert client.drift(S)["features"]["x"]["drifted"] is True
        client.drift(S, model_id=M1)
    assert dict(gateway.requests[-1].url.params) == {"model_id": M1}

    empty = FakeGateway()
    empty.on("GET", f"{BASE}/drift", problem(404, "No drift measured yet", "No window yet."))
    with empty.client() as client, pytest.raises(MLoopError) as raised:
        client.drift(S)
    assert raised.value.status == 404


def test_cli_monitoring_show_prints_the_windows_or_json() -> None:

    gateway = FakeGateway()
    gateway.on("GET", BASE, httpx.Response(200, json=SERIES))
    cli = Cli(gateway)
    shown = cli("monitoring", "show", S, "--bucket", "1h", "--limit", "5")
    assert shown.exit_code == 0, shown.output
    assert "Monitoring windows (1)" in shown.output
    assert "accuracy=0.875" in shown.output and "x" in shown.output
    assert dict(gateway.requests[-1].url.params) == {"bucket": "1h", "limit": "5"}
    as_json = cli("--json", "monitoring", "show", S)
    assert json.loads(as_json.output) == SERIES


def test_cli_monitoring_drift_prints_each_feature_and_reports_404() -> None:

    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/drift", httpx.Response(200, json=DRIFT))
    shown = Cli(gateway)("monitoring", "drift", S)
    assert shown.exit_code == 0, shown.output
    assert "DRIFTED" in shown.output and "wasserstein" in shown.output
    assert "(prediction)" in shown.output

    empty = FakeGateway()
    empty.on("GET", f"{BASE}/drift", problem(404, "No drift measured yet", "No window yet."))
    failed = Cli(empty)("monitoring", "drift", S)
    assert failed.exit_code == 1
