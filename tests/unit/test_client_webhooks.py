"""The webhook part of MLoopClient and of the `mloop` CLI, on `httpx.MockTransport`; and the
receiver-side signature check the client ships."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mloop_client import MLoopClient
from mloop_client.webhooks import WEBHOOK_EVENTS, verify_signature

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

S = SCENARIO_ID
BASE = f"/api/scenarios/{S}/webhooks"
W1 = "44444444-4444-4444-4444-444444444444"


def hook(**fields: Any) -> dict[str, Any]:
    return {
        "id": W1,
        "scenario_id": S,
        "url": "https://hooks.example.com/mloop",
        "events": ["DriftDetected", "ModelPromoted"],
        "enabled": True,
        "created_by": None,
        "created_at": "2025-01-02T03:04:05+00:00",
    } | fields


def delivery(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": number,
        "webhook_id": W1,
        "event_id": "55555555-5555-5555-5555-555555555555",
        "event_type": "DriftDetected",
        "url": "https://hooks.example.com/mloop",
        "status": "delivered",
        "attempts": 1,
        "next_attempt_at": "2025-01-02T03:04:05+00:00",
        "last_status_code": 200,
        "last_error": None,
        "created_at": "2025-01-02T03:04:05+00:00",
        "delivered_at": "2025-01-02T03:04:06+00:00",
        "payload": {},
    } | fields


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


CALLS: list[tuple[Callable[[MLoopClient], Any], str, Any]] = [
    (
        lambda c: c.create_webhook(S, "https://h.example/x", ["DriftDetected"]),
        f"POST {BASE}",
        {"url": "https://h.example/x", "events": ["DriftDetected"]},
    ),
    (
        lambda c: c.create_webhook(
            S, "https://h.example/x", ["RunFailed"], secret="s" * 20, enabled=False
        ),
        f"POST {BASE}",
        {
            "url": "https://h.example/x",
            "events": ["RunFailed"],
            "secret": "s" * 20,
            "enabled": False,
        },
    ),
    (lambda c: c.list_webhooks(S), f"GET {BASE}", None),
    (lambda c: c.list_webhooks(S, limit=5, cursor="c1"), f"GET {BASE}?limit=5&cursor=c1", None),
    (lambda c: c.get_webhook(S, "w 1"), f"GET {BASE}/w%201", None),
    (lambda c: c.delete_webhook(S, W1), f"DELETE {BASE}/{W1}", None),
    (
        lambda c: c.update_webhook(S, W1, url="https://h.example/y", events=("RunFailed",)),
        f"PUT {BASE}/{W1}",
        {"url": "https://h.example/y", "events": ["RunFailed"]},
    ),
    (
        lambda c: c.update_webhook(S, W1, secret="t" * 20, enabled=True),
        f"PUT {BASE}/{W1}",
        {"secret": "t" * 20, "enabled": True},
    ),
    (lambda c: c.enable_webhook(S, W1), f"PUT {BASE}/{W1}", {"enabled": True}),
    (lambda c: c.disable_webhook(S, W1), f"PUT {BASE}/{W1}", {"enabled": False}),
    (
        lambda c: c.list_webhook_deliveries(S, W1, limit=3, cursor="17"),
        f"GET {BASE}/{W1}/deliveries?limit=3&cursor=17",
        None,
    ),
]


@pytest.mark.parametrize(("call", "line", "sent"), CALLS, ids=[line for _, line, _ in CALLS])
def test_each_method_sends_the_right_request(
    call: Callable[[MLoopClient], Any], line: str, sent: Any
) -> None:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"id": "x", "secret": "s"})

    call(MLoopClient("http://gateway.test", "k", transport=httpx.MockTransport(answer)))

    (request,) = requests
    assert f"{request.method} {request.url.raw_path.decode()}" == line
    assert body(request) == sent
    assert bool(request.headers.get("Idempotency-Key")) == (request.method == "POST")


def test_notification_secret_is_read_from_its_route() -> None:
    gateway = FakeGateway()
    gateway.on(
        "GET", f"{BASE}/notification-secret", httpx.Response(200, json={"secret": "whn_abc"})
    )
    assert gateway.client().notification_secret(S) == "whn_abc"


def test_delivery_iterator_follows_pages() -> None:
    pages = {
        None: {"items": [delivery(9), delivery(8)], "next_cursor": "8"},
        "8": {"items": [delivery(7)], "next_cursor": None},
    }
    gateway = FakeGateway()
    gateway.on(
        "GET",
        f"{BASE}/{W1}/deliveries",
        lambda r: httpx.Response(200, json=pages[r.url.params.get("cursor")]),
    )
    found = [item["id"] for item in gateway.client().iter_webhook_deliveries(S, W1)]
    assert found == [9, 8, 7]


def test_verify_signature_checks_hmac_and_age() -> None:
    secret, raw = "whsec_0123456789abcdef", b'{"id":"e1","type":"DriftDetected"}'
    mac = hmac.new(secret.encode(), b"1700000000." + raw, hashlib.sha256).hexdigest()
    header = f"t=1700000000,v1={mac}"
    assert verify_signature(secret, header, raw, now=1_700_000_010)
    assert not verify_signature(secret, header, raw, now=1_700_000_000 + 3600)
    assert not verify_signature(secret, header, raw + b"\n", now=1_700_000_010)
    assert not verify_signature("whsec_other-secret-xyz", header, raw, now=1_700_000_010)
    assert not verify_signature(secret, "garbage", raw, now=1_700_000_010)


def test_the_client_knows_the_same_events_as_the_platform() -> None:
    from mloop_common.db.webhooks import WEBHOOK_EVENTS as PLATFORM

    assert tuple(WEBHOOK_EVENTS) == tuple(PLATFORM)


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_create_prints_the_secret_once_and_sends_the_events() -> None:
    gateway = FakeGateway()
    gateway.on("POST", BASE, httpx.Response(201, json=hook(secret="whsec_shown-once")))
    result = Cli(gateway)(
        "webhooks", "create", S, "https://hooks.example.com/mloop", "-e", "DriftDetected",
        "--event", "ModelPromoted",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "whsec_shown-once" in result.output
    assert "will not be shown again" in result.output
    assert body(gateway.requests[0]) == {
        "url": "https://hooks.example.com/mloop",
        "events": ["DriftDetected", "ModelPromoted"],
    }


def test_cli_create_reports_a_refused_url() -> None:
    gateway = FakeGateway()
    refusal = "10.0.0.1 is a private address; webhooks may only call public addresses"
    gateway.on(
        "POST",
        BASE,
        problem(
            422,
            "Invalid request",
            refusal,
            errors=[{"loc": ["body", "url"], "msg": refusal, "type": "url_refused"}],
        ),
    )
    result = Cli(gateway)("webhooks", "create", S, "http://10.0.0.1/", "-e", "RunFailed")
    assert result.exit_code == 1
    assert "body.url" in result.output and "private address" in result.output


def test_cli_list_and_json() -> None:
    gateway = FakeGateway()
    gateway.on("GET", BASE, httpx.Response(200, json={"items": [hook()], "next_cursor": None}))
    result = Cli(gateway)("webhooks", "list", S)
    assert result.exit_code == 0, result.output
    assert W1 in result.output and "hooks.example.com" in result.output
    as_json = Cli(gateway)("--json", "webhooks", "list", S)
    assert json.loads(as_json.output)["items"][0]["id"] == W1
    assert "secret" not in as_json.output


def test_cli_deliveries_shows_status_and_last_error() -> None:
    gateway = FakeGateway()
    page = {
        "items": [
            delivery(2, status="pending", attempts=2, last_status_code=500, last_error="HTTP 500"),
            delivery(1),
        ],
        "next_cursor": None,
    }
    gateway.on("GET", f"{BASE}/{W1}/deliveries", httpx.Response(200, json=page))
    result = Cli(gateway)("webhooks", "deliveries", S, W1, "--limit", "5")
    assert result.exit_code == 0, result.output
    assert "pending" in result.output and "HTTP 500" in result.output
    assert "delivered" in result.output
    assert gateway.requests[0].url.params["limit"] == "5"


def test_cli_delete() -> None:
    gateway = FakeGateway()
    gateway.on("DELETE", f"{BASE}/{W1}", httpx.Response(204))
    result = Cli(gateway)("webhooks", "delete", S, W1)
    assert result.exit_code == 0, result.output
    assert f"Deleted webhook {W1}" in result.output


def test_cli_update_enable_and_disable() -> None:
    gateway = FakeGateway()
    gateway.on("PUT", f"{BASE}/{W1}", lambda r: httpx.Response(200, json=hook() | body(r)))
    cli = Cli(gateway)

    result = cli(
        "webhooks", "update", S, W1, "--url", "https://other.example/in", "-e", "RunFailed",
        "--disable",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert body(gateway.requests[-1]) == {
        "url": "https://other.example/in",
        "events": ["RunFailed"],
        "enabled": False,
    }
    assert "Webhook updated" in result.output and "other.example" in result.output

    off = cli("webhooks", "disable", S, W1)
    assert off.exit_code == 0 and body(gateway.requests[-1]) == {"enabled": False}
    assert f"Webhook {W1} is disabled" in off.output
    on = cli("--json", "webhooks", "enable", S, W1)
    assert on.exit_code == 0 and json.loads(on.output)["enabled"] is True
    assert "secret" not in on.output
