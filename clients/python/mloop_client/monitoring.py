"""`MonitoringMethods`: the monitor's windows and drift through the gateway. `MLoopClient`
mixes it in."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mloop_client._paths import given as _given
from mloop_client._paths import scenario_path as _at

JSON = Any


def _moment(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class MonitoringMethods:
    """Monitoring calls; the host (`MLoopClient`) provides `_request`."""

    if TYPE_CHECKING:

        def _request(self, method: str, path: str, **kwargs: Any) -> JSON: ...

    def monitoring(
        self,
        scenario_id: str,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        model_id: str | None = None,
        bucket: str | int | None = None,
        limit: int | None = None,
    ) -> JSON:
        """The scenario's monitoring windows ending in [since, until) (default: the last day),
        oldest first: `{"since", "until", "bucket_seconds", "items": [{"start", "end",
        "model_id", "arm", "windows", "predictions", "latency_ms": {"p50", "p95", "p99"},
        "labelled", "metrics", "drifted", "drifted_share", "drift": {feature: score},
        "drifted_features"}]}`. `bucket` (seconds, or "30s", "5m", "1h", "1d") aggregates the
        windows of each time bucket."""
        params = _given(
            since=_moment(since),
            until=_moment(until),
            model_id=model_id,
            bucket=None if bucket is None else str(bucket),
            limit=limit,
        )
        return self._request("GET", _at(scenario_id, "monitoring"), params=params)

    def drift(self, scenario_id: str, *, model_id: str | None = None) -> JSON:
        """Drift of the latest window where it was measured: `{"drifted", "drifted_share",
        "model_id", "window": {"start", "end", "arm", "predictions", "computed_at"},
        "features": {name: {"method", "score", "drifted", "statistics"}}, "prediction"}`.
        Raises `MLoopError` (404) before the first such window."""
        params = _given(model_id=model_id)
        return self._request("GET", _at(scenario_id, "monitoring", "drift"), params=params)
