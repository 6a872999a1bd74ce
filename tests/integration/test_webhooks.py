"""Webhooks on the real local stack: the gateway checks and stores them, the scheduler process
turns events from Kafka into signed deliveries and POSTs them to a receiver on 127.0.0.1 (which
the test stack's MLOOP_WEBHOOK_ALLOW names), retrying with backoff.

The receiver is a small threaded HTTP server that records every request and answers 500 a
chosen number of times per path first.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from mloop_client.webhooks import verify_signature
from mloop_common.db.engine import Database
from mloop_common.db.webhooks import Webhook, WebhookDelivery
from mloop_common.messages import Message
from mloop_common.messages.events import DriftDetected, ModelTrained, RunFailed
from mloop_common.webhook_targets import AllowList, TargetRefused
from mloop_scheduler.webhooks.adapters.http import HttpSender
from mloop_scheduler.webhooks.handlers import WebhookOutbox
from mloop_scheduler.webhooks.outbox import enqueue_notification

from tests.fixtures.services import RunningGateway
from tests.fixtures.serving import RunningService
from tests.integration.training_data import classification, csv

FIRST_WAIT = 90.0  # the scheduler's consumer group may still be joining
WAIT = 45.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records POSTs; answers 500 to a path while its failure budget lasts (-1: always)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.failures: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    budget = receiver.failures.get(self.path, 0)
                    if budget:
                        receiver.failures[self.path] = budget - 1 if budget > 0 else budget
                status, answer = (500, b"receiver down") if budget else (200, b"ok")
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # senders connect many at once; a backlog of 5 refuses

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [request for request in self.requests if request.path == path]

    def wait(self, path: str, count: int, *, timeout: float = WAIT) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(found := self.at(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: {len(found)} of {count} requests in {timeout} s")
            time.sleep(0.1)
        return found


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def client(gateway: RunningGateway, scheduler: RunningService) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


def new_scenario(client: httpx.Client) -> str:
    created = client.post(
        "/api/scenarios",
        json={"name": "hooks", "task_type": "classification", "deployment_policy": "manual"},
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def create_hook(client: httpx.Client, sid: str, url: str, events: list[str]) -> dict[str, Any]:
    created = client.post(f"/api/scenarios/{sid}/webhooks", json={"url": url, "events": events})
    assert created.status_code == 201, created.text
    return created.json()


def deliveries(client: httpx.Client, sid: str, hook_id: str, **params: Any) -> dict[str, Any]:
    answer = client.get(f"/api/scenarios/{sid}/webhooks/{hook_id}/deliveries", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_for_deliveries(
    client: httpx.Client,
    sid: str,
    hook_id: str,
    done: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout: float = WAIT,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = deliveries(client, sid, hook_id, limit=200)["items"]
        if done(items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries still {items}")
        time.sleep(0.2)


async def publish_async(gateway: RunningGateway, *messages: Message) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=gateway.settings.kafka_bootstrap, enable_idempotence=False
    )
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(
                message.topic, message.model_dump_json().encode(), key=message.partition_key
            )
    finally:
        await producer.stop()


def publish(gateway: RunningGateway, *messages: Message) -> None:
    asyncio.run(publish_async(gateway, *messages))


def assert_signed(request: Received, secret: str, event_type: str) -> None:
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-mloop-event"] == event_type
    assert request.headers["x-mloop-delivery"].isdigit()
    assert verify_signature(secret, request.headers["x-mloop-signature"], request.body)
    assert not verify_signature(
        "whsec_not-the-secret-123", request.headers["x-mloop-signature"], request.body
    )


# -- creation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:{port}/hook", "loopback"),
        ("http://127.0.0.2:{port}/hook", "loopback"),  # 127.0.0.1 is allowed, not its network
        ("http://0x7f.0.0.2/", "loopback"),
        ("http://[::ffff:10.1.2.3]/", "private"),
        ("http://0.0.0.0:{port}/", "unspecified"),
        ("http://192.168.1.1/", "private"),
        ("ftp://example.com/hook", "http:// or https://"),
        ("http://user:pw@example.com/hook", "credentials"),
    ],
)
def test_private_or_malformed_targets_are_refused_at_creation(
    client: httpx.Client, receiver: Receiver, url: str, reason: str
) -> None:
    sid = new_scenario(client)
    port = receiver.server.server_address[1]
    answer = client.post(
        f"/api/scenarios/{sid}/webhooks",
        json={"url": url.format(port=port), "events": ["RunFailed"]},
    )
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["loc"] == ["body", "url"]
    assert reason in error["msg"]
    assert client.get(f"/api/scenarios/{sid}/webhooks").json()["items"] == []


def test_bad_bodies_are_refused_with_the_field(client: httpx.Client, receiver: Receiver) -> None:
    sid = new_scenario(client)
    base = f"/api/scenarios/{sid}/webhooks"
    cases = [
        ({"url": receiver.url("/x"), "events": ["ModelDeleted"]}, ["body", "events", "0"]),
        ({"url": receiver.url("/x"), "events": []}, ["body", "events"]),
        (
            {"url": receiver.url("/x"), "events": ["RunFailed"], "secret": "short"},
            ["body", "secret"],
        ),
        ({"url": "http://e.com/" + "a" * 2048, "events": ["RunFailed"]}, ["body", "url"]),
        ({"url": receiver.url("/x"), "events": ["RunFailed"], "extra": 1}, ["body", "extra"]),
    ]
    for body, loc in cases:
        answer = client.post(base, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert loc in [error["loc"] for error in answer.json()["errors"]], answer.text
    missing = client.post(
        f"/api/scenarios/{uuid.uuid4()}/webhooks", json=cases[0][0] | {"events": ["RunFailed"]}
    )
    assert missing.status_code == 404


def test_viewers_read_but_never_see_the_secret(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver
) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/viewer"), ["RunFailed", "RunFailed"])
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["RunFailed"]
    viewer_key = client.post("/api/keys", json={"name": "hook viewer", "role": "viewer"}).json()
    with gateway.client(viewer_key["key"]) as viewer:
        listed = viewer.get(f"/api/scenarios/{sid}/webhooks")
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["items"]] == [hook["id"]]
        assert hook["secret"] not in listed.text and "secret" not in listed.json()["items"][0]
        shown = viewer.get(f"/api/scenarios/{sid}/webhooks/{hook['id']}")
        assert shown.status_code == 200 and "secret" not in shown.json()
        refused = viewer.post(
            f"/api/scenarios/{sid}/webhooks",
            json={"url": receiver.url("/viewer"), "events": ["RunFailed"]},
        )
        assert refused.status_code == 403
        assert viewer.delete(f"/api/scenarios/{sid}/webhooks/{hook['id']}").status_code == 403
        assert viewer.get(f"/api/scenarios/{sid}/webhooks/notification-secret").status_code == 403
    assert hook["secret"] not in client.get(f"/api/scenarios/{sid}/webhooks").text


# -- delivery ------------------------------------------------------------------------------------


def test_a_dataset_upload_is_delivered_signed(client: httpx.Client, receiver: Receiver) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/uploads"), ["DatasetUploaded"])
    upload = client.post(
        f"/api/scenarios/{sid}/data",
        files={"file": ("train.csv", csv(classification()))},
        data={"path": "train.csv"},
    )
    assert upload.status_code in (200, 201), upload.text

    (request,) = receiver.wait("/uploads", 1, timeout=FIRST_WAIT)
    assert_signed(request, hook["secret"], "DatasetUploaded")
    sent = request.json()
    assert set(sent) == {"id", "type", "scenario_id", "occurred_at", "data"}
    assert sent["type"] == "DatasetUploaded" and sent["scenario_id"] == sid
    assert sent["data"]["dataset_id"] == upload.json()["id"]
    assert sent["data"]["path"] == "train.csv"

    (delivered,) = wait_for_deliveries(
        client, sid, hook["id"], lambda items: bool(items) and items[0]["status"] == "delivered"
    )
    assert delivered["attempts"] == 1 and delivered["last_status_code"] == 200
    assert delivered["event_id"] == sent["id"] and delivered["payload"] == sent
    assert str(delivered["id"]) == request.headers["x-mloop-delivery"]
    assert delivered["delivered_at"] is not None and delivered["last_error"] is None


def test_a_failing_receiver_is_retried_then_delivered(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver
) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/flaky"), ["DriftDetected", "RunFailed"])
    receiver.failures["/flaky"] = 2
    event = DriftDetected(
        scenario_id=uuid.UUID(sid), model_id=uuid.uuid4(), features={"x": 0.4}, drifted_share=0.5
    )
    publish(gateway, event)

    tries = receiver.wait("/flaky", 3, timeout=FIRST_WAIT)
    assert len({request.headers["x-mloop-delivery"] for request in tries}) == 1  # one delivery
    for request in tries:
        assert_signed(request, hook["secret"], "DriftDetected")
        assert request.json()["id"] == str(event.event_id)
        assert request.json()["data"]["features"] == {"x": 0.4}
    (delivered,) = wait_for_deliveries(
        client, sid, hook["id"], lambda items: bool(items) and items[0]["status"] == "delivered"
    )
    assert delivered["attempts"] == 3 and delivered["last_status_code"] == 200


def test_a_receiver_that_keeps_failing_is_given_up_with_the_last_error(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver
) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/down"), ["RunFailed"])
    receiver.failures["/down"] = -1
    publish(gateway, RunFailed(scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), error="oom"))
    attempts = gateway.settings.webhook_max_attempts  # backoff 0.1 s doubling: ~13 s at most
    (failed,) = wait_for_deliveries(
        client,
        sid,
        hook["id"],
        lambda items: bool(items) and items[0]["status"] == "failed",
        timeout=FIRST_WAIT,
    )
    assert failed["attempts"] == attempts
    assert failed["last_status_code"] == 500
    assert failed["last_error"] == "HTTP 500: receiver down"
    assert len(receiver.at("/down")) == attempts


def test_an_event_delivered_twice_on_kafka_makes_one_delivery(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver
) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/twice"), ["ModelTrained"])
    first = ModelTrained(scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), model_id=uuid.uuid4())
    marker = ModelTrained(scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), model_id=uuid.uuid4())
    publish(gateway, first, first, marker)  # one partition: the marker is handled last

    receiver.wait("/twice", 2, timeout=FIRST_WAIT)
    items = wait_for_deliveries(
        client,
        sid,
        hook["id"],
        lambda items: len(items) == 2 and all(i["status"] == "delivered" for i in items),
    )
    assert sorted(item["event_id"] for item in items) == sorted(
        [str(first.event_id), str(marker.event_id)]
    )
    assert sorted(request.json()["id"] for request in receiver.at("/twice")) == sorted(
        [str(first.event_id), str(marker.event_id)]
    )
    # Paged newest first: one item a page, then the next.
    page = deliveries(client, sid, hook["id"], limit=1)
    assert page["next_cursor"] is not None
    rest = deliveries(client, sid, hook["id"], limit=1, cursor=page["next_cursor"])
    assert rest["items"][0]["id"] < page["items"][0]["id"]
    bad = client.get(
        f"/api/scenarios/{sid}/webhooks/{hook['id']}/deliveries", params={"cursor": "nope"}
    )
    assert bad.status_code == 422


def test_events_the_webhook_did_not_choose_or_other_scenarios_are_not_sent(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver
) -> None:
    sid, other = new_scenario(client), new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/chosen"), ["ModelTrained"])
    publish(
        gateway,
        RunFailed(scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), error="not chosen"),
        ModelTrained(scenario_id=uuid.UUID(other), run_id=uuid.uuid4(), model_id=uuid.uuid4()),
        marker := ModelTrained(
            scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), model_id=uuid.uuid4()
        ),
    )
    (request,) = receiver.wait("/chosen", 1, timeout=FIRST_WAIT)
    assert request.json()["id"] == str(marker.event_id)
    (only,) = wait_for_deliveries(client, sid, hook["id"], lambda items: len(items) >= 1)
    assert only["event_id"] == str(marker.event_id)


async def test_a_target_is_checked_again_when_sending(
    client: httpx.Client, gateway: RunningGateway, db: Database
) -> None:
    """A webhook whose host now resolves privately (stored here directly, as if its DNS had
    changed since creation) is not called: its delivery fails at once with the reason."""
    sid = new_scenario(client)
    hook_id = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            Webhook(
                id=hook_id,
                scenario_id=uuid.UUID(sid),
                url="http://10.0.0.1:9/hook",
                events=["RunFailed"],
                secret="whsec_stored-directly-0123",
                enabled=True,
            )
        )
        await session.commit()
    await publish_async(
        gateway, RunFailed(scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), error="x")
    )
    deadline = time.monotonic() + FIRST_WAIT
    while True:
        items = (await asyncio.to_thread(deliveries, client, sid, str(hook_id)))["items"]
        if items and items[0]["status"] == "failed":
            break
        assert time.monotonic() < deadline, items
        await asyncio.sleep(0.2)
    assert items[0]["attempts"] == 1 and items[0]["last_status_code"] is None
    assert "target refused" in items[0]["last_error"] and "private" in items[0]["last_error"]


async def test_workflow_notifications_are_signed_with_the_scenario_key(
    client: httpx.Client, receiver: Receiver, db: Database
) -> None:
    sid = new_scenario(client)
    async with db.transaction() as session:
        delivery_id = await enqueue_notification(
            session,
            scenario_id=uuid.UUID(sid),
            url=receiver.url("/notify"),
            payload={"workflow": "train", "step": "tell", "status": "succeeded"},
            allow=["127.0.0.1"],
        )
        await session.commit()
    async with db.transaction() as session:
        with pytest.raises(TargetRefused, match="private"):
            await enqueue_notification(
                session, scenario_id=uuid.UUID(sid), url="http://10.0.0.1/", payload={},
                allow=["127.0.0.1"],
            )  # fmt: skip
        with pytest.raises(TargetRefused, match="http:// or https://"):
            await enqueue_notification(
                session, scenario_id=uuid.UUID(sid), url="file:///etc/passwd", payload={}
            )
        with pytest.raises(ValueError, match="JSON"):
            await enqueue_notification(
                session, scenario_id=uuid.UUID(sid), url=receiver.url("/n"), payload={"x": {1}}
            )

    deadline = time.monotonic() + WAIT
    while not receiver.at("/notify"):
        assert time.monotonic() < deadline, "the notification never came"
        await asyncio.sleep(0.1)
    (request,) = receiver.at("/notify")
    path = f"/api/scenarios/{sid}/webhooks/notification-secret"
    key = (await asyncio.to_thread(client.get, path)).json()["secret"]
    assert_signed(request, key, "WorkflowNotification")
    assert request.headers["x-mloop-delivery"] == str(delivery_id)
    sent = request.json()
    assert sent["type"] == "WorkflowNotification" and sent["scenario_id"] == sid
    assert sent["data"] == {"workflow": "train", "step": "tell", "status": "succeeded"}


async def test_replicas_never_send_one_delivery_twice(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver, db: Database
) -> None:
    """Two more senders (as two more scheduler replicas) race the running scheduler for the
    same due deliveries: each is sent exactly once."""
    sid = new_scenario(client)
    total = 80
    async with db.transaction() as session:
        ids = [
            await enqueue_notification(
                session, scenario_id=uuid.UUID(sid), url=receiver.url("/race"), payload={"n": n}
            )
            for n in range(total)
        ]
        await session.commit()
    replica = SimpleNamespace(db=db, settings=gateway.settings)

    async def send_all() -> None:
        outbox = WebhookOutbox(replica)  # type: ignore[arg-type]
        sender = HttpSender(allow=AllowList.parse(["127.0.0.1"]), timeout=5.0)
        try:
            while len(receiver.at("/race")) < total:
                if not await outbox.deliver_due(sender):
                    await asyncio.sleep(0.05)
        finally:
            await sender.close()

    await asyncio.wait_for(asyncio.gather(send_all(), send_all()), timeout=WAIT)
    sent = [request.headers["x-mloop-delivery"] for request in receiver.at("/race")]
    assert sorted(sent) == sorted(str(i) for i in ids)  # every one, none twice
    async with db.transaction() as session:
        rows = [await session.get(WebhookDelivery, i) for i in ids]
    assert {row.status for row in rows if row} == {"delivered"}


async def test_a_last_try_cut_off_is_failed_not_repeated(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver, db: Database
) -> None:
    """A delivery whose last allowed try was claimed by a sender that then died (its lease ran
    out with no result) is failed, never sent once more."""
    sid = new_scenario(client)
    async with db.transaction() as session:
        row = WebhookDelivery(
            webhook_id=None,
            scenario_id=uuid.UUID(sid),
            event_id=uuid.uuid4(),
            event_type="WorkflowNotification",
            url=receiver.url("/cut-off"),
            payload={"id": "x"},
            status="pending",
            attempts=gateway.settings.webhook_max_attempts,
        )
        session.add(row)
        await session.commit()
    deadline = time.monotonic() + WAIT
    while True:
        async with db.transaction() as session:
            found = await session.get(WebhookDelivery, row.id)
        assert found is not None
        if found.status != "pending":
            break
        assert time.monotonic() < deadline, "still pending"
        await asyncio.sleep(0.2)
    assert found.status == "failed" and "sender stopped" in (found.last_error or "")
    assert found.attempts == gateway.settings.webhook_max_attempts
    assert receiver.at("/cut-off") == []


def test_deleting_a_webhook_deletes_its_deliveries(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver
) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/deleted"), ["ModelTrained"])
    publish(
        gateway,
        ModelTrained(scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), model_id=uuid.uuid4()),
    )
    receiver.wait("/deleted", 1, timeout=FIRST_WAIT)
    base = f"/api/scenarios/{sid}/webhooks/{hook['id']}"
    assert client.delete(base).status_code == 204
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/deliveries").status_code == 404
    assert client.delete(base).status_code == 404
    audit = client.get("/api/audit", params={"scenario_id": sid}).json()["items"]
    assert {"webhook.create", "webhook.delete"} <= {entry["action"] for entry in audit}
    assert all(hook["secret"] not in json.dumps(entry) for entry in audit)


# -- changes -------------------------------------------------------------------------------------


def test_an_update_is_checked_like_a_creation_and_audited(
    client: httpx.Client, receiver: Receiver
) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/put"), ["RunFailed"])
    base = f"/api/scenarios/{sid}/webhooks/{hook['id']}"

    changed = client.put(base, json={"events": ["ModelTrained", "RunFailed", "ModelTrained"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["ModelTrained", "RunFailed"]
    assert changed.json()["url"] == hook["url"] and "secret" not in changed.json()
    cases = [
        ({"url": "http://10.0.0.7/hook"}, ["body", "url"]),
        ({"url": "ftp://example.com/x"}, ["body", "url"]),
        ({"events": []}, ["body", "events"]),
        ({"events": ["ModelDeleted"]}, ["body", "events", "0"]),
        ({"secret": "short"}, ["body", "secret"]),
        ({"enabled": None}, ["body", "enabled"]),
        ({"url": None}, ["body", "url"]),
        ({"extra": 1}, ["body", "extra"]),
    ]
    for body, loc in cases:
        answer = client.put(base, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert loc in [error["loc"] for error in answer.json()["errors"]], answer.text
    assert client.put(f"/api/scenarios/{sid}/webhooks/{uuid.uuid4()}", json={}).status_code == 404
    elsewhere = client.put(f"/api/scenarios/{uuid.uuid4()}/webhooks/{hook['id']}", json={})
    assert elsewhere.status_code == 404
    assert client.get(base).json()["events"] == ["ModelTrained", "RunFailed"]  # none written

    secret = "whsec_rotated-by-hand-0123"
    assert client.put(base, json={"secret": secret, "enabled": False}).status_code == 200
    audit = client.get(
        "/api/audit", params={"scenario_id": sid, "action": "webhook.update"}
    ).json()["items"]
    assert [entry["detail"]["changed"] for entry in audit] == [
        ["enabled", "secret"],
        ["events"],
    ]
    assert audit[0]["detail"]["enabled"] is False
    assert all(secret not in json.dumps(entry) for entry in audit)
    assert all("/put" not in json.dumps(entry) for entry in audit)  # the host only


def test_pending_deliveries_follow_a_new_url_and_secret(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver
) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/moving-from"), ["RunFailed"])
    receiver.failures["/moving-from"] = -1
    event = RunFailed(scenario_id=uuid.UUID(sid), run_id=uuid.uuid4(), error="oom")
    publish(gateway, event)
    (first, *_) = receiver.wait("/moving-from", 1, timeout=FIRST_WAIT)

    secret = "whsec_the-new-one-0123456"
    moved = client.put(
        f"/api/scenarios/{sid}/webhooks/{hook['id']}",
        json={"url": receiver.url("/moving-to"), "secret": secret},
    )
    assert moved.status_code == 200, moved.text

    (retried,) = receiver.wait("/moving-to", 1)
    assert retried.headers["x-mloop-delivery"] == first.headers["x-mloop-delivery"]
    assert_signed(retried, secret, "RunFailed")
    assert retried.json()["id"] == str(event.event_id)
    (delivered,) = wait_for_deliveries(
        client, sid, hook["id"], lambda items: bool(items) and items[0]["status"] == "delivered"
    )
    assert delivered["url"] == receiver.url("/moving-to") and delivered["attempts"] >= 2


def test_a_disabled_webhook_gets_no_new_deliveries_and_gives_up_pending_ones(
    client: httpx.Client, gateway: RunningGateway, receiver: Receiver
) -> None:
    sid = new_scenario(client)
    hook = create_hook(client, sid, receiver.url("/switched"), ["DriftDetected"])
    # Sent the same events: its delivery shows the scheduler handled an event.
    create_hook(client, sid, receiver.url("/switched-witness"), ["DriftDetected"])
    base = f"/api/scenarios/{sid}/webhooks/{hook['id']}"

    def drift() -> DriftDetected:
        return DriftDetected(
            scenario_id=uuid.UUID(sid), model_id=uuid.uuid4(), features={}, drifted_share=0.5
        )

    off = client.put(base, json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    publish(gateway, drift())
    receiver.wait("/switched-witness", 1, timeout=FIRST_WAIT)
    assert deliveries(client, sid, hook["id"])["items"] == []

    async def queue_one() -> None:
        """A delivery queued before the webhook was switched off, as the scheduler queues it."""
        db = Database.from_settings(gateway.settings)
        try:
            async with db.transaction() as session:
                session.add(
                    WebhookDelivery(
                        webhook_id=uuid.UUID(hook["id"]),
                        scenario_id=uuid.UUID(sid),
                        event_id=uuid.uuid4(),
                        event_type="DriftDetected",
                        url=hook["url"],
                        payload={"id": "queued"},
                        status="pending",
                        attempts=0,
                    )
                )
                await session.commit()
        finally:
            await db.close()

    asyncio.run(queue_one())
    (given_up,) = wait_for_deliveries(
        client, sid, hook["id"], lambda items: bool(items) and items[0]["status"] != "pending"
    )
    assert given_up["status"] == "failed" and given_up["attempts"] == 0
    assert given_up["last_error"] == "the webhook was disabled"

    on = client.put(base, json={"enabled": True})
    assert on.status_code == 200 and on.json()["enabled"] is True
    later = drift()
    publish(gateway, later)
    (request,) = receiver.wait("/switched", 1)
    assert request.json()["id"] == str(later.event_id)
    assert receiver.at("/switched") == [request]  # nothing before it was switched on
