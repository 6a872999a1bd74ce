"""What the monitor stores of feedback (pure): the bare JSON of the feedback topic parsed and
checked, `FeedbackReceived` items checked the same way, and a batch de-duplicated.

An item is stored when its prediction id verifies for its scenario (the moment inside the id is
the row's `predicted_at`, its partition key: no look-up), the prediction is not past retention,
and the actual is readable for the scenario's task (`mloop_common.ml.live.readable_actual`) and
storable as jsonb. Everything else is refused with the reason, which goes to the dead-letter topic.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from mloop_common.ml.live import readable_actual
from mloop_common.prediction_ids import PredictionIds

API = "api"
TOPIC = "topic"
FIELDS = ("scenario_id", "prediction_id", "actual")


class Candidate(NamedTuple):  # tuples: made by the thousand per batch, they must be cheap
    """One piece of feedback as sent, not checked yet; `index` is its place in the batch."""

    index: int
    scenario_id: uuid.UUID
    prediction_id: str
    actual: Any
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Refused:
    """A piece of feedback that will not be stored, and why."""

    index: int
    reason: str


class FeedbackRow(NamedTuple):
    predicted_at: datetime
    scenario_id: uuid.UUID
    prediction_id: str
    actual: str  # JSON text
    received_at: datetime
    index: int  # place in the batch (to trace a row back to its Kafka record)


def parse_bare(
    index: int, value: bytes | None, received_at: datetime, uuids: dict[str, uuid.UUID]
) -> Candidate | Refused:
    """One message of the feedback topic: JSON `{"scenario_id", "prediction_id", "actual"}`.
    `uuids` caches parsed scenario ids across a batch (a few scenarios, many messages)."""
    if not value:
        return Refused(
            index, "empty message: expected JSON with scenario_id, prediction_id, actual"
        )
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        return Refused(index, f"not JSON: {error}")
    if not isinstance(body, dict):
        return Refused(
            index, f"expected a JSON object, got {_json_type(body)}: {{{', '.join(FIELDS)}}}"
        )
    missing = [name for name in FIELDS if name not in body]
    if missing:
        return Refused(index, f"missing field(s): {', '.join(missing)}")
    raw_scenario, prediction_id = body["scenario_id"], body["prediction_id"]
    if not isinstance(raw_scenario, str):
        return Refused(
            index, f"scenario_id must be a string (a UUID), got {_json_type(raw_scenario)}"
        )
    scenario_id = uuids.get(raw_scenario)
    if scenario_id is None:
        try:
            scenario_id = uuid.UUID(raw_scenario)
        except ValueError:
            return Refused(index, f"scenario_id {raw_scenario[:80]!r} is not a UUID")
        uuids[raw_scenario] = scenario_id
    if not isinstance(prediction_id, str):
        return Refused(index, f"prediction_id must be a string, got {_json_type(prediction_id)}")
    return Candidate(index, scenario_id, prediction_id, body["actual"], received_at)


def record_time(timestamp_ms: int | None, fallback: datetime) -> datetime:
    """A Kafka record's timestamp as an aware moment (the fallback when it is unset or absurd)."""
    if timestamp_ms is None or timestamp_ms <= 0:
        return fallback
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


class FeedbackCheck:
    """Checks candidates against the ids this deployment signs and the scenarios' tasks."""

    def __init__(self, ids: PredictionIds) -> None:
        self.ids = ids

    def row(
        self, candidate: Candidate, task_type: str | None, *, horizon: datetime
    ) -> FeedbackRow | Refused:
        """The row to store, or why not. `task_type` None: no such scenario. `horizon`: the
        oldest prediction moment retention still keeps."""
        index, scenario_id = candidate.index, candidate.scenario_id
        if task_type is None:
            return Refused(index, f"unknown scenario {scenario_id}")
        predicted_at = self.ids.verify(scenario_id, candidate.prediction_id)
        if predicted_at is None:
            return Refused(
                index,
                f"unknown or forged prediction id {candidate.prediction_id[:80]!r} "
                f"for scenario {scenario_id}",
            )
        if predicted_at < horizon:
            return Refused(
                index,
                f"prediction is past retention: {candidate.prediction_id} was made at "
                f"{predicted_at.isoformat()}, before {horizon.isoformat()}",
            )
        try:
            readable_actual(task_type, candidate.actual)
            text = json_text(candidate.actual)
        except ValueError as error:
            return Refused(index, f"wrong type for a {task_type} model: {error}")
        return FeedbackRow(
            predicted_at=predicted_at,
            scenario_id=scenario_id,
            prediction_id=candidate.prediction_id,
            actual=text,
            received_at=candidate.received_at,
            index=index,
        )


def json_text(actual: Any) -> str:
    """The actual as JSON text jsonb takes, or ValueError: no NaN or infinity, no NUL."""
    if type(actual) is str:  # the common case first, without the general walk
        if "\x00" in actual:
            raise ValueError("text must not contain the NUL character")
        return orjson.dumps(actual).decode()
    if not _finite(actual):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    try:
        text = orjson.dumps(actual).decode()
    except orjson.JSONEncodeError as error:  # an integer beyond 64 bits, say
        raise ValueError(f"not storable as JSON: {error}") from None
    if "\\u0000" in text:
        raise ValueError("text must not contain the NUL character")
    return text


def latest(rows: Iterable[FeedbackRow]) -> list[FeedbackRow]:
    """One row per (scenario, prediction): the one received last (the later one in the batch on
    a tie). One statement cannot update a row twice, and the last write wins anyway."""
    best: dict[tuple[uuid.UUID, str], FeedbackRow] = {}
    for row in rows:
        key = (row.scenario_id, row.prediction_id)
        kept = best.get(key)
        if kept is None or row.received_at >= kept.received_at:
            best[key] = row
    return list(best.values())


def candidates_of_items(
    scenario_id: uuid.UUID, items: Sequence[Any], received_at: datetime
) -> list[Candidate]:
    """`FeedbackReceived` items (already shaped by the message schema) as candidates."""
    return [
        Candidate(index, scenario_id, item.prediction_id, item.actual, received_at)
        for index, item in enumerate(items)
    ]


def bare_payload(scenario_id: uuid.UUID, prediction_id: str, actual_json: str) -> str:
    """The feedback-topic JSON of a stored item (what a dead letter of it carries)."""
    head = orjson.dumps({"scenario_id": str(scenario_id), "prediction_id": prediction_id})
    return f'{head.decode()[:-1]},"actual":{actual_json}}}'


def ttl_reason(prediction_id: str, ttl: float) -> str:
    return f"no prediction {prediction_id} was logged within {ttl:g} s"


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_finite(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(item) for item in value)
    return True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
