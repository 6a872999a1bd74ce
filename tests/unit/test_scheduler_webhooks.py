"""Webhooks in the scheduler, pure: payload, signature, backoff and the state after a try; and
the HTTP sender's request shape (pinned address, Host and SNI kept) on an in-memory transport."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from mloop_common.db.webhooks import WEBHOOK_EVENTS, notification_secret
from mloop_common.messages import CATALOGUE
from mloop_common.messages.events import DatasetUploaded, DriftDetected, RunFailed
from mloop_common.webhook_targets import AllowList
from mloop_scheduler.webhooks import domain
from mloop_scheduler.webhooks.adapters.http import HttpSender
from mloop_scheduler.webhooks.entrypoints import WEBHOOK_EVENTS as SUBSCRIBED

SECRET = "whsec_test-secret-0123456789"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_every_choosable_event_is_a_message_and_subscribed() -> None:
    assert set(WEBHOOK_EVENTS) <= set(CATALOGUE)
    assert {event.model_fields["type"].default for event in SUBSCRIBED} == set(WEBHOOK_EVENTS)


def test_payload_has_the_envelope_on_top_and_the_fields_under_data() -> None:
    scenario, model = uuid.uuid4(), uuid.uuid4()
    event = DriftDetected(
        scenario_id=scenario,
        model_id=model,
        features={"age": 0.31},
        drifted_share=0.5,
        correlation_id=uuid.uuid4(),
    )
    content = domain.payload(event)
    assert content == {
        "id": str(event.event_id),
        "type": "DriftDetected",
        "scenario_id": str(scenario),
        "occurred_at": event.occurred_at.isoformat(),
        "data": {"model_id": str(model), "features": {"age": 0.31}, "drifted_share": 0.5},
    }
    json.dumps(content)  # JSON all the way down


def test_payload_replaces_nul_characters_postgres_cannot_store() -> None:
    event = RunFailed(scenario_id=uuid.uuid4(), run_id=uuid.uuid4(), error="bad\x00byte")
    assert domain.payload(event)["data"]["error"] == "bad\ufffdbyte"


def test_body_is_compact_sorted_json() -> None:
    assert domain.body({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    content = b'{"id":"x"}'
    header = domain.signature(SECRET, 1_700_000_000, content)
    expected = hmac.new(SECRET.encode(), b"1700000000." + content, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_accepts_the_signature_within_the_window_only() -> None:
    content = b'{"id":"x"}'
    header = domain.signature(SECRET, 1_700_000_000, content)
    assert domain.verify(SECRET, header, content, now=1_700_000_100)
    assert not domain.verify(SECRET, header, content, now=1_700_000_000 + 301)  # a replay
    assert not domain.verify(SECRET, header, content + b" ", now=1_700_000_000)  # tampered
    assert not domain.verify("other-secret-0123456789", header, content, now=1_700_000_000)
    assert not domain.verify(SECRET, "v1=abc", content, now=1_700_000_000)  # no timestamp
    assert not domain.verify(SECRET, "t=1700000000", content, now=1_700_000_000)  # no v1
    rotated = f"{header},v1={'0' * 64}"
    assert domain.verify(SECRET, rotated, content, now=1_700_000_000)


@pytest.mark.parametrize(
    ("attempt", "nominal"), [(1, 1.0), (2, 2.0), (3, 4.0), (8, 128.0), (13, 3600.0), (500, 3600.0)]
)
def test_backoff_doubles_up_to_the_cap_with_jitter_below(attempt: int, nominal: float) -> None:
    assert domain.backoff_delay(attempt, base=1.0, rand=0.0) == nominal
    assert domain.backoff_delay(attempt, base=1.0, rand=0.999) == pytest.approx(
        nominal * (1 - domain.JITTER * 0.999)
    )
    assert nominal / 2 <= domain.backoff_delay(attempt, base=1.0, rand=0.5) <= nominal


def test_a_2xx_is_delivered_whatever_the_try() -> None:
    for code in (200, 201, 204, 299):
        state = domain.after_attempt(
            domain.Outcome(code), attempt=8, max_attempts=8, base=1, now=NOW, rand=0
        )
        assert state.status == "delivered"


def test_a_failure_is_retried_with_backoff_then_failed_at_the_last_try() -> None:
    failed = domain.Outcome(500, "HTTP 500")
    retry = domain.after_attempt(failed, attempt=3, max_attempts=8, base=0.5, now=NOW, rand=0)
    assert retry.status == "pending"
    assert retry.next_attempt_at == NOW + timedelta(seconds=2.0)
    last = domain.after_attempt(failed, attempt=8, max_attempts=8, base=0.5, now=NOW, rand=0)
    assert last.status == "failed"
    for outcome in (domain.Outcome(302, "HTTP 302"), domain.Outcome(None, "timed out")):
        assert (
            domain.after_attempt(outcome, attempt=1, max_attempts=8, base=1, now=NOW, rand=0).status
            == "pending"
        )


def test_a_refused_target_fails_at_once() -> None:
    refused = domain.Outcome(None, "target refused: 10.0.0.1 is private", retryable=False)
    state = domain.after_attempt(refused, attempt=1, max_attempts=8, base=1, now=NOW, rand=0)
    assert state.status == "failed"


def test_http_error_keeps_the_start_of_the_answer() -> None:
    assert domain.http_error(500) == "HTTP 500"
    assert domain.http_error(503, b"  busy \n") == "HTTP 503: busy"
    assert len(domain.http_error(500, b"x" * 5000)) < 520


def test_notification_payload_and_secret() -> None:
    scenario = uuid.uuid4()
    content = domain.notification_payload(
        notification_id=uuid.UUID(int=1),
        kind="WorkflowNotification",
        scenario_id=scenario,
        occurred_at=NOW,
        data={"step": "notify", "note": "a\x00b"},
    )
    assert content["type"] == "WorkflowNotification"
    assert content["data"] == {"step": "notify", "note": "a\ufffdb"}
    key = notification_secret("prediction-secret-0123456789", scenario)
    assert key.startswith("whn_") and key == notification_secret(
        "prediction-secret-0123456789", scenario
    )
    assert key != notification_secret("prediction-secret-0123456789", uuid.uuid4())
    assert key != notification_secret("another-secret-0123456789", scenario)


# -- the HTTP sender, on an in-memory transport (no network) --------------------------------------


def _resolver(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_the_sender_connects_to_the_checked_address_keeping_host_and_sni() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sender = HttpSender(
        allow=AllowList.parse([]),
        timeout=2.0,
        resolve=_resolver("93.184.215.14"),
        transport=httpx.MockTransport(answer),
    )
    outcome = await sender.send(
        "https://hooks.example.com:8443/in?x=1", b"{}", {"X-MLoop-Event": "DriftDetected"}
    )
    await sender.close()
    assert outcome.delivered
    (request,) = seen
    assert request.url.host == "93.184.215.14"
    assert request.url.port == 8443
    assert request.url.raw_path == b"/in?x=1"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert request.headers["x-mloop-event"] == "DriftDetected"
    assert request.headers["content-type"] == "application/json"


async def test_the_sender_refuses_a_name_that_now_resolves_privately() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    sender = HttpSender(
        allow=AllowList.parse([]),
        timeout=2.0,
        resolve=_resolver("169.254.169.254"),
        transport=httpx.MockTransport(answer),
    )
    outcome = await sender.send("http://hooks.example.com/", b"{}", {})
    await sender.close()
    assert not outcome.delivered and not outcome.retryable
    assert "link-local" in (outcome.error or "")


async def test_the_sender_does_not_follow_redirects() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/"}, text="moved")

    sender = HttpSender(
        allow=AllowList.parse([]),
        timeout=2.0,
        resolve=_resolver("93.184.215.14"),
        transport=httpx.MockTransport(answer),
    )
    outcome = await sender.send("http://hooks.example.com/", b"{}", {})
    await sender.close()
    assert outcome.status_code == 302 and outcome.retryable
    assert outcome.error == "HTTP 302: moved"


async def test_an_unresolvable_host_is_retried() -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    sender = HttpSender(allow=AllowList.parse([]), timeout=2.0, resolve=nxdomain)
    outcome = await sender.send("http://nowhere.invalid/", b"{}", {})
    await sender.close()
    assert outcome.retryable and "does not resolve" in (outcome.error or "")


def test_a_dataset_event_payload_round_trips() -> None:
    event = DatasetUploaded(
        scenario_id=uuid.uuid4(), dataset_id=uuid.uuid4(), path="data/a.csv", sha256="ab", rows=3
    )
    content = json.loads(domain.body(domain.payload(event)))
    assert content["data"] == {
        "dataset_id": str(event.dataset_id),
        "path": "data/a.csv",
        "sha256": "ab",
        "rows": 3,
        "origin": "upload",
        "workflow_run_id": None,
    }
