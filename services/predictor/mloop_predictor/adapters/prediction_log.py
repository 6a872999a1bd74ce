"""The log of online predictions: a bounded in-memory buffer, flushed to Kafka as
`PredictionMade` messages.

A request only appends a tuple per answered record (no I/O, no validation, no await). Every
`prediction_flush_interval` seconds the flusher takes what is buffered, groups it by scenario,
and publishes one message per `prediction_batch_size` predictions, straight to the broker with
the scenario id as key (not through the outbox: the hot path writes no database). Delivery is
therefore at most once: a crash loses what the buffer held, and a message the broker refuses is
dropped (counted, logged) rather than retried forever. When the broker is slow and the buffer
holds `prediction_buffer_max` predictions, the oldest are dropped (counted) so answers never
wait. Payloads are built as JSON directly (orjson) in the envelope `PredictionMade` defines.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from mloop_common import topics

log = logging.getLogger(__name__)

# (scenario_id, prediction_id, model_id, arm, inputs, output, latency_ms, predicted_at)
Entry = tuple[uuid.UUID, str, uuid.UUID, str, Any, Any, float, datetime]
Publish = Callable[[bytes, bytes], Awaitable[object]]


def payload(scenario_id: uuid.UUID, entries: list[Entry], *, now: datetime) -> bytes:
    """One `PredictionMade` message as JSON bytes."""
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": "PredictionMade",
            "schema_version": 1,
            "occurred_at": now,
            "scenario_id": str(scenario_id),
            "correlation_id": None,
            "causation_id": None,
            "predictions": [
                {
                    "prediction_id": prediction_id,
                    "model_id": str(model_id),
                    "arm": arm,
                    "inputs": inputs,
                    "output": output,
                    "latency_ms": latency_ms,
                    "predicted_at": predicted_at,
                }
                for _, prediction_id, model_id, arm, inputs, output, latency_ms, predicted_at in (
                    entries
                )
            ],
        },
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    )


class PredictionLog:
    def __init__(self, *, batch_size: int, flush_interval: float, buffer_max: int) -> None:
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.buffer: deque[Entry] = deque(maxlen=buffer_max)
        self.dropped = 0  # pushed out of a full buffer
        self.failed = 0  # lost with a message the broker refused
        self.sent = 0
        self.on_drop: Callable[[int], None] = lambda count: None

    def append(self, entry: Entry) -> None:
        buffer = self.buffer
        if len(buffer) == buffer.maxlen:
            self.dropped += 1
            self.on_drop(1)
        buffer.append(entry)

    def take(self) -> dict[uuid.UUID, list[list[Entry]]]:
        """Everything buffered, per scenario, in batches of at most `batch_size`."""
        buffer, grouped = self.buffer, {}
        for _ in range(len(buffer)):
            entry = buffer.popleft()
            grouped.setdefault(entry[0], []).append(entry)
        size = self.batch_size
        return {
            scenario: [entries[i : i + size] for i in range(0, len(entries), size)]
            for scenario, entries in grouped.items()
        }

    async def flush(self, publish: Publish) -> int:
        """Publish what is buffered, one message at a time; returns the predictions sent."""
        sent = 0
        for scenario, batches in self.take().items():
            key = str(scenario).encode()
            for entries in batches:
                body = payload(scenario, entries, now=datetime.now(UTC))
                try:
                    await publish(body, key)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.failed += len(entries)
                    log.exception("dropped %d logged predictions of %s", len(entries), scenario)
                    continue
                sent += len(entries)
        self.sent += sent
        return sent

    async def run(self, publish: Publish) -> None:
        """Flush every `flush_interval` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self.flush_interval)
                if self.buffer:
                    await self.flush(publish)
        finally:
            if self.buffer:
                await asyncio.shield(self.flush(publish))


def kafka_publisher(broker: Any) -> Publish:
    """Publish raw JSON to the PredictionMade topic through the runtime's FastStream broker."""

    async def publish(body: bytes, key: bytes) -> None:
        await broker.publish(
            body, topics.PREDICTION_MADE, key=key, headers={"content-type": "application/json"}
        )

    return publish
