"""What the monitor stores of a `PredictionMade` (pure): one row per record whose id this
deployment issued for the message's scenario, with the moment inside the id as `predicted_at`
(the partition key; a look-up by id finds its day without an index)."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mloop_common.messages.events import PredictionRecord
from mloop_common.prediction_ids import PredictionIds

ARMS = frozenset({"champion", "challenger", "shadow"})


@dataclass(frozen=True)
class LogRow:
    prediction_id: str
    predicted_at: datetime
    model_id: uuid.UUID
    arm: str
    inputs: str  # JSON text
    output: str  # JSON text
    latency_ms: float


@dataclass(frozen=True)
class Refused:
    """A record the log will not take, and why."""

    prediction_id: str
    reason: str


def rows_of(
    ids: PredictionIds, scenario_id: uuid.UUID, records: Sequence[PredictionRecord]
) -> tuple[list[LogRow], list[Refused]]:
    """The rows to store, and the records refused (an id that does not verify for the
    scenario: forged, mistyped, another scenario's, or signed with another secret)."""
    rows: list[LogRow] = []
    refused: list[Refused] = []
    for record in records:
        at = ids.verify(scenario_id, record.prediction_id)
        if at is None:
            refused.append(Refused(record.prediction_id, "the id does not verify"))
            continue
        if record.arm not in ARMS:
            refused.append(Refused(record.prediction_id, f"unknown arm {record.arm!r}"))
            continue
        rows.append(
            LogRow(
                prediction_id=record.prediction_id,
                predicted_at=at,
                model_id=record.model_id,
                arm=record.arm,
                inputs=_json(record.inputs),
                output=_json(record.output),
                latency_ms=record.latency_ms,
            )
        )
    return rows, refused


def refusal_message(scenario_id: uuid.UUID, total: int, refused: Sequence[Refused]) -> str:
    first = refused[0]
    return (
        f"{len(refused)} of {total} predictions of scenario {scenario_id} cannot be logged "
        f"(first: {first.prediction_id!r}: {first.reason}); the message is parked whole and "
        "nothing of it was stored. Ids that do not verify mean a forged message or a "
        "MLOOP_PREDICTION_SECRET that differs between predictor and monitor."
    )


def _json(value: object) -> str:
    """JSON text PostgreSQL's jsonb takes: no NaN or Infinity (null instead), no NUL character."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:  # NaN or Infinity somewhere
        return json.dumps(_clean(value), ensure_ascii=False, allow_nan=False, default=str)
    if "\\u0000" in text:
        return json.dumps(_clean(value), ensure_ascii=False, allow_nan=False, default=str)
    return text


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value
