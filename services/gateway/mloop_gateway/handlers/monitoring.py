"""Monitoring (the monitor computes it): the time series of a scenario's windows and the drift
of its latest measured window."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from mloop_common.db.monitoring import (
    MonitoringWindow,
    SeriesPoint,
    bucket_series,
    latest_drift,
    window_series,
)
from mloop_common.keyring import Grant
from mloop_common.monitoring import effective
from mloop_common.problems import Problem, invalid

from mloop_gateway.context import Gateway
from mloop_gateway.handlers import scenarios
from mloop_gateway.handlers.predictions import aware

DEFAULT_SPAN = timedelta(hours=24)
MAX_BUCKET = 90 * 86400
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
BUCKET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def bucket_seconds(raw: str | None) -> float | None:
    """`bucket` as seconds: a number of seconds, or with a unit (`30s`, `5m`, `1h`, `1d`)."""
    if raw is None or raw == "":
        return None
    found = BUCKET.match(raw.lower())
    if found is None:
        raise invalid(
            ["query", "bucket"], "a bucket is seconds or a number with s, m, h or d (e.g. 5m)"
        )
    seconds = float(found.group(1)) * UNITS[found.group(2)]
    if not 1 <= seconds <= MAX_BUCKET:
        raise invalid(["query", "bucket"], "a bucket is between 1 second and 90 days")
    return seconds


async def series(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    since: datetime | None,
    until: datetime | None,
    model_id: uuid.UUID | None,
    bucket: float | None,
    limit: int,
) -> tuple[datetime, datetime, list[SeriesPoint]]:
    """The windows (or buckets of windows) ending in [since, until); by default the last day."""
    end = aware(until) or datetime.now(UTC) + timedelta(seconds=1)
    start = aware(since) or end - DEFAULT_SPAN
    if start >= end:
        raise invalid(["query", "since"], "since must be before until")
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        if bucket is None:
            found = await window_series(
                session, scenario_id, since=start, until=end, model_id=model_id, limit=limit
            )
        else:
            found = await bucket_series(
                session,
                scenario_id,
                since=start,
                until=end,
                bucket_seconds=bucket,
                model_id=model_id,
                limit=limit,
            )
    return start, end, found


async def drift(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, model_id: uuid.UUID | None
) -> MonitoringWindow:
    """The latest window whose drift was measured; 404 saying why when there is none yet."""
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id)
        window = await latest_drift(session, scenario_id, model_id=model_id)
    if window is None:
        needed = effective(gw.settings, scenario.monitoring).min_predictions
        of = f" of model {model_id}" if model_id else ""
        raise Problem(
            404,
            "No drift measured yet",
            f"No monitoring window{of} with drift measured yet: drift needs a champion and at "
            f"least {needed} predictions in a window (the scenario's min_predictions).",
        )
    return window
