"""The gateway on the real stack: the trace begun by a request continues in the service that
consumes the resulting message; /metrics reports requests and messages. (Keys and roles:
test_access.py.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import create_broker, work_subscriber
from mloop_common.messages.events import KeysChanged
from mloop_common.settings import Settings
from mloop_common.telemetry import setup_telemetry
from mloop_gateway.main import create_app
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.fixtures.messaging import wait_until

ADMIN = "test-admin-key-0123456789"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
async def gateway(settings: Settings, spans) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"admin_key": ADMIN}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_trace_of_a_gateway_request_continues_in_the_consumer(
    settings: Settings, gateway: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    consumed: dict[uuid.UUID, str] = {}
    consumer = create_broker(settings, service="test", telemetry=setup_telemetry(settings, "t"))
    router = KafkaRouter()

    @work_subscriber(router, topics.KEYS_CHANGED, group=f"mloop.test.{uuid.uuid4().hex[:6]}")
    async def on_keys_changed(message: KeysChanged) -> None:
        span_context = trace.get_current_span().get_span_context()
        consumed[message.key_id] = format(span_context.trace_id, "032x")

    consumer.include_router(router)
    await consumer.start()
    try:
        spans.clear()
        response = await gateway.post(
            "/api/keys",
            json={"name": "traced", "role": "viewer"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        key_id = uuid.UUID(response.json()["id"])

        async def consumed_it() -> bool:
            return key_id in consumed

        await wait_until(consumed_it, timeout=30)
    finally:
        await consumer.stop()
    await asyncio.sleep(0.2)
    server_spans = [
        s
        for s in spans.get_finished_spans()
        if s.kind == trace.SpanKind.SERVER and s.name.startswith("POST /api/keys")
    ]
    assert len(server_spans) == 1
    request_trace = format(server_spans[0].context.trace_id, "032x")
    assert consumed[key_id] == request_trace
    consumer_spans = [
        s
        for s in spans.get_finished_spans()
        if s.kind == trace.SpanKind.CONSUMER and format(s.context.trace_id, "032x") == request_trace
    ]
    assert consumer_spans, "no consumer span joined the request's trace"


async def test_metrics_report_request_latency_and_messages(gateway: httpx.AsyncClient) -> None:
    await gateway.get("/api/keys")  # a 401 is a request too

    async def heartbeats_counted() -> bool:
        text = (await gateway.get("/metrics")).text
        return any(
            line.startswith("faststream_received_messages_total{") and topics.HEARTBEATS in line
            for line in text.splitlines()
        )

    await wait_until(heartbeats_counted, timeout=15)
    text = (await gateway.get("/metrics")).text
    assert (
        'mloop_http_request_duration_seconds_count{method="GET",route="/api/keys",'
        'status="401"} 1.0' in text
    )
