"""Dashboard sessions on a running gateway: the cookie, CSRF, roles, revocation, Bearer beside."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.fixtures.services import RunningGateway

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def _browser(gateway: RunningGateway) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, timeout=30, follow_redirects=False)


def _sign_in(client: httpx.Client, key: str, next_path: str = "/") -> httpx.Response:
    return client.post("/login", data={"key": key, "next": next_path})


def _csrf(client: httpx.Client) -> str:
    page = client.get("/")
    assert page.status_code == 200, page.text
    found = META_CSRF.search(page.text)
    assert found and found[1]
    return found[1]


@pytest.fixture(scope="module")
def keys(gateway: RunningGateway) -> dict[str, dict]:
    with gateway.client() as admin:
        return {
            role: admin.post("/api/keys", json={"name": f"web {role}", "role": role}).json()
            for role in ("editor", "viewer", "predictor")
        }


def test_signing_in_sets_a_session_cookie_that_is_not_the_key(gateway: RunningGateway) -> None:
    with _browser(gateway) as client:
        answer = _sign_in(client, gateway.admin_key, "/scenarios?tag=x")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/scenarios?tag=x"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("mloop_session=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie  # plain http here; https sets it
        value = client.cookies["mloop_session"]
        assert gateway.admin_key not in value and len(value) >= 40
        page = client.get("/")
        assert page.status_code == 200
        assert gateway.admin_key not in page.text
        assert "no-store" in page.headers["cache-control"]
        assert "script-src 'self'" in page.headers["content-security-policy"]


def test_signing_in_elsewhere_is_refused(gateway: RunningGateway) -> None:
    with _browser(gateway) as client:
        refused = client.post(
            "/login",
            data={"key": gateway.admin_key},
            headers={"Origin": "https://evil.example"},
        )
        assert refused.status_code == 403
        assert "mloop_session" not in client.cookies
        offsite = _sign_in(client, gateway.admin_key, "https://evil.example/")
        assert offsite.headers["location"] == "/"


def test_a_wrong_key_gets_the_form_again_with_a_message(gateway: RunningGateway, keys) -> None:
    with _browser(gateway) as client:
        wrong = _sign_in(client, "mlk_not-a-key")
        assert wrong.status_code == 401
        assert "unknown or has been revoked" in wrong.text
        assert "mlk_not-a-key" not in wrong.text
        assert 'name="key"' in wrong.text
        assert "mloop_session" not in client.cookies
        predictor = _sign_in(client, keys["predictor"]["key"])
        assert predictor.status_code == 403
        assert "mloop_session" not in client.cookies
        empty = client.post("/login", data={})
        assert empty.status_code == 401


def test_pages_send_visitors_without_a_session_to_sign_in(gateway: RunningGateway) -> None:
    with _browser(gateway) as client:
        home = client.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/login"
        data = client.get("/scenarios/00000000-0000-0000-0000-000000000000/data?x=1")
        assert data.status_code == 303
        assert data.headers["location"] == (
            "/login?next=%2Fscenarios%2F00000000-0000-0000-0000-000000000000%2Fdata%3Fx%3D1"
        )
        client.cookies.set("mloop_session", "forged")
        assert client.get("/scenarios").status_code == 303
        assert client.get("/api/scenarios").status_code == 401


def test_the_session_works_the_api_and_changes_need_the_csrf_token(
    gateway: RunningGateway,
) -> None:
    with _browser(gateway) as client:
        _sign_in(client, gateway.admin_key)
        assert client.get("/api/scenarios").status_code == 200
        body = {"name": "web csrf", "task_type": "regression", "deployment_policy": "manual"}
        refused = client.post("/api/scenarios", json=body)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert "X-CSRF-Token" in refused.json()["detail"]
        wrong = client.post("/api/scenarios", json=body, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        token = _csrf(client)
        created = client.post("/api/scenarios", json=body, headers={"X-CSRF-Token": token})
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        assert client.delete(f"/api/scenarios/{sid}").status_code == 403
        assert (
            client.delete(f"/api/scenarios/{sid}", headers={"X-CSRF-Token": token}).status_code
            == 204
        )


def test_the_keys_role_decides_and_revoking_it_ends_the_session(
    gateway: RunningGateway, keys
) -> None:
    with gateway.client() as admin:
        viewer = admin.post("/api/keys", json={"name": "web revoked", "role": "viewer"}).json()
    with _browser(gateway) as client:
        assert _sign_in(client, viewer["key"]).status_code == 303
        token = _csrf(client)
        assert client.get("/api/scenarios").status_code == 200
        denied = client.post(
            "/api/scenarios",
            json={"name": "x", "task_type": "regression"},
            headers={"X-CSRF-Token": token},
        )
        assert denied.status_code == 403
        assert "editor role" in denied.json()["detail"]
        with gateway.client() as admin:
            assert admin.delete(f"/api/keys/{viewer['id']}").status_code == 204
        assert client.get("/api/scenarios").status_code == 401
        assert client.get("/").status_code == 303


def test_bearer_keys_still_work_and_win_over_a_cookie(gateway: RunningGateway, keys) -> None:
    with _browser(gateway) as client:
        _sign_in(client, gateway.admin_key)
        as_viewer = client.post(
            "/api/scenarios",
            json={"name": "x", "task_type": "regression"},
            headers={"Authorization": f"Bearer {keys['viewer']['key']}"},
        )
        assert as_viewer.status_code == 403  # the Bearer key's role, not the session's
        forged = client.get("/api/scenarios", headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 401
    with gateway.client(keys["editor"]["key"]) as editor:
        created = editor.post(
            "/api/scenarios",
            json={"name": "bearer", "task_type": "regression", "deployment_policy": "manual"},
            headers={"Idempotency-Key": "web-sessions-bearer"},
        )
        again = editor.post(
            "/api/scenarios",
            json={"name": "bearer", "task_type": "regression", "deployment_policy": "manual"},
            headers={"Idempotency-Key": "web-sessions-bearer"},
        )
        assert created.status_code == 201 and again.status_code == 201
        assert again.headers.get("idempotency-replayed") == "true"
        assert again.json()["id"] == created.json()["id"]


def test_signing_out_needs_the_token_and_ends_the_session(gateway: RunningGateway) -> None:
    with _browser(gateway) as client:
        _sign_in(client, gateway.admin_key)
        token = _csrf(client)
        assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
        assert client.get("/api/scenarios").status_code == 200
        session_id = client.cookies["mloop_session"]
        out = client.post("/logout", data={"csrf": token})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert (
            'mloop_session=""' in out.headers["set-cookie"]
            or "Max-Age=0" in out.headers["set-cookie"]
        )
    with _browser(gateway) as again:
        again.cookies.set("mloop_session", session_id)
        assert again.get("/api/scenarios").status_code == 401


def test_language_switch_and_static_files(gateway: RunningGateway) -> None:
    with _browser(gateway) as client:
        switched = client.get("/lang/ko", params={"next": "/login"})
        assert switched.status_code == 303 and switched.headers["location"] == "/login"
        assert client.cookies["lang"] == "ko"
        assert "로그인" in client.get("/login").text
        assert client.get("/lang/fr").status_code == 404
        english = httpx.get(gateway.url + "/login", headers={"Accept-Language": "en-US"})
        korean = httpx.get(gateway.url + "/login", headers={"Accept-Language": "ko-KR,ko"})
        assert "Sign in" in english.text and "로그인" in korean.text
        script = client.get("/static/mloop.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        etag = script.headers["etag"]
        assert client.get("/static/mloop.js", headers={"If-None-Match": etag}).status_code == 304
        assert client.get("/static/../session.py").status_code == 404
        assert client.get("/static/%2e%2e/session.py").status_code == 404
        assert client.get("/static/nothing.js").status_code == 404
        plotly = client.get("/static/vendor/plotly.min.js")
        assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
        assert "max-age" in plotly.headers["cache-control"]


def test_overview_counts_what_a_key_may_see(gateway: RunningGateway) -> None:
    with gateway.client() as admin:
        mine = admin.post(
            "/api/scenarios",
            json={
                "name": "overview mine",
                "task_type": "regression",
                "deployment_policy": "manual",
            },
        ).json()
        everything = admin.get("/api/overview")
        assert everything.status_code == 200, everything.text
        scoped = admin.post(
            "/api/keys", json={"name": "overview", "role": "viewer", "scenarios": [mine["id"]]}
        ).json()
    found = everything.json()
    assert found["counts"]["scenarios"] >= 1
    assert set(found["experiments"]) == {"total", "planned", "running", "completed", "failed"}
    assert "total" in found["runs"]
    with gateway.client(scoped["key"]) as viewer:
        limited = viewer.get("/api/overview").json()
    assert limited["counts"]["scenarios"] == 1
    assert limited["experiments"]["total"] == 0
    assert all(item["scenario_id"] == mine["id"] for item in limited["recent_runs"])
