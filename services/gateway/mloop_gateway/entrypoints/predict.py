"""`POST /api/scenarios/{scenario_id}/predict`: online prediction, forwarded to the predictor.

The gateway checks the key as for every route (in memory: the `predictor` policy, 401/403), and
a key limited to other scenarios gets 404; it does not look the scenario up in Postgres (the
predictor answers 404 for an unknown scenario and 409 without a champion). The raw body goes to
the predictor over a pooled keep-alive connection with the caller's Authorization header, and
the predictor's status, content type and body come back unchanged. Unreachable predictor: 503;
no answer within `predictor_timeout`: 504 (problem+json).

`PredictForward` wraps the whole FastAPI app (`create_app` returns it; every attribute passes
through to the app) and serves the path itself, so a prediction skips FastAPI's routing and
dependencies, the idempotency and body-limit middlewares (it caps the body itself, 413) and the
per-request span the instrumentation puts around the whole middleware stack; it still records
the latency histogram. The FastAPI route below documents
the endpoint in the OpenAPI schema and serves it the same way if the middleware is not installed.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from mloop_common.keyring import Grant, KeyRing
from mloop_common.problems import PROBLEM_JSON, Problem
from prometheus_client import Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from mloop_gateway.adapters.predictor import (
    PredictorClient,
    PredictorTimeout,
    PredictorUnavailable,
    Relayed,
)
from mloop_gateway.domain.access import allows
from mloop_gateway.entrypoints.deps import Allow, Ctx

ROUTE = "/api/scenarios/{scenario_id}/predict"
_PREFIX = "/api/scenarios/"
_SUFFIX = "/predict"

router = APIRouter(tags=["predictions"])


def _problem(problem: Problem) -> Relayed:
    body: dict[str, Any] = {"type": problem.type, "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    return Relayed(problem.status, PROBLEM_JSON, orjson.dumps(body))


def check(keyring: KeyRing, authorization: str | None, scenario: str) -> Grant:
    """The caller's grant for predicting on `scenario` (raises `Problem` 401/403/404)."""
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Problem(401, "Unauthorized", "Send an API key as `Authorization: Bearer <key>`.")
    grant = keyring.lookup(secret.strip())
    if grant is None:
        raise Problem(401, "Unauthorized", "The API key is unknown or revoked.")
    if not allows("predictor", grant.role):
        raise Problem(403, "Forbidden", "This needs a key with the predictor role.")
    try:
        scenario_id = uuid.UUID(scenario)
    except ValueError:
        raise Problem(404, "Not found", f"No scenario {scenario}.") from None
    if not grant.sees(scenario_id):
        raise Problem(404, "Not found", f"No scenario {scenario_id}.")
    return grant


async def forward(
    client: PredictorClient, keyring: KeyRing, scenario: str, authorization: str, body: bytes
) -> Relayed:
    try:
        check(keyring, authorization, scenario)
        return await client.post(
            f"{_PREFIX}{scenario}{_SUFFIX}",
            body,
            {"authorization": authorization, "content-type": "application/json"},
        )
    except Problem as problem:
        return _problem(problem)
    except PredictorUnavailable as err:
        return _problem(Problem(503, "Service unavailable", f"The predictor is unreachable: {err}"))
    except PredictorTimeout as err:
        return _problem(Problem(504, "Gateway timeout", f"The predictor gave no answer: {err}"))


class PredictForward:
    def __init__(
        self,
        app: ASGIApp,
        *,
        client: PredictorClient,
        keyring: KeyRing,
        max_bytes: int,
        latency: Histogram,
    ) -> None:
        self.app, self.client, self.keyring, self.max_bytes = app, client, keyring, max_bytes
        self.latency = latency
        self._children: dict[int, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.endswith(_SUFFIX)
            or not path.startswith(_PREFIX)
            or "/" in path[len(_PREFIX) : -len(_SUFFIX)]  # .../workflows/predict is not predict
            or scope["method"] != "POST"
        ):
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        authorization = ""
        declared = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        body = await self._body(receive, declared)
        if body is None:
            answer = _problem(
                Problem(
                    413,
                    "Request too large",
                    f"Request bodies are limited to {self.max_bytes} bytes "
                    "(MLOOP_REQUEST_MAX_BYTES).",
                )
            )
        else:
            scenario = path[len(_PREFIX) : -len(_SUFFIX)]
            answer = await forward(self.client, self.keyring, scenario, authorization, body)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", answer.content_type.encode("latin-1")),
                    (b"content-length", str(len(answer.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
        child = self._children.get(answer.status)
        if child is None:
            child = self._children[answer.status] = self.latency.labels(
                "POST", ROUTE, str(answer.status)
            )
        child.observe(time.perf_counter() - started)

    async def _body(self, receive: Receive, declared: bytes | None) -> bytes | None:
        """The whole body, or None when it is larger than allowed."""
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@router.post(
    ROUTE,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["records"],
                        "properties": {
                            "records": {"type": "array", "items": {"type": "object"}},
                            "k": {"type": "integer", "description": "Recommendation: top k."},
                        },
                    }
                }
            },
        }
    },
)
async def predict(
    scenario_id: str,
    request: Request,
    gw: Ctx,
    caller: Annotated[Grant, Depends(Allow("predictor"))],
) -> Response:
    """Predict with the scenario's champion (and challenger under an A/B test): answers
    `{"model_id", "predictions": [{"prediction_id", "prediction", ...}]}`. Needs a key with
    the admin, editor or predictor role."""
    client: PredictorClient = request.app.state.predictor_client
    answer = await forward(
        client,
        gw.keyring,
        scenario_id,
        request.headers.get("authorization", ""),
        await request.body(),
    )
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)
