"""`WebhookMethods`: the client's calls for a scenario's webhooks and their deliveries.

A webhook POSTs the scenario's chosen events to a URL, signed with its secret (answered once,
by `create_webhook`); the scheduler sends them and retries failures with backoff.
`verify_signature` is the check a receiver written in Python can use.
`MLoopClient` mixes this class in; it uses the host's transport only.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mloop_client._paths import given as _given
from mloop_client._paths import page as _page
from mloop_client._paths import scenario_path as _at

JSON = Any

WEBHOOK_EVENTS = (
    "DriftDetected",
    "PerformanceDegraded",
    "ModelTrained",
    "RunFailed",
    "ModelPromoted",
    "ModelRolledBack",
    "ABTestStarted",
    "ABTestEnded",
    "WorkflowStepFinished",
    "DatasetUploaded",
)


class WebhookMethods:
    """Webhook calls; the host (`MLoopClient`) provides the attributes declared below."""

    if TYPE_CHECKING:

        def _request(self, method: str, path: str, **kwargs: Any) -> JSON: ...

        def _create(self, path: str, idempotency_key: str | None, **kwargs: Any) -> JSON: ...

        def iter_items(
            self, list_method: Callable[..., JSON], /, *args: Any, **params: Any
        ) -> Iterator[JSON]: ...

    def create_webhook(
        self,
        scenario_id: str,
        url: str,
        events: list[str],
        *,
        secret: str | None = None,
        enabled: bool | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Create a webhook; the answer's `secret` signs its deliveries, returned this once."""
        body = {"url": url, "events": list(events)} | _given(secret=secret, enabled=enabled)
        return self._create(_at(scenario_id, "webhooks"), idempotency_key, json=body)

    def list_webhooks(
        self, scenario_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> JSON:
        return self._request("GET", _at(scenario_id, "webhooks"), params=_page(limit, cursor))

    def iter_webhooks(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_webhooks, scenario_id, **params)

    def get_webhook(self, scenario_id: str, webhook_id: str) -> JSON:
        return self._request("GET", _at(scenario_id, "webhooks", webhook_id))

    def update_webhook(
        self,
        scenario_id: str,
        webhook_id: str,
        *,
        url: str | None = None,
        events: list[str] | None = None,
        secret: str | None = None,
        enabled: bool | None = None,
    ) -> JSON:
        """Change what is given (the others keep their value); a new `url` is checked as at
        creation. The updated webhook (without its secret)."""
        listed = list(events) if events is not None else None
        body = _given(url=url, events=listed, secret=secret, enabled=enabled)
        return self._request("PUT", _at(scenario_id, "webhooks", webhook_id), json=body)

    def enable_webhook(self, scenario_id: str, webhook_id: str) -> JSON:
        """Send to the webhook again (events from now on)."""
        return self.update_webhook(scenario_id, webhook_id, enabled=True)

    def disable_webhook(self, scenario_id: str, webhook_id: str) -> JSON:
        """Stop sending to the webhook: no new deliveries, and pending ones are given up."""
        return self.update_webhook(scenario_id, webhook_id, enabled=False)

    def delete_webhook(self, scenario_id: str, webhook_id: str) -> None:
        """Delete a webhook and its deliveries (pending ones are not sent)."""
        self._request("DELETE", _at(scenario_id, "webhooks", webhook_id))

    def list_webhook_deliveries(
        self,
        scenario_id: str,
        webhook_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        """A page of the webhook's deliveries, newest first: status (pending, delivered,
        failed), attempts, last status code and error, and the payload sent."""
        return self._request(
            "GET",
            _at(scenario_id, "webhooks", webhook_id, "deliveries"),
            params=_page(limit, cursor),
        )

    def iter_webhook_deliveries(
        self, scenario_id: str, webhook_id: str, **params: Any
    ) -> Iterator[JSON]:
        return self.iter_items(self.list_webhook_deliveries, scenario_id, webhook_id, **params)

    def notification_secret(self, scenario_id: str) -> str:
        """The key the scenario's workflow notification steps sign their calls with."""
        return self._request("GET", _at(scenario_id, "webhooks", "notification-secret"))["secret"]


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """True when `header` (the `X-MLoop-Signature` value) signs `body` (the raw request bytes)
    with `secret` and its timestamp is within `tolerance` seconds of now (older ones may be
    replays). Compares in constant time; accepts any of several `v1` entries."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    current = time.time() if now is None else now
    if timestamp is None or not candidates or abs(current - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return any(hmac.compare_digest(expected.hexdigest(), value) for value in candidates)
