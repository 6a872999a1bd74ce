"""Feedback through the REST API: observed outcomes for earlier predictions, checked item by item
without a database look-up per item, and sent to the monitor as `FeedbackReceived`.

An item is accepted when its prediction id verifies for the scenario (the ids are signed: a
forged, mistyped or other scenario's id fails by itself), the prediction is not past retention,
and the actual is readable for the scenario's task. The scenario is read once per request (for
its task type and the key's access). The accepted items go out through the outbox in one
transaction (one message; several only when they would not fit one Kafka record). No audit
entry: feedback is data, not a change to the platform, and the monitor's log keeps it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mloop_common import outbox
from mloop_common.keyring import Grant
from mloop_common.messages.events import FeedbackItem, FeedbackReceived
from mloop_common.ml.live import checked_actual, json_kind
from mloop_common.prediction_ids import PredictionIds
from mloop_common.problems import invalid

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.handlers import scenarios

FIELDS = frozenset({"prediction_id", "actual"})
# Accepted items per message are bounded by size too: a Kafka record is 1 MiB at most.
MESSAGE_BUDGET = 512 * 1024
ITEM_OVERHEAD = 64  # the item's JSON around its id and actual


@dataclass(frozen=True)
class Refusal:
    index: int
    prediction_id: str | None
    reason: str


@dataclass(frozen=True)
class Accepted:
    prediction_id: str
    actual: Any
    size: int  # bytes of JSON, roughly


@dataclass(frozen=True)
class Received:
    accepted: int
    refused: list[Refusal]


async def receive(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, items: Sequence[Any]
) -> Received:
    limit = gw.settings.feedback_max_items
    if len(items) > limit:
        raise invalid(
            ["body", "items"],
            f"{len(items)} items; at most {limit} per request (MLOOP_FEEDBACK_MAX_ITEMS): "
            "send the rest in further requests",
            "too_long",
        )
    ids = PredictionIds(gw.settings.prediction_secret)
    horizon = datetime.now(UTC) - timedelta(days=gw.settings.retention_days)
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id)
        accepted, refused = check_items(
            ids, scenario_id, scenario.task_type, items, horizon=horizon
        )
        if accepted:
            for chunk in chunks(accepted):
                outbox.stage(
                    session,
                    service=SERVICE,
                    message=FeedbackReceived(
                        scenario_id=scenario_id,
                        items=[
                            FeedbackItem(prediction_id=a.prediction_id, actual=a.actual)
                            for a in chunk
                        ],
                    ),
                )
            await session.commit()
    if accepted:
        gw.runtime.relay.notify()
    return Received(accepted=len(accepted), refused=refused)


def check_items(
    ids: PredictionIds,
    scenario_id: uuid.UUID,
    task_type: str,
    items: Sequence[Any],
    *,
    horizon: datetime,
) -> tuple[list[Accepted], list[Refusal]]:
    """The items to send on, and those refused with the reason (pure)."""
    accepted: list[Accepted] = []
    refused: list[Refusal] = []
    for index, item in enumerate(items):
        found = _check(ids, scenario_id, task_type, item, horizon)
        if isinstance(found, Accepted):
            accepted.append(found)
        else:
            given = item.get("prediction_id") if isinstance(item, Mapping) else None
            refused.append(Refusal(index, given[:200] if isinstance(given, str) else None, found))
    return accepted, refused


def _check(
    ids: PredictionIds, scenario_id: uuid.UUID, task_type: str, item: Any, horizon: datetime
) -> Accepted | str:
    if not isinstance(item, Mapping):
        return (
            "malformed item: expected an object with prediction_id and actual, "
            f"got {json_kind(item)}"
        )
    missing = sorted(FIELDS - set(item))
    if missing:
        return f"malformed item: missing {', '.join(missing)}"
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        return f"malformed item: unknown field(s) {', '.join(unknown)}"
    prediction_id, actual = item["prediction_id"], item["actual"]
    if not isinstance(prediction_id, str):
        return f"malformed item: prediction_id must be a string, got {json_kind(prediction_id)}"
    predicted_at = ids.verify(scenario_id, prediction_id)
    if predicted_at is None:
        return "unknown or forged prediction id"
    if predicted_at < horizon:
        return (
            f"prediction is past retention: made at {predicted_at.isoformat()}, older than "
            "the retention period (MLOOP_RETENTION_DAYS)"
        )
    try:
        size = len(checked_actual(task_type, actual).encode())
    except ValueError as error:
        return f"wrong type for a {task_type} model: {error}"
    return Accepted(prediction_id, actual, size + len(prediction_id) + ITEM_OVERHEAD)


def chunks(accepted: Sequence[Accepted], budget: int = MESSAGE_BUDGET) -> list[list[Accepted]]:
    """Accepted items in order, split where a message would outgrow `budget` bytes."""
    found: list[list[Accepted]] = [[]]
    size = 0
    for item in accepted:
        if found[-1] and size + item.size > budget:
            found.append([])
            size = 0
        found[-1].append(item)
        size += item.size
    return found if found[-1] else []
