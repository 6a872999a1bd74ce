"""Dashboard pages of the closed loop: monitoring charts and the latest drift, triggers with
their firings, and the workflow editor with its runs.

The routes only render page shells; each page's script reads and changes things through the
JSON API (`/api/scenarios/{id}/monitoring`, `.../triggers`, `.../workflows`), so a page costs no
database round trip of its own.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop_gateway.web.render import page
from mloop_gateway.web.session import PageUser

router = APIRouter(include_in_schema=False)

# The monitoring page's time ranges: seconds shown and the bucket the API aggregates them by
# (about 100 to 170 points per chart, whatever the range).
RANGES = {
    "1h": (3600, "1m"),
    "6h": (6 * 3600, "5m"),
    "24h": (86400, "15m"),
    "7d": (7 * 86400, "1h"),
    "30d": (30 * 86400, "6h"),
}
Range = Literal["1h", "6h", "24h", "7d", "30d"]


@router.get("/scenarios/{scenario_id}/monitoring", response_class=HTMLResponse)
async def monitoring_page(
    request: Request,
    scenario_id: uuid.UUID,
    user: PageUser,
    range_: Annotated[Range, Query(alias="range")] = "24h",
) -> HTMLResponse:
    seconds, bucket = RANGES[range_]
    return page(
        request,
        "monitoring.html",
        user,
        title_key="monitoring.title",
        scenario_id=scenario_id,
        ranges=list(RANGES),
        range=range_,
        range_seconds=seconds,
        bucket=bucket,
    )


@router.get("/scenarios/{scenario_id}/triggers", response_class=HTMLResponse)
async def triggers_page(request: Request, scenario_id: uuid.UUID, user: PageUser) -> HTMLResponse:
    return page(request, "triggers.html", user, title_key="triggers.title", scenario_id=scenario_id)


@router.get("/scenarios/{scenario_id}/workflows", response_class=HTMLResponse)
async def workflows_page(
    request: Request,
    scenario_id: uuid.UUID,
    user: PageUser,
    kind: Literal["train", "predict"] = "train",
) -> HTMLResponse:
    return page(
        request,
        "workflows.html",
        user,
        title_key="workflows.title",
        scenario_id=scenario_id,
        kind=kind,
    )
