"""Use cases of the predictor: answer a predict request, score the shadow, follow deployments.

`predict` takes the scenario's served entry and the raw body and gives the response body; every
refusal is a `Problem` (problem+json): 409 without a champion, 422 for a body that is not
`{"records": [...], "k"?: int}`, for 0 or more than `predict_max_records` records, or for
records the answering model's signature refuses (each record and field listed, see
`signature` and `scoring`). A record is checked against the model that answers it (the
challenger's signature for its share of an A/B test). When the scenario has a predict workflow,
its data_preprocessing steps transform the records first (`domain.transform`); records it
cannot transform are refused with 422, each named with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from mloop_common.messages.events import DeploymentState
from mloop_common.problems import Problem

from mloop_predictor.adapters import scenarios
from mloop_predictor.context import Predictor
from mloop_predictor.deployments import Served
from mloop_predictor.domain.routing import CHALLENGER, CHAMPION, SHADOW
from mloop_predictor.domain.transform import PredictTransform, TransformBroken, TransformFailed
from mloop_predictor.scoring import Scorer

log = logging.getLogger(__name__)


def invalid(detail: str, errors: list[dict[str, Any]]) -> Problem:
    """A 422 listing every fault, as {record, field, message} plus the gateway's loc/msg/type."""
    listed = [
        {
            "loc": ["body", "records", e["record"], *([e["field"]] if e["field"] else [])]
            if e.get("record") is not None
            else ["body", e["field"]],
            "msg": e["message"],
            "type": "value_error",
            **e,
        }
        for e in errors
    ]
    return Problem(422, "Invalid request", detail, errors=listed)


def _field_error(field: str, message: str) -> Problem:
    return invalid(message, [{"record": None, "field": field, "message": message}])


def parse(body: bytes, max_records: int) -> tuple[list[Any], Any]:
    """The records and k of a request body."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise _field_error("records", f"the body is not JSON: {err}") from err
    if type(payload) is not dict:
        raise _field_error("records", 'the body must be an object: {"records": [...]}')
    records = payload.get("records")
    if type(records) is not list:
        raise _field_error("records", "records must be an array of objects")
    if not records:
        raise _field_error("records", "records is empty: send at least one record")
    if len(records) > max_records:
        raise _field_error(
            "records",
            f"{len(records)} records are more than the {max_records} a request may carry "
            "(MLOOP_PREDICT_MAX_RECORDS); use batch prediction",
        )
    return records, payload.get("k")


def _check(scorer: Scorer, records: list[Any], k: Any) -> None:
    problem = scorer.check_k(k)
    if problem is not None:
        raise _field_error("k", problem)
    errors = scorer.validate(records)
    if errors:
        count = len({e["record"] for e in errors})
        raise invalid(f"{count} of {len(records)} records cannot be used", errors)


def transformed(transform: PredictTransform, records: list[Any]) -> list[dict[str, Any]]:
    """The records through the scenario's predict workflow: 422 naming each record at fault
    (and why), 503 when the stored workflow cannot be applied at all."""
    try:
        return transform.records(records)
    except TransformFailed as failed:
        count = len({e["record"] for e in failed.errors})
        raise invalid(
            f"the predict workflow cannot transform {count} of {len(records)} records",
            failed.errors,
        ) from None
    except TransformBroken as broken:
        raise Problem(503, "Service unavailable", str(broken)) from None


def predict(
    ctx: Predictor,
    served: Served,
    body: bytes,
    started: float,
    *,
    transform: PredictTransform | None = None,
) -> bytes:
    """The response body of one predict request (raises `Problem`). With the scenario's
    predict `transform`, the models (champion, challenger, shadow, fast path or pipeline alike)
    score and the log keeps the transformed records; an A/B test's sticky column is read from
    the records as sent."""
    champion = served.champion
    if champion is None:
        raise Problem(409, "Conflict", "scenario has no champion yet")
    records, k = parse(body, ctx.settings.predict_max_records)
    sent = records
    if transform is not None:
        records = transformed(transform, records)
    router = served.router
    arms = router.arms(sent) if router.split else None
    challenger = served.challenger
    if arms is None or challenger is None or CHALLENGER not in arms:
        _check(champion, records, k)
        outputs = champion.predict(records, k=k)
        arms = None
    else:
        groups: dict[str, list[int]] = {CHAMPION: [], CHALLENGER: []}
        for position, arm in enumerate(arms):
            groups[arm].append(position)
        outputs = [None] * len(records)
        for arm, scorer in ((CHAMPION, champion), (CHALLENGER, challenger)):
            chosen = groups[arm]
            if not chosen:
                continue
            part = [records[i] for i in chosen]
            try:
                _check(scorer, part, k)
            except Problem as problem:
                for error in problem.errors or []:
                    if isinstance(error.get("record"), int):
                        error["record"] = chosen[error["record"]]
                        error["loc"][2] = error["record"]
                raise
            for i, output in zip(chosen, scorer.predict(part, k=k), strict=True):
                outputs[i] = output
    now = datetime.now(UTC)
    millis = int(now.timestamp() * 1000)
    predicted_at = datetime.fromtimestamp(millis / 1000, UTC)
    issue = ctx.ids.issue
    scenario_id = served.scenario_id
    latency_ms = (time.perf_counter() - started) * 1000.0
    append = ctx.log.append
    predictions = []
    champion_id = champion.model_id
    champion_text = str(champion_id)
    if arms is None:
        for record, output in zip(records, outputs, strict=True):
            prediction_id = issue(scenario_id, now)
            predictions.append(
                {
                    "prediction_id": prediction_id,
                    **output,
                    "arm": CHAMPION,
                    "model_id": champion_text,
                }
            )
            append(
                (
                    scenario_id,
                    prediction_id,
                    champion_id,
                    CHAMPION,
                    record,
                    output,
                    latency_ms,
                    predicted_at,
                )
            )
        ctx.metrics.predictions.labels(CHAMPION).inc(len(records))
        answered_by = champion_text
    else:
        assert challenger is not None
        texts = {CHAMPION: champion_text, CHALLENGER: str(challenger.model_id)}
        ids = {CHAMPION: champion_id, CHALLENGER: challenger.model_id}
        for record, output, arm in zip(records, outputs, arms, strict=True):
            prediction_id = issue(scenario_id, now)
            predictions.append(
                {"prediction_id": prediction_id, **output, "arm": arm, "model_id": texts[arm]}
            )
            append(
                (
                    scenario_id,
                    prediction_id,
                    ids[arm],
                    arm,
                    record,
                    output,
                    latency_ms,
                    predicted_at,
                )
            )
        for arm in (CHAMPION, CHALLENGER):
            ctx.metrics.predictions.labels(arm).inc(arms.count(arm))
        answered_by = texts[arms[0]] if len(set(arms)) == 1 else champion_text
    if router.shadow and challenger is not None:
        asyncio.get_running_loop().call_soon(
            shadow, ctx, served, challenger, records, k, predictions, predicted_at
        )
    return orjson.dumps({"model_id": answered_by, "predictions": predictions})


def shadow(
    ctx: Predictor,
    served: Served,
    challenger: Scorer,
    records: list[dict[str, Any]],
    k: Any,
    answered: list[dict[str, Any]],
    predicted_at: datetime,
) -> None:
    """Score the request with the challenger after the champion's answer went out; log each
    record with arm "shadow" and the champion's prediction id. Records the challenger's
    signature refuses are not scored (logged at debug level)."""
    started = time.perf_counter()
    try:
        if challenger.check_k(k) is not None:
            k = None
        errors = challenger.validate(records)
        bad = {e["record"] for e in errors}
        if bad:
            log.debug("shadow of %s skips %d records: %s", served.scenario_id, len(bad), errors)
        positions = [i for i in range(len(records)) if i not in bad]
        if not positions:
            return
        outputs = challenger.predict([records[i] for i in positions], k=k)
    except Exception:
        log.exception("shadow scoring of %s failed", served.scenario_id)
        return
    latency_ms = (time.perf_counter() - started) * 1000.0
    for i, output in zip(positions, outputs, strict=True):
        ctx.log.append(
            (
                served.scenario_id,
                answered[i]["prediction_id"],
                challenger.model_id,
                SHADOW,
                records[i],
                output,
                latency_ms,
                predicted_at,
            )
        )
    ctx.metrics.predictions.labels(SHADOW).inc(len(positions))


# -- following deployments -----------------------------------------------------------------------


async def load_all(ctx: Predictor) -> None:
    """Start-up (after the subscribers are up): every scenario's deployment and predict
    workflow from Postgres, applied when newer than what broadcasts already brought; waits until
    loaded, so a fresh predictor answers with the current champions from its first request."""
    states = await scenarios.deployments(ctx.db)
    await ctx.transforms.load_all()
    for scenario_id, state in states.items():
        ctx.deployments.apply(scenario_id, state)
    await ctx.deployments.settle()
    log.info("serving %d scenarios", len(ctx.deployments.entries))


def on_deployment(ctx: Predictor, scenario_id: uuid.UUID | None, state: DeploymentState) -> None:
    if scenario_id is None:
        log.warning("a deployment event without a scenario id was ignored")
        return
    ctx.deployments.apply(scenario_id, state)
    ctx.transforms.refresh_soon(scenario_id)  # heals a lost WorkflowSaved; off the request path


async def on_workflow_saved(ctx: Predictor, scenario_id: uuid.UUID | None, kind: str) -> None:
    """A scenario's predict workflow changed: read the one in force (before the next
    broadcast is handled, so the refreshes of a scenario apply in order)."""
    if scenario_id is None or kind != "predict":
        return
    await ctx.transforms.refresh(scenario_id)
