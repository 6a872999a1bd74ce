"""One `setup_telemetry` for every service: traces, OTel metrics and a Prometheus registry.

Traces cross Kafka in record headers (FastStream's telemetry middleware on consume, the outbox
relay on publish). With `MLOOP_OTLP_ENDPOINT` set, traces and metrics are exported over OTLP/HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import FastAPI, Response
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mloop_common.settings import Settings


@dataclass
class Telemetry:
    service: str
    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.request_latency = Histogram(
            "mloop_http_request_duration_seconds",
            "HTTP request latency by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "mloop_consumer_lag",
            "Records not yet consumed, per consumer group and partition.",
            ["consumer", "topic", "partition"],
            registry=self.registry,
        )

    def instrument(self, app: FastAPI) -> None:
        """Trace every request and record its latency; serve `/metrics` in Prometheus format."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.tracer_provider,
            excluded_urls="metrics,api/health",
            exclude_spans=["receive", "send"],  # not a span per body chunk of an upload
        )
        app.add_middleware(_LatencyMiddleware, histogram=self.request_latency)

        @app.get("/metrics", include_in_schema=False)
        async def _metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _LatencyMiddleware:
    """Observe each request's latency by method, route and status. Pure ASGI, so request and
    response bodies stream through untouched."""

    def __init__(self, app: ASGIApp, *, histogram: Histogram) -> None:
        self.app, self.histogram = app, histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.histogram.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )


def setup_telemetry(settings: Settings, service: str) -> Telemetry:
    """Build the service's providers; the first call in a process installs them globally."""
    resource = Resource.create({"service.name": f"mloop-{service}"})
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        tracer_provider: trace.TracerProvider = current  # already set up (tests, one process)
    else:
        tracer_provider = TracerProvider(resource=resource)
        readers = []
        if settings.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            base = settings.otlp_endpoint.rstrip("/")
            tracer_provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"))
            )
            readers.append(
                PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics"))
            )
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    return Telemetry(service, tracer_provider, metrics.get_meter_provider())
