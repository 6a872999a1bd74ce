"""API keys, roles and scopes on a running gateway.

The role matrix is built from the application's own routes: a route added without a policy
fails `test_every_route_declares_a_policy`, and every declared policy is exercised for every role.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi.routing import APIRoute
from mloop_gateway.domain.access import POLICIES
from mloop_gateway.entrypoints.deps import Allow
from mloop_gateway.main import create_app
from mloop_gateway.web.session import page_user

from tests.fixtures.messaging import wait_until
from tests.fixtures.services import RunningGateway

PUBLIC = {"/api/health", "/health", "/metrics", "/api/asyncapi.json", "/api/asyncapi.yaml"}
# The dashboard's public routes: sign-in and out (which check the session themselves), the
# language switch and static files. Its pages depend on `PageUser` (policy "page" below).
PUBLIC |= {
    "/login",
    "/logout",
    "/lang/{code}",
    "/static/vendor/plotly.min.js",
    "/static/{file_path}",
}
ROLES = ("admin", "editor", "viewer", "predictor")


def _policy(route: APIRoute) -> str | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, Allow):
            return dependency.call.policy
        if dependency.call is page_user:
            return "page"
        pending.extend(dependency.dependencies)
    return None


def _api_routes(routes: list, prefix: str = "") -> list[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, looking inside included routers (which FastAPI may
    keep as wrappers around the original router)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((prefix + route.path_format, route))
        elif hasattr(route, "original_router"):
            found += _api_routes(
                route.original_router.routes, prefix + route.include_context.prefix
            )
    return found


@pytest.fixture(scope="module")
def routes(gateway: RunningGateway) -> list[tuple[str, str, str | None]]:
    app = create_app(gateway.settings)
    found = [
        (method, path, _policy(route))
        for path, route in _api_routes(app.routes)
        for method in sorted(route.methods)
    ]
    documented = {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }
    assert documented <= {(method, path) for method, path, _ in found}, "routes missed"
    return found


@pytest.fixture(scope="module")
def role_keys(gateway: RunningGateway) -> dict[str, str]:
    with gateway.client() as admin:
        return {
            role: admin.post("/api/keys", json={"name": f"matrix {role}", "role": role}).json()[
                "key"
            ]
            for role in ROLES
        }


def _concrete(path: str) -> str:
    """Fill path parameters with ids that exist nowhere, so allowed calls change nothing."""
    return re.sub(
        r"\{(\w+)\}", lambda m: "x.csv" if m[1] == "file_path" else str(uuid.uuid4()), path
    )


def test_every_route_declares_a_policy(routes: list[tuple[str, str, str | None]]) -> None:
    missing = [
        f"{method} {path}"
        for method, path, policy in routes
        if policy is None and path not in PUBLIC
    ]
    assert not missing, f"routes without a policy: {missing}"
    assert {policy for *_, policy in routes} >= {"admin", "editor", "viewer"}


def test_role_matrix(
    gateway: RunningGateway, routes: list[tuple[str, str, str | None]], role_keys: dict[str, str]
) -> None:
    failures = []
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for method, path, policy in routes:
            if policy is None:
                continue
            url = _concrete(path)
            if policy == "page":  # a page: signed-in sessions only, else to the sign-in form
                anonymous = client.request(method, url)
                if anonymous.status_code != 303 or not anonymous.headers["location"].startswith(
                    "/login"
                ):
                    failures.append(f"{method} {path} signed out: {anonymous.status_code}")
                continue
            body = {"json": {}} if method in ("POST", "PUT") else {}
            anonymous = client.request(method, url, **body)
            if anonymous.status_code != 401:
                failures.append(f"{method} {path} without a key: {anonymous.status_code}")
            forged = client.request(method, url, headers={"Authorization": "Bearer forged"}, **body)
            if forged.status_code != 401:
                failures.append(f"{method} {path} with a forged key: {forged.status_code}")
            for role, key in role_keys.items():
                answer = client.request(
                    method, url, headers={"Authorization": f"Bearer {key}"}, **body
                )
                allowed = role in POLICIES[policy]
                if allowed and answer.status_code in (401, 403, 500):
                    failures.append(
                        f"{method} {path} as {role}: {answer.status_code} {answer.text}"
                    )
                if not allowed and answer.status_code != 403:
                    failures.append(f"{method} {path} as {role}: {answer.status_code}, not 403")
                if answer.status_code >= 400:
                    assert answer.headers["content-type"] == "application/problem+json"
    assert not failures, "\n".join(failures)


def test_public_endpoints_need_no_key(gateway: RunningGateway) -> None:
    for path in ("/api/health", "/docs", "/openapi.json"):
        assert httpx.get(gateway.url + path, timeout=30).status_code == 200, path


def test_keys_are_shown_once_and_revocable(gateway: RunningGateway) -> None:
    with gateway.client() as admin:
        created = admin.post("/api/keys", json={"name": "app", "role": "viewer"})
        assert created.status_code == 201
        secret, key_id = created.json()["key"], created.json()["id"]
        listed = admin.get("/api/keys").json()["items"]
        assert key_id in {key["id"] for key in listed}
        assert all("key" not in key for key in listed)
        assert secret not in admin.get("/api/keys").text
        with gateway.client(secret) as viewer:
            assert viewer.get("/api/scenarios").status_code == 200
            assert admin.delete(f"/api/keys/{key_id}").status_code == 204
            refused = viewer.get("/api/scenarios")
        assert refused.status_code == 401
        assert refused.json()["detail"] == "The API key is unknown or revoked."
        assert admin.delete(f"/api/keys/{uuid.uuid4()}").status_code == 404
        invalid = admin.post("/api/keys", json={"name": "", "role": "root", "extra": 1})
        assert invalid.status_code == 422
        assert {tuple(e["loc"]) for e in invalid.json()["errors"]} == {
            ("body", "name"),
            ("body", "role"),
            ("body", "extra"),
        }


def test_a_scoped_key_sees_only_its_scenarios(gateway: RunningGateway) -> None:
    with gateway.client() as admin:
        mine = admin.post("/api/scenarios", json={"name": "mine", "task_type": "regression"}).json()
        other = admin.post(
            "/api/scenarios", json={"name": "other", "task_type": "regression"}
        ).json()
        unknown = admin.post(
            "/api/keys", json={"name": "s", "role": "editor", "scenarios": [str(uuid.uuid4())]}
        )
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["loc"] == ["body", "scenarios"]
        scoped = admin.post(
            "/api/keys", json={"name": "scoped", "role": "editor", "scenarios": [mine["id"]]}
        ).json()
        assert scoped["scenarios"] == [mine["id"]]
    with gateway.client(scoped["key"]) as client:
        assert client.get(f"/api/scenarios/{mine['id']}").status_code == 200
        hidden = client.get(f"/api/scenarios/{other['id']}")
        assert hidden.status_code == 404
        assert client.get(f"/api/scenarios/{other['id']}/data").status_code == 404
        assert client.delete(f"/api/scenarios/{other['id']}").status_code == 404
        listed = [
            s["id"] for s in client.get("/api/scenarios", params={"limit": 200}).json()["items"]
        ]
        assert listed == [mine["id"]]
        assert (
            client.post("/api/scenarios", json={"name": "n", "task_type": "regression"}).status_code
            == 403
        )
        assert (
            client.put(f"/api/scenarios/{mine['id']}", json={"description": "ok"}).status_code
            == 200
        )


def test_admin_key_from_settings_always_exists(gateway: RunningGateway) -> None:
    with gateway.client() as admin:
        keys = admin.get("/api/keys").json()["items"]
    bootstrap = [key for key in keys if key["name"] == "bootstrap admin"]
    assert len(bootstrap) == 1 and bootstrap[0]["role"] == "admin"
    with gateway.client() as admin:
        refused = admin.delete(f"/api/keys/{bootstrap[0]['id']}")
        assert refused.status_code == 409
        assert admin.get("/api/keys").status_code == 200


async def test_another_replica_learns_new_and_revoked_keys_within_seconds(
    gateway: RunningGateway, gateway_replica: RunningGateway
) -> None:
    """Two gateways on one database and broker: keys are checked in memory, kept current by
    `KeysChanged` (and a periodic reload), so a change on one reaches the other quickly."""
    with gateway.client() as admin:
        secret = admin.post("/api/keys", json={"name": "roaming", "role": "viewer"}).json()
    with gateway_replica.client(secret["key"]) as elsewhere:

        async def status() -> int:
            return elsewhere.get("/api/scenarios").status_code

        async def accepted() -> bool:
            return await status() == 200

        async def refused() -> bool:
            return await status() == 401

        await wait_until(accepted, timeout=5)
        with gateway.client() as admin:
            assert admin.delete(f"/api/keys/{secret['id']}").status_code == 204
        await wait_until(refused, timeout=5)
