"""`/api/scenarios/{id}/workflows/{train|predict}`: define workflows in YAML, read them back."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from mloop_common.problems import Problem, invalid
from mloop_common.workflows.source import MAX_SOURCE_BYTES
from pydantic import BaseModel, Field

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.schemas import Page
from mloop_gateway.handlers import workflows

router = APIRouter(tags=["workflows"])

Kind = Literal["train", "predict"]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


class StepSummary(BaseModel):
    name: str
    type: str
    needs: list[str]


class WorkflowVersion(BaseModel):
    id: uuid.UUID
    scenario_id: uuid.UUID
    kind: Kind
    version: int
    steps: list[StepSummary] = Field(description="The steps in the order they can run.")
    created_by: uuid.UUID | None
    created_at: datetime


class WorkflowPublic(WorkflowVersion):
    source: str = Field(description="The YAML as it was sent.")
    spec: dict[str, Any] = Field(
        description="The validated spec: steps in a topological order, configs normalised."
    )


def _version(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "scenario_id": row.scenario_id,
        "kind": row.kind,
        "version": row.version,
        "steps": workflows.steps_summary(row),
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


def _public(row: Any) -> WorkflowPublic:
    return WorkflowPublic(**_version(row), source=row.source, spec=row.spec)


_BODY = {
    "requestBody": {
        "required": True,
        "description": "The workflow in YAML (application/yaml, text/yaml or text/plain), or "
        'JSON `{"yaml": "..."}`.',
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"yaml": {"type": "string"}},
                    "required": ["yaml"],
                }
            },
        },
    }
}


@router.post(
    "/api/scenarios/{scenario_id}/workflows/{kind}",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkflowPublic,
    openapi_extra=_BODY,
)
async def define_workflow(
    scenario_id: uuid.UUID, kind: Kind, request: Request, gw: Ctx, caller: Editor
) -> WorkflowPublic:
    """Store the next version of the scenario's train or predict workflow. Refused with 422
    listing every fault as `{path, line, column, message}` (1-based line and column)."""
    text = await _yaml_of(request)
    row = await workflows.define(gw, caller, scenario_id, kind, text)
    return _public(row)


@router.get("/api/scenarios/{scenario_id}/workflows/{kind}", response_model=WorkflowPublic)
async def get_workflow(
    scenario_id: uuid.UUID,
    kind: Kind,
    gw: Ctx,
    caller: Viewer,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> WorkflowPublic:
    """The workflow in force (its latest version), or the version asked for; 404 when none."""
    return _public(await workflows.get(gw, caller, scenario_id, kind, version))


@router.get(
    "/api/scenarios/{scenario_id}/workflows/{kind}/versions",
    response_model=Page[WorkflowVersion],
)
async def list_workflow_versions(
    scenario_id: uuid.UUID, kind: Kind, gw: Ctx, caller: Viewer
) -> Page[WorkflowVersion]:
    """Every version of the kind, newest first."""
    found = await workflows.versions(gw, caller, scenario_id, kind)
    return Page(items=[WorkflowVersion(**_version(row)) for row in found], next_cursor=None)


async def _yaml_of(request: Request) -> str:
    """The YAML text of the request: the body itself, or the `yaml` field of a JSON body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (*YAML_TYPES, "application/json"):
        raise Problem(
            415,
            "Unsupported media type",
            "Send the workflow as application/yaml, text/yaml or text/plain, or as JSON "
            '{"yaml": "..."}.',
        )
    limit = MAX_SOURCE_BYTES + (64 * 1024 if media == "application/json" else 0)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem(
                413, "Request too large", f"A workflow has at most {MAX_SOURCE_BYTES} bytes."
            )
    if media == "application/json":
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise invalid(["body"], f"the body is not JSON: {error}", "json_invalid") from None
        if not isinstance(document, dict) or not isinstance(document.get("yaml"), str):
            raise invalid(["body", "yaml"], 'send {"yaml": "<the workflow>"}', "missing")
        return document["yaml"]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise invalid(["body"], f"the workflow is not UTF-8 text: {error}", "unicode") from None
