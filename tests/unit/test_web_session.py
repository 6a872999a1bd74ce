"""Pure parts of the dashboard's sign-in sessions: ids, CSRF checks, where to go after sign-in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from mloop_gateway.web import session


def test_session_ids_are_random_and_stored_hashed() -> None:
    first, second = session.new_secret(), session.new_secret()
    assert first != second and len(first) >= 43
    stored = session.hash_id(first)
    assert len(stored) == 64 and first not in stored
    assert session.hash_id(first) == stored


def test_csrf_token_must_match_exactly() -> None:
    token = session.new_secret()
    assert session.csrf_ok(token, token)
    assert not session.csrf_ok(token, None)
    assert not session.csrf_ok(token, "")
    assert not session.csrf_ok(token, token[:-1])
    assert not session.csrf_ok(token, token + "x")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/scenarios/1/data?x=1", "/scenarios/1/data?x=1"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
    ],
)
def test_after_sign_in_only_paths_of_this_site(target: str | None, expected: str) -> None:
    assert session.safe_next(target) == expected


def test_login_url_keeps_where_the_visitor_was() -> None:
    assert session.login_url("/") == "/login"
    assert session.login_url("/scenarios", "a=1&b=2") == "/login?next=%2Fscenarios%3Fa%3D1%26b%3D2"


def test_cookie_is_secure_over_tls_only() -> None:
    assert session.cookie_secure("https")
    assert not session.cookie_secure("http")


def test_a_session_expires() -> None:
    now = datetime.now(UTC)
    state = session.WebSessionState("h", uuid.uuid4(), "c", now + timedelta(seconds=1))
    assert not state.expired(now)
    assert state.expired(now + timedelta(seconds=1))


def test_unsafe_methods_are_the_changing_ones() -> None:
    assert session.UNSAFE_METHODS == {"POST", "PUT", "PATCH", "DELETE"}
    assert "predictor" not in session.DASHBOARD_ROLES
