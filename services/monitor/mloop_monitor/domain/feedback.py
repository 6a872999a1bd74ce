"""What the monitor stores of feedback (pure): the bare JSON of the feedback topic parsed and
checked, `FeedbackReceived` items checked the same way, and a batch de-duplicated.

An item is stored when its prediction id verifies for its scenario (the moment inside the id is
the row's `predicted_at`, its partition key: no look-up), the prediction is not past retention,
and the actual is readable for the scenario's task and storable as jsonb
(`mloop_common.ml.live.checked_actual`, the gateway's check too). Everything else is refused
with the reason, which goes to the dead-letter topic.

This is the hot path of feedback ingestion (a few microseconds of Python a message is the whole
budget), so the batch functions take the common case inline and leave every refusal, with its
precise reason, to the plain per-item functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from mloop_common.ml.live import checked_actual, json_kind
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
    """A row of the `feedback` table, its columns in the table's order (COPY takes it as is)."""

    predicted_at: datetime
    scenario_id: uuid.UUID
    prediction_id: str
    actual: str  # JSON text
    received_at: datetime
    source: str  # API or TOPIC


# --- the bare feedback topic -----------------------------------------------------------------


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
            index, f"expected a JSON object, got {json_kind(body)}: {{{', '.join(FIELDS)}}}"
        )
    missing = [name for name in FIELDS if name not in body]
    if missing:
        return Refused(index, f"missing field(s): {', '.join(missing)}")
    raw_scenario, prediction_id = body["scenario_id"], body["prediction_id"]
    if not isinstance(raw_scenario, str):
        return Refused(
            index, f"scenario_id must be a string (a UUID), got {json_kind(raw_scenario)}"
        )
    scenario_id = uuids.get(raw_scenario)
    if scenario_id is None:
        try:
            scenario_id = uuid.UUID(raw_scenario)
        except ValueError:
            return Refused(index, f"scenario_id {raw_scenario[:80]!r} is not a UUID")
        uuids[raw_scenario] = scenario_id
    if not isinstance(prediction_id, str):
        return Refused(index, f"prediction_id must be a string, got {json_kind(prediction_id)}")
    return Candidate(index, scenario_id, prediction_id, body["actual"], received_at)


def parse_records(records: Sequence[Any], now: datetime) -> tuple[list[Candidate], list[Refused]]:
    """A batch of the feedback topic (Kafka records: `value`, `timestamp` in milliseconds) as
    candidates and refusals, `index` being the place in `records`. The same answers as
    `parse_bare` record by record; a well-formed message costs one JSON parse and a few
    look-ups, anything else goes through `parse_bare` for its reason."""
    loads = orjson.loads
    uuids: dict[str, uuid.UUID] = {}
    moments: dict[int | None, datetime] = {}  # records of a batch share timestamps
    candidates: list[Candidate] = []
    refused: list[Refused] = []
    for index, record in enumerate(records):
        stamp = record.timestamp
        received_at = moments.get(stamp)
        if received_at is None:
            received_at = moments[stamp] = record_time(stamp, now)
        value = record.value
        try:
            body = loads(value)
            scenario_id = uuids.get(body["scenario_id"])
            prediction_id = body["prediction_id"]
            actual = body["actual"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            scenario_id = None
        if scenario_id is None or type(prediction_id) is not str:
            found = parse_bare(index, value, received_at, uuids)
            if type(found) is Refused:
                refused.append(found)
            else:
                candidates.append(found)
            continue
        candidates.append(Candidate(index, scenario_id, prediction_id, actual, received_at))
    return candidates, refused


def record_time(timestamp_ms: int | None, fallback: datetime) -> datetime:
    """A Kafka record's timestamp as an aware moment (the fallback when it is unset or absurd)."""
    if timestamp_ms is None or timestamp_ms <= 0:
        return fallback
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


# --- the check -------------------------------------------------------------------------------


class FeedbackCheck:
    """Checks candidates against the ids this deployment signs and the scenarios' tasks."""

    def __init__(self, secret: str) -> None:
        self.ids = PredictionIds(secret)

    def row(
        self,
        candidate: Candidate,
        task_type: str | None,
        *,
        horizon: datetime,
        source: str = TOPIC,
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
            text = checked_actual(task_type, candidate.actual)
        except ValueError as error:
            return Refused(index, f"wrong type for a {task_type} model: {error}")
        return FeedbackRow(
            predicted_at, scenario_id, candidate.prediction_id, text, candidate.received_at, source
        )

    def rows(
        self,
        candidates: Iterable[Candidate],
        tasks: Mapping[uuid.UUID, str],
        *,
        horizon: datetime,
        source: str,
    ) -> tuple[list[FeedbackRow], list[Refused]]:
        """`row` for each candidate (`tasks`: the task type of each known scenario): the rows
        to store and the refusals, both in the candidates' order. The common case inline."""
        verify, checked = self.ids.verify, checked_actual
        rows: list[FeedbackRow] = []
        refused: list[Refused] = []
        for candidate in candidates:
            _, scenario_id, prediction_id, actual, received_at = candidate
            task_type = tasks.get(scenario_id)
            predicted_at = None if task_type is None else verify(scenario_id, prediction_id)
            if predicted_at is not None and predicted_at >= horizon:
                try:
                    text = checked(task_type, actual)
                except ValueError:
                    pass
                else:
                    rows.append(
                        FeedbackRow(
                            predicted_at, scenario_id, prediction_id, text, received_at, source
                        )
                    )
                    continue
            found = self.row(candidate, task_type, horizon=horizon, source=source)
            if type(found) is Refused:
                refused.append(found)
            else:  # pragma: no cover - the inline path and `row` agree
                rows.append(found)
        return rows, refused


def latest(rows: Sequence[FeedbackRow]) -> list[FeedbackRow]:
    """One row per (scenario, prediction): the one received last (the later one in the batch on
    a tie). One statement cannot update a row twice, and the last write wins anyway."""
    if len({row.prediction_id for row in rows}) == len(rows):  # the common case: no repeats
        return list(rows)
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
