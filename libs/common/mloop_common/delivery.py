"""Consuming side of the delivery guarantees: retries, dead letters, idempotent effects.

`DeadLetterMiddleware` wraps every subscriber of a broker: a handler that raises is retried with
exponential backoff; after `consumer_max_attempts` tries (at once for input that can never parse)
the message is published to the dead-letter topic with the error and the consumer, then acked,
so it never blocks its partition. If even the dead-letter publish fails, the error propagates and
the message is redelivered.

`first_delivery()` records a message id inside the handler's transaction: a redelivered message
finds its id and the handler skips its effect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

from fast_depends.exceptions import ValidationError as DependsValidationError
from faststream import BaseMiddleware
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common import topics
from mloop_common.db.models import ProcessedMessage
from mloop_common.settings import Settings

log = logging.getLogger(__name__)


class PermanentError(Exception):
    """Raised by a handler for input it can never process: dead-lettered without retries."""


PERMANENT = (
    PermanentError,
    ValidationError,
    DependsValidationError,
    UnicodeDecodeError,
    json.JSONDecodeError,
)


class DeadLetter(BaseModel):
    """What the dead-letter topic keeps of a message no consumer could handle."""

    model_config = ConfigDict(frozen=True)

    consumer: str = Field(description="Consumer (group) that gave up on the message.")
    topic: str = Field(description="Topic the message came from.")
    partition: int = Field(description="Its partition.")
    offset: int = Field(description="Its offset.")
    key: str | None = Field(description="Its key, decoded as UTF-8 with replacement.")
    payload: str = Field(description="Its value, decoded as UTF-8 with replacement.")
    headers: dict[str, str] = Field(description="Its headers.")
    error: str = Field(description="The last error, with its type.")
    attempts: int = Field(description="How many times it was tried.")
    failed_at: datetime = Field(description="When it was dead-lettered.")


def consumer_name(handler: Any) -> str:
    """The name a subscriber records processed ids and dead letters under."""
    group = getattr(handler, "group_id", None)
    if group:
        return group
    return "broadcast:" + ",".join(getattr(handler, "topics", ()) or ("?",))


class DeadLetterMiddleware:
    """Broker middleware factory: `KafkaBroker(middlewares=[DeadLetterMiddleware(settings)])`."""

    def __init__(self, settings: Settings) -> None:
        self.max_attempts = settings.consumer_max_attempts
        self.backoff = settings.consumer_backoff

    def __call__(self, msg: Any, /, *, context: Any) -> _DeadLetterScope:
        return _DeadLetterScope(msg, context=context, policy=self)


class _DeadLetterScope(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, policy: DeadLetterMiddleware) -> None:
        super().__init__(msg, context=context)
        self.policy = policy

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call_next(msg)
            except asyncio.CancelledError:
                raise
            except PERMANENT as error:
                await self._dead_letter(msg, error, attempt)
                return None
            except Exception as error:
                if attempt >= self.policy.max_attempts:
                    await self._dead_letter(msg, error, attempt)
                    return None
                delay = self.policy.backoff * 2 ** (attempt - 1)
                log.warning("handler failed (try %d), retrying in %.2fs: %r", attempt, delay, error)
                await asyncio.sleep(delay)

    async def _dead_letter(self, msg: Any, error: BaseException, attempts: int) -> None:
        record = msg.raw_message
        consumer = consumer_name(self.context.get("handler_"))
        letter = DeadLetter(
            consumer=consumer,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
            payload=(record.value or b"").decode(errors="replace"),
            headers={name: value.decode(errors="replace") for name, value in record.headers},
            error="".join(traceback.format_exception_only(error)).strip()[:4000],
            attempts=attempts,
            failed_at=datetime.now(UTC),
        )
        log.error(
            "dead-lettering %s[%d]@%d for %s: %s",
            record.topic,
            record.partition,
            record.offset,
            consumer,
            letter.error,
        )
        broker = self.context.get("broker")
        await broker.publish(letter, topic=topics.DEAD_LETTER, key=record.key)


async def first_delivery(session: AsyncSession, *, consumer: str, event_id: uuid.UUID) -> bool:
    """Record `event_id` as processed by `consumer` in this transaction.

    Returns False when it was already recorded (a redelivery): the caller skips its effect. Two
    concurrent deliveries serialise on the primary key; the second sees the first's commit.
    """
    result = await session.execute(
        pg_insert(ProcessedMessage)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(ProcessedMessage.event_id)
    )
    return result.first() is not None


__all__ = ["DeadLetter", "DeadLetterMiddleware", "PermanentError", "first_delivery"]
