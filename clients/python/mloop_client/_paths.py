"""URL paths and query parameters shared by the client's methods."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def segment(value: object) -> str:
    return quote(str(value), safe="")


def scenario_path(scenario_id: str, *segments: object) -> str:
    """A path under a scenario, each segment escaped: `scenario_path(sid, "runs", run_id)`."""
    return "/".join(["/api/scenarios", *(segment(part) for part in (scenario_id, *segments))])


def page(limit: int | None, cursor: str | None) -> dict[str, Any]:
    return given(limit=limit, cursor=cursor)


def given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}
