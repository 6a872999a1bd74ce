"""The predictor's HTTP: the predict lane and the admin view of what it serves.

`PredictLane` wraps the whole FastAPI app (it is what `create_app` returns, and passes every
attribute through to the app, so `app.state`, `app.routes`, `app.openapi()` work): it answers
`POST /api/scenarios/{scenario_id}/predict` itself (the gateway's path, so apps can call either)
and hands every other request to the FastAPI app. The predict request so skips FastAPI's routing,
dependency injection and Pydantic, and the app's middleware (the OpenTelemetry span per request,
which the instrumentation puts around the whole middleware stack, the body-limit and latency
middlewares): its latency is still observed in the same Prometheus
histogram (route label `/api/scenarios/{scenario_id}/predict`), its body is capped at
`request_max_bytes` (413) here, and no span is made for it (a span per request cost a measurable
share of the request's time; traces of the logged predictions start at the flusher).

Auth: `Authorization: Bearer <key>` checked against the in-memory key ring (401 unknown or
revoked, 403 for a role other than admin, editor or predictor); a key limited to some scenarios
gets 404 for the others, as for a scenario that does not exist. All errors are problem+json.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from mloop_common.keyring import PREDICT_ROLES
from mloop_common.problems import PROBLEM_JSON, Problem
from starlette.types import ASGIApp, Receive, Scope, Send

from mloop_predictor import handlers
from mloop_predictor.context import Predictor

log = logging.getLogger(__name__)

_PREFIX = "/api/scenarios/"
_SUFFIX = "/predict"
_JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", PROBLEM_JSON.encode())]


def _problem_body(problem: Problem) -> bytes:
    body: dict[str, Any] = {"type": problem.type, "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    if problem.errors is not None:
        body["errors"] = problem.errors
    return orjson.dumps(body)


class PredictLane:
    def __init__(self, app: ASGIApp, *, predictor: Predictor) -> None:
        self.app = app
        self.ctx = predictor
        self.max_bytes = predictor.settings.request_max_bytes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.endswith(_SUFFIX)
            or not path.startswith(_PREFIX)
            or scope["method"] != "POST"
        ):
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 200
        try:
            body = await self._body(scope, receive)
            grant = self._grant(scope)
            served = self._served_or_none(path)
            if served is None or not grant.sees(served.scenario_id):
                served = await self._unserved(path, grant)
            transform = self.ctx.transforms.by_scenario.get(served.scenario_id)
            answer = handlers.predict(self.ctx, served, body, started, transform=transform)
            headers = _JSON
        except Problem as problem:
            status, headers, answer = problem.status, _PROBLEM, _problem_body(problem)
        except Exception:
            log.exception("predict failed on %s", path)
            status, headers = 500, _PROBLEM
            answer = _problem_body(Problem(500, "Internal error", "See the service log."))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(answer)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer})
        self.ctx.metrics.observe(status, time.perf_counter() - started)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    raise _too_large(limit)
                break
        chunks = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _grant(self, scope: Scope) -> Any:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, secret = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not secret:
                    break
                grant = self.ctx.keyring.lookup(secret.strip())
                if grant is None:
                    raise Problem(401, "Unauthorized", "The API key is unknown or revoked.")
                if grant.role not in PREDICT_ROLES:
                    raise Problem(403, "Forbidden", "This needs a key with the predictor role.")
                return grant
        raise Problem(401, "Unauthorized", "Send an API key as `Authorization: Bearer <key>`.")

    def _served_or_none(self, path: str) -> Any:
        return self.ctx.deployments.by_path.get(path[len(_PREFIX) : -len(_SUFFIX)])

    async def _unserved(self, path: str, grant: Any) -> Any:
        """A scenario this predictor serves nothing for (or the key may not see): 404 when it
        does not exist (or is hidden from the key), 409 without a champion, 503 when its
        deployment was refused."""
        text = path[len(_PREFIX) : -len(_SUFFIX)]
        try:
            scenario_id = uuid.UUID(text)
        except ValueError:
            raise Problem(404, "Not found", f"No scenario {text}.") from None
        deployments = self.ctx.deployments
        if not grant.sees(scenario_id):
            raise Problem(404, "Not found", f"No scenario {scenario_id}.")
        served = deployments.entries.get(scenario_id)
        if served is not None:
            return served
        if not await deployments.exists(scenario_id):
            raise Problem(404, "Not found", f"No scenario {scenario_id}.")
        refusal = deployments.refusals.get(scenario_id)
        if refusal is not None:
            raise Problem(
                503,
                "Service unavailable",
                f"the scenario's deployment cannot be served: {refusal.reason}",
            )
        raise Problem(409, "Conflict", "scenario has no champion yet")


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "Request too large",
        f"Request bodies are limited to {limit} bytes (MLOOP_REQUEST_MAX_BYTES).",
    )


# -- admin ---------------------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False)


def admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    if credentials is None:
        raise Problem(401, "Unauthorized", "Send an API key as `Authorization: Bearer <key>`.")
    predictor: Predictor = request.app.state.predictor
    grant = predictor.keyring.lookup(credentials.credentials)
    if grant is None:
        raise Problem(401, "Unauthorized", "The API key is unknown or revoked.")
    if grant.role != "admin":
        raise Problem(403, "Forbidden", "This needs a key with the admin role.")


router = APIRouter(tags=["predictor"])


@router.get("/api/deployments", dependencies=[Depends(admin)])
async def deployments(request: Request) -> dict[str, Any]:
    """What this predictor serves per scenario: the deployment state, each model (with its
    sha256 and whether the fast path serves it), a version still loading, the last refusal,
    the predict workflow applied to the records; and the prediction log's counters."""
    predictor: Predictor = request.app.state.predictor
    log_ = predictor.log
    scenarios = predictor.deployments.describe()
    for entry in scenarios:
        entry["predict_workflow"] = predictor.transforms.describe(uuid.UUID(entry["scenario_id"]))
    return {
        "scenarios": scenarios,
        "prediction_log": {
            "buffered": len(log_.buffer),
            "sent": log_.sent,
            "dropped": log_.dropped,
            "failed": log_.failed,
        },
    }
