"""`POST /api/scenarios/{scenario_id}/feedback`: observed outcomes for earlier predictions.

Items are taken leniently (any JSON value) so one malformed item is refused on its own rather
than failing the request; a body that is not `{"items": [...]}` is a 422.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from mloop_common.keyring import Grant
from pydantic import BaseModel, Field

from mloop_gateway.entrypoints.deps import Allow, Ctx
from mloop_gateway.entrypoints.schemas import Strict
from mloop_gateway.handlers import feedback

router = APIRouter(prefix="/api/scenarios/{scenario_id}", tags=["feedback"])

Predictor = Annotated[Grant, Depends(Allow("predictor"))]

ITEM_SCHEMA = {
    "type": "object",
    "required": ["prediction_id", "actual"],
    "additionalProperties": False,
    "properties": {
        "prediction_id": {
            "type": "string",
            "description": "The prediction_id the predict call answered with.",
        },
        "actual": {
            "description": "The observed outcome, of the task's type: a label (classification), "
            "a number (regression), true/false (anomaly detection), a number or a list of "
            "numbers (forecasting), an item or a list of items (recommendation).",
        },
    },
}


class FeedbackRequest(Strict):
    items: list[Any] = Field(
        min_length=1,
        description="Feedback items, at most MLOOP_FEEDBACK_MAX_ITEMS (default 1000).",
        json_schema_extra={"items": ITEM_SCHEMA},
    )


class FeedbackRefusal(BaseModel):
    index: int = Field(description="The item's place in `items` (from 0).")
    prediction_id: str | None = Field(description="Its prediction id, when it gave a string.")
    reason: str = Field(
        description="Why: malformed, unknown or forged prediction id, prediction past "
        "retention, or wrong type for the scenario's task."
    )


class FeedbackAccepted(BaseModel):
    accepted: int = Field(description="Items accepted, to be stored by the monitor.")
    refused: list[FeedbackRefusal] = Field(description="Items refused, with the reason.")


@router.post("/feedback", status_code=status.HTTP_202_ACCEPTED, response_model=FeedbackAccepted)
async def send_feedback(
    scenario_id: uuid.UUID, body: FeedbackRequest, gw: Ctx, caller: Predictor
) -> FeedbackAccepted:
    """Send observed outcomes for earlier predictions (keys with the admin, editor or
    predictor role). Answers 202 with how many items were accepted and which were refused and
    why; the monitor stores the accepted ones (the last feedback on a prediction wins)."""
    received = await feedback.receive(gw, caller, scenario_id, body.items)
    return FeedbackAccepted(
        accepted=received.accepted,
        refused=[
            FeedbackRefusal(index=r.index, prediction_id=r.prediction_id, reason=r.reason)
            for r in received.refused
        ],
    )
