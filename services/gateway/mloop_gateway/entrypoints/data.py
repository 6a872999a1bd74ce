"""`/api/scenarios/{id}/data` and `/datasets`: uploads, versions, previews, profiles, columns."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from mloop_common.problems import Problem
from mloop_common.tabular import CsvRejected

from mloop_gateway.adapters.multipart import FormError, MultipartStream
from mloop_gateway.adapters.uploads import TooLarge
from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.schemas import (
    DataFile,
    DatasetColumns,
    DatasetPublic,
    Page,
    Preview,
    Profile,
)
from mloop_gateway.handlers import data

router = APIRouter(prefix="/api/scenarios/{scenario_id}", tags=["data"])

UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "path": {"type": "string", "description": "Default: the file name."},
                        "target": {"type": "string", "description": "The target column."},
                    },
                }
            }
        },
    }
}


@router.post(
    "/data",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetPublic,
    openapi_extra=UPLOAD_SCHEMA,
    responses={200: {"description": "The same bytes were already uploaded to this path."}},
)
async def upload(
    scenario_id: uuid.UUID, request: Request, response: Response, gw: Ctx, caller: Editor
) -> DatasetPublic:
    """Upload a CSV as a new immutable version of a data path (streamed, bounded memory)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > gw.settings.upload_max_bytes + 65536:
        raise _too_large(gw.settings.upload_max_bytes)
    try:
        form = MultipartStream(
            request.headers.get("content-type", ""),
            file_field="file",
            text_fields={"path", "target"},
        )
        version, created = await data.upload(
            gw, caller, scenario_id, form=form, body=request.stream()
        )
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
    if not created:
        response.status_code = status.HTTP_200_OK
    return DatasetPublic.model_validate(version)


def _too_large(limit: int) -> Problem:
    return Problem(
        413, "Upload too large", f"Files up to {limit} bytes are accepted (MLOOP_UPLOAD_MAX_BYTES)."
    )


@router.get("/data", response_model=Page[DataFile])
async def list_files(scenario_id: uuid.UUID, gw: Ctx, caller: Viewer) -> Page[DataFile]:
    found = await data.files(gw, caller, scenario_id)
    return Page(
        items=[DataFile.model_validate(entry, from_attributes=True) for entry in found],
        next_cursor=None,
    )


# The sub-resource routes come before the catch-all `{file_path:path}` one.


@router.get("/data/{file_path:path}/versions", response_model=Page[DatasetPublic])
async def list_versions(
    scenario_id: uuid.UUID, file_path: str, gw: Ctx, caller: Viewer
) -> Page[DatasetPublic]:
    path = data.data_path(file_path, ["path", "file_path"])
    found = await data.versions(gw, caller, scenario_id, path)
    return Page(items=[DatasetPublic.model_validate(v) for v in found], next_cursor=None)


@router.get("/data/{file_path:path}/preview", response_model=Preview)
async def preview(
    scenario_id: uuid.UUID,
    file_path: str,
    gw: Ctx,
    caller: Viewer,
    rows: Annotated[int, Query(ge=1, le=1000)] = 20,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Preview:
    path = data.data_path(file_path, ["path", "file_path"])
    found = await data.version(gw, caller, scenario_id, path, version)
    columns, values = await data.preview(gw, found, rows)
    return Preview(dataset_id=found.id, columns=columns, rows=values)


@router.get("/data/{file_path:path}/profile", response_model=Profile)
async def profile(
    scenario_id: uuid.UUID,
    file_path: str,
    gw: Ctx,
    caller: Viewer,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Profile:
    path = data.data_path(file_path, ["path", "file_path"])
    found = await data.version(gw, caller, scenario_id, path, version, with_profile=True)
    return Profile(
        dataset_id=found.id,
        status=found.profile_status,  # type: ignore[arg-type]
        error=found.profile_error,
        profile=found.profile,
    )


@router.get("/data/{file_path:path}", response_model=DataFile)
async def get_file(scenario_id: uuid.UUID, file_path: str, gw: Ctx, caller: Viewer) -> DataFile:
    path = data.data_path(file_path, ["path", "file_path"])
    found = await data.versions(gw, caller, scenario_id, path)
    return DataFile(path=path, versions=len(found), latest=DatasetPublic.model_validate(found[0]))


@router.delete("/data/{file_path:path}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_file(
    scenario_id: uuid.UUID, file_path: str, gw: Ctx, caller: Editor, force: bool = False
) -> None:
    path = data.data_path(file_path, ["path", "file_path"])
    await data.remove_path(gw, caller, scenario_id, path, force=force)


@router.get("/datasets/{dataset_id}", response_model=DatasetPublic)
async def get_dataset(
    scenario_id: uuid.UUID, dataset_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> DatasetPublic:
    return DatasetPublic.model_validate(await data.dataset(gw, caller, scenario_id, dataset_id))


@router.get("/datasets/{dataset_id}/columns", response_model=DatasetColumns)
async def dataset_columns(
    scenario_id: uuid.UUID, dataset_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> DatasetColumns:
    """The columns of one dataset version: what a feature-set form offers."""
    found = await data.dataset(gw, caller, scenario_id, dataset_id)
    return DatasetColumns(dataset_id=found.id, columns=found.columns)  # type: ignore[arg-type]
