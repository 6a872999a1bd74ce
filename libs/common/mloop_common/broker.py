"""The broker factory every service uses, and the two kinds of subscription (DESIGN.md).

Work subscriptions share a consumer group per handler, so one replica handles each message, and
start from the earliest offset, so a new or replaced broker loses nothing. Broadcasts have no
group: every replica reads every message from the latest offset.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware

from mloop_common.delivery import DeadLetterMiddleware
from mloop_common.settings import Settings
from mloop_common.telemetry import Telemetry


def create_broker(settings: Settings, *, service: str, telemetry: Telemetry) -> KafkaBroker:
    return KafkaBroker(
        settings.require_kafka(),
        client_id=f"mloop-{service}",
        log_level=logging.DEBUG,  # per-message "Received/Processed" lines only in debug
        enable_idempotence=False,  # the local broker lacks InitProducerId; the outbox suffices
        middlewares=[
            KafkaTelemetryMiddleware(
                tracer_provider=telemetry.tracer_provider,
                meter_provider=telemetry.meter_provider,
            ),
            KafkaPrometheusMiddleware(registry=telemetry.registry, app_name=f"mloop-{service}"),
            DeadLetterMiddleware(settings),
        ],
    )


def work_subscriber(router: KafkaRouter, topic: str, *, group: str, **options: Any) -> Any:
    """Subscribe as the single consumer group `group`; offsets commit after the effect."""
    return router.subscriber(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        **options,
    )


def broadcast_subscriber(router: KafkaRouter, topic: str, **options: Any) -> Any:
    """Subscribe as an independent reader that sees every message from now on."""
    return router.subscriber(
        topic, auto_offset_reset="latest", ack_policy=AckPolicy.ACK_FIRST, **options
    )


async def start_subscribed(broker: KafkaBroker) -> None:
    """`broker.start()`, except that every consumer joins its group at the same time: a join
    takes about 5 s on the local broker, so a service with a dozen subscribers would otherwise
    wait a minute before it is up."""
    await broker.connect()
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


async def restart_subscribers(broker: KafkaBroker) -> None:
    """Start every consumer anew, dropping in-memory positions (after a broker replacement)."""
    await asyncio.gather(*(subscriber.stop() for subscriber in broker.subscribers))
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
