"""The trainer's rows in Postgres: runs (a leased work queue), their logs, model versions.

Every state change that others must hear about stages its event in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mloop_common import leases, outbox
from mloop_common.db import serving_reads
from mloop_common.db.engine import Database
from mloop_common.db.serving import Deployment
from mloop_common.db.training import COMPLETED, ModelVersion, Run, RunLog
from mloop_common.delivery import first_delivery
from mloop_common.leases import FAILED, QUEUED, RUNNING, LeaseLost
from mloop_common.messages.commands import DeleteModels, TrainModel
from mloop_common.messages.events import (
    ModelsDeleted,
    ModelTrained,
    RunFailed,
    RunProgressed,
    RunStarted,
)
from mloop_common.ml.metrics import higher_is_better
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

SERVICE = "trainer"


def _now() -> datetime:
    return datetime.now(UTC)


async def record(db: Database, command: TrainModel, *, consumer: str) -> bool:
    """Queue the run the command asks for; False when it was recorded already."""
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
            return False
        assert command.scenario_id is not None
        spec = command.spec
        result = await session.execute(
            pg_insert(Run)
            .values(
                id=command.run_id,
                scenario_id=command.scenario_id,
                experiment_id=command.experiment_id,
                trigger=command.trigger,
                algorithm=spec.algorithm if spec else "",
                spec=spec.model_dump(mode="json") if spec else None,
                status=QUEUED,
                attempts=0,
                progress=0.0,
                message="queued",
                metrics={},
                trials=[],
            )
            .on_conflict_do_nothing()
            .returning(Run.id)
        )
        created = result.first() is not None
        await session.commit()
    return created


async def claim(db: Database, *, owner: str, ttl: float) -> Run | None:
    return await leases.claim(db, Run, owner=owner, ttl=ttl, order_by=Run.created_at)


async def start(db: Database, run: Run, *, owner: str) -> None:
    async with db.transaction() as session:
        await _update_held(
            session, run.id, owner, started_at=_now(), message="starting", worker=owner
        )
        outbox.stage(
            session,
            service=SERVICE,
            message=RunStarted(scenario_id=run.scenario_id, run_id=run.id),
        )
        await session.commit()


async def progress(db: Database, run: Run, *, owner: str, share: float, message: str) -> None:
    async with db.transaction() as session:
        await _update_held(session, run.id, owner, progress=share, message=message[:2000])
        outbox.stage(
            session,
            service=SERVICE,
            message=RunProgressed(
                scenario_id=run.scenario_id, run_id=run.id, progress=share, message=message[:2000]
            ),
        )
        await session.commit()


async def append_logs(db: Database, run_id: uuid.UUID, lines: Sequence[str]) -> None:
    """Add log lines; LeaseLost when the run is gone (its scenario was deleted)."""
    if not lines:
        return
    try:
        async with db.transaction() as session:
            await session.execute(
                insert(RunLog), [{"run_id": run_id, "line": line} for line in lines]
            )
            await session.commit()
    except IntegrityError:
        raise LeaseLost(run_id) from None


async def complete(
    db: Database,
    run: Run,
    *,
    owner: str,
    model_id: uuid.UUID,
    result: dict[str, Any],
    usage: dict[str, float],
) -> None:
    """Record the model and the run's success together, while still holding the lease."""
    spec = run.spec or {}
    evaluation = spec.get("evaluation", {})
    metric = evaluation.get("primary_metric") or ""
    artifact = result["artifact"]
    async with db.transaction() as session:
        await _update_held(
            session,
            run.id,
            owner,
            status=COMPLETED,
            progress=1.0,
            message="completed",
            metrics=result["metrics"],
            trials=result["trials"],
            algorithm=result["algorithm"],
            model_id=model_id,
            finished_at=_now(),
            lease_owner=None,
            lease_expires_at=None,
            **usage,
        )
        session.add(
            ModelVersion(
                id=model_id,
                scenario_id=run.scenario_id,
                run_id=run.id,
                experiment_id=run.experiment_id,
                dataset_id=uuid.UUID(spec["dataset_id"]),
                feature_set_id=spec.get("feature_set_id"),
                model_config_id=spec.get("model_config_id"),
                resource_profile_id=spec.get("resource_profile_id"),
                task_type=spec["task_type"],
                algorithm=result["algorithm"],
                parameters=result["parameters"],
                metrics=result["metrics"],
                details=result["details"],
                primary_metric=metric,
                primary_value=result["metrics"].get(metric),
                higher_is_better=higher_is_better(metric) if metric else True,
                feature_importances=result["feature_importances"],
                signature=result["signature"],
                reference=result["reference"],
                sample=result["sample"],
                library_versions=result["library_versions"],
                artifact_key=artifact["key"],
                sha256=artifact["sha256"],
                size=artifact["size"],
            )
        )
        outbox.stage(
            session,
            service=SERVICE,
            message=ModelTrained(
                scenario_id=run.scenario_id,
                run_id=run.id,
                model_id=model_id,
                metrics=result["metrics"],
                baseline=result.get("baseline"),
            ),
        )
        await session.commit()


async def champion(db: Database, scenario_id: uuid.UUID) -> dict[str, Any] | None:
    """What a run needs to score the scenario's current champion on its holdout (the policy's
    baseline): its id, task, input signature and verified artifact; None without a champion."""
    async with db.transaction() as session:
        state = await serving_reads.deployment(session, scenario_id)
        if state is None or state.champion_model_id is None:
            return None
        row = await serving_reads.scenario_model(session, scenario_id, state.champion_model_id)
        if row is None:
            return None
        return {
            "model_id": str(row.id),
            "task_type": row.task_type,
            "signature": row.signature,
            "artifact_key": row.artifact_key,
            "sha256": row.sha256,
        }


async def fail(
    db: Database, run: Run, *, owner: str | None, error: str, usage: dict[str, float] | None = None
) -> None:
    """Record the run's failure (while holding the lease, when `owner` is given)."""
    async with db.transaction() as session:
        values = {
            "status": FAILED,
            "error": error[:8000],
            "message": "failed",
            "finished_at": _now(),
            "lease_owner": None,
            "lease_expires_at": None,
            **(usage or {}),
        }
        await _update_held(session, run.id, owner, **values)
        outbox.stage(
            session,
            service=SERVICE,
            message=RunFailed(scenario_id=run.scenario_id, run_id=run.id, error=error[:8000]),
        )
        await session.commit()


async def _update_held(session: Any, run_id: uuid.UUID, owner: str | None, **values: Any) -> None:
    query = update(Run).where(Run.id == run_id, Run.status == RUNNING)
    if owner is not None:
        query = query.where(Run.lease_owner == owner)
    result = await session.execute(query.values(**values))
    if result.rowcount != 1:
        raise LeaseLost(run_id)


async def reconcile(db: Database, *, max_attempts: int) -> tuple[int, int]:
    """Runs whose trainer stopped renewing their lease: re-queued, or failed once they were
    started `max_attempts` times. Returns (requeued, failed)."""
    async with db.transaction() as session:
        requeued, failed = await leases.take_expired(session, Run, max_attempts=max_attempts)
        for run in requeued:
            run.message = "re-queued: its trainer stopped"
        for run in failed:
            run.finished_at, run.message = _now(), "failed"
            run.error = (
                f"the trainer running it stopped {run.attempts} time(s) "
                "(its lease expired); not retried again"
            )
            outbox.stage(
                session,
                service=SERVICE,
                message=RunFailed(scenario_id=run.scenario_id, run_id=run.id, error=run.error),
            )
        await session.commit()
    return len(requeued), len(failed)


async def delete_models(
    db: Database, command: DeleteModels, *, consumer: str
) -> list[tuple[uuid.UUID, str]]:
    """Delete the model rows, never a deployed one; returns (id, artifact key) of those deleted
    now, for the caller to delete their files once the rows are gone."""
    assert command.scenario_id is not None
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
            return []
        # A share lock on the deployment makes a promotion being written wait for this delete
        # (its check then finds the model gone) or finish first (its model is then protected).
        await session.execute(
            select(Deployment.scenario_id)
            .where(Deployment.scenario_id == command.scenario_id)
            .with_for_update(read=True)
        )
        deployed = await serving_reads.protected_models(session, command.scenario_id)
        rows = (
            await session.execute(
                delete(ModelVersion)
                .where(
                    ModelVersion.id.in_(command.model_ids),
                    ModelVersion.id.not_in(deployed),
                    ModelVersion.scenario_id == command.scenario_id,
                )
                .returning(ModelVersion.id, ModelVersion.artifact_key)
            )
        ).all()
        if rows:
            outbox.stage(
                session,
                service=SERVICE,
                message=ModelsDeleted(
                    scenario_id=command.scenario_id, model_ids=[id_ for id_, _ in rows]
                ),
            )
        await session.commit()
    return [(id_, key) for id_, key in rows]
