"""`GET /api/asyncapi.{json,yaml}`: the message catalogue, for apps that talk to Kafka."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Response
from mloop_common import asyncapi

router = APIRouter(tags=["catalogue"])


@cache
def _document(kind: str) -> str:
    return asyncapi.as_json() if kind == "json" else asyncapi.as_yaml()


@router.get("/api/asyncapi.json")
async def asyncapi_json() -> Response:
    """The AsyncAPI 3 document of every topic and message (open to all, like /docs)."""
    return Response(_document("json"), media_type="application/json")


@router.get("/api/asyncapi.yaml")
async def asyncapi_yaml() -> Response:
    """The same document as YAML."""
    return Response(_document("yaml"), media_type="application/yaml")
