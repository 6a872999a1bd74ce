"""`/api/scenarios/{id}/predictions`: the prediction log, its cleanup, and batch predictions.

The `/predictions/batch...` routes come before `/predictions/{prediction_id}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from mloop_common.db.prediction_reads import PredictionPosition
from mloop_common.problems import Problem, invalid
from mloop_common.tabular import CsvRejected
from pydantic import ValidationError

from mloop_gateway.adapters.multipart import FormError, MultipartStream
from mloop_gateway.adapters.uploads import TooLarge
from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.paging import After, Limit, page_of
from mloop_gateway.entrypoints.prediction_schemas import (
    Arm,
    BatchCreate,
    BatchPublic,
    CleanupAccepted,
    PredictionCleanup,
    PredictionDetail,
    PredictionPublic,
    ShadowPublic,
)
from mloop_gateway.entrypoints.schemas import Page
from mloop_gateway.handlers import batches, predictions

router = APIRouter(prefix="/api/scenarios/{scenario_id}/predictions", tags=["predictions"])

BATCH_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": BatchCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model_id": {
                            "type": "string",
                            "format": "uuid",
                            "description": "Default: the champion when the job starts.",
                        },
                        "encoding": {"type": "string", "description": "Default: detected."},
                        "delimiter": {"type": "string", "description": "Default: detected."},
                    },
                }
            },
        },
    }
}


# --- batch prediction ---


def batch_public(view: batches.BatchView) -> BatchPublic:
    return BatchPublic.model_validate(view.public() | {"output_url": batches.output_url(view)})


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchPublic,
    openapi_extra=BATCH_SCHEMA,
)
async def request_batch(
    scenario_id: uuid.UUID, request: Request, gw: Ctx, caller: Editor
) -> BatchPublic:
    """Score a dataset version (JSON `{"dataset_id", "model_id"?}`) or an uploaded CSV
    (multipart: `file`, optional `model_id`, `encoding`, `delimiter`); the predictor does it in
    the background. Without a model, the scenario's champion when the job starts scores it."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        view = await _from_upload(gw, caller, scenario_id, request, content_type)
    elif content_type.startswith("application/json") or not content_type:
        body = await _batch_body(request)
        view = await batches.from_dataset(
            gw, caller, scenario_id, dataset_id=body.dataset_id, model_id=body.model_id
        )
    else:
        raise Problem(
            415, "Unsupported media type", "Send JSON (a dataset version) or multipart (a file)."
        )
    return batch_public(view)


async def _batch_body(request: Request) -> BatchCreate:
    try:
        return BatchCreate.model_validate_json(await request.body())
    except ValidationError as err:
        errors = [
            {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in err.errors()
        ]
        raise Problem(
            422, "Invalid request", "The request does not match its schema.", errors=errors
        ) from err


async def _from_upload(
    gw: Ctx, caller: Editor, scenario_id: uuid.UUID, request: Request, content_type: str
) -> batches.BatchView:
    limit = gw.settings.upload_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 65536:
        raise _too_large(limit)
    try:
        form = MultipartStream(content_type, file_field="file", text_fields=batches.UPLOAD_FIELDS)
        return await batches.from_upload(gw, caller, scenario_id, form=form, body=request.stream())
    except FormError as err:
        status_code = 415 if err.type == "media_type" else 422
        title = "Unsupported media type" if status_code == 415 else "Invalid upload"
        raise Problem(
            status_code, title, err.msg, errors=[{"loc": err.loc, "msg": err.msg, "type": err.type}]
        ) from err
    except TooLarge as err:
        raise _too_large(err.limit) from err
    except CsvRejected as err:
        raise Problem(422, err.title, err.detail, errors=err.errors) from err


def _too_large(limit: int) -> Problem:
    return Problem(
        413, "Upload too large", f"Files up to {limit} bytes are accepted (MLOOP_UPLOAD_MAX_BYTES)."
    )


@router.get("/batch", response_model=Page[BatchPublic])
async def list_batches(
    scenario_id: uuid.UUID, gw: Ctx, caller: Viewer, after: After, limit: Limit = 50
) -> Page[BatchPublic]:
    found = await batches.page(gw, caller, scenario_id, limit=limit, after=after)
    return page_of(found, limit, batch_public)


@router.get("/batch/{job_id}", response_model=BatchPublic)
async def get_batch(
    scenario_id: uuid.UUID, job_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> BatchPublic:
    """A batch job: queued, running (with progress), succeeded (with its output) or failed."""
    return batch_public(await batches.get(gw, caller, scenario_id, job_id))


@router.get(
    "/batch/{job_id}/output",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, 409: {"description": "Not succeeded (yet)."}},
)
async def download_output(
    scenario_id: uuid.UUID, job_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> StreamingResponse:
    """The output CSV: the input's columns, then the prediction's."""
    view, size, chunks = await batches.output(gw, caller, scenario_id, job_id)
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="predictions-{view.id}.csv"',
            **({"X-Content-SHA256": view.job.output_sha256} if view.job.output_sha256 else {}),
        },
    )


# --- the prediction log ---


def _encode_position(row: PredictionPublic) -> str:
    raw = json.dumps([row.predicted_at.isoformat(), row.prediction_id, row.arm]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _position(
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> PredictionPosition | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, prediction_id, arm = json.loads(raw)
        moment = datetime.fromisoformat(at)
        if not (isinstance(prediction_id, str) and isinstance(arm, str)) or moment.tzinfo is None:
            raise TypeError("bad cursor fields")
    except (binascii.Error, ValueError, TypeError, AttributeError) as err:
        message = "the cursor is not one this API returned"
        raise invalid(["query", "cursor"], message, "cursor") from err
    return moment, prediction_id, arm


@router.post("/cleanup", status_code=status.HTTP_202_ACCEPTED, response_model=CleanupAccepted)
async def cleanup(
    scenario_id: uuid.UUID, body: PredictionCleanup, gw: Ctx, caller: Editor
) -> CleanupAccepted:
    """Delete the scenario's predictions older than an age or a moment (the monitor does it)."""
    before = await predictions.cleanup(
        gw,
        caller,
        scenario_id,
        older_than=body.older_than,
        older_than_days=body.older_than_days,
    )
    return CleanupAccepted(older_than=before)


@router.get("", response_model=Page[PredictionPublic])
async def list_predictions(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: Annotated[PredictionPosition | None, Depends(_position)],
    limit: Limit = 50,
    since: Annotated[datetime | None, Query(description="Made at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Made before (ISO 8601).")] = None,
    model_id: uuid.UUID | None = None,
    arm: Arm | None = None,
) -> Page[PredictionPublic]:
    """Logged predictions, newest first (a shadow's row beside its champion's)."""
    found = await predictions.page(
        gw,
        caller,
        scenario_id,
        limit=limit,
        after=after,
        since=since,
        until=until,
        model_id=model_id,
        arm=arm,
    )
    items = [PredictionPublic.model_validate(row, from_attributes=True) for row in found]
    last = items[-1] if len(items) == limit else None
    return Page(items=items, next_cursor=_encode_position(last) if last else None)


@router.get("/{prediction_id}", response_model=PredictionDetail)
async def get_prediction(
    scenario_id: uuid.UUID,
    prediction_id: str,
    gw: Ctx,
    caller: Viewer,
) -> PredictionDetail:
    """One prediction by the id it was answered with, and its shadow's output if any."""
    rows = await predictions.get(gw, caller, scenario_id, prediction_id)
    answer, *others = rows
    shadow = next((row for row in others if row.arm == "shadow"), None)
    return PredictionDetail.model_validate(
        PredictionPublic.model_validate(answer, from_attributes=True).model_dump()
        | {"shadow": ShadowPublic.model_validate(shadow, from_attributes=True) if shadow else None}
    )
