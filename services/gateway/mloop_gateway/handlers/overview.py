"""The platform at a glance (the dashboard's home): counts, the latest work, what needs a look.

Everything is computed by a few aggregate queries in the database (counts, `DISTINCT ON` the
latest run per experiment, `LIMIT`ed newest rows), never by loading rows to count them, so it
stays fast with hundreds of scenarios, thousands of runs and millions of logged predictions
(the prediction log is not read at all). A key limited to some scenarios sees only theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mloop_common.db.catalog import Scenario
from mloop_common.db.monitoring import MonitorEpisode
from mloop_common.db.serving import Deployment
from mloop_common.db.training import Experiment, ModelConfig, Run, RunRequest
from mloop_common.db.training_reads import experiment_statuses
from mloop_common.db.workflow_runs import FAILED as WORKFLOW_FAILED
from mloop_common.db.workflow_runs import WorkflowRun
from mloop_common.keyring import Grant
from mloop_common.leases import QUEUED, RUNNING
from sqlalchemy import ColumnElement, String, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import Gateway

RECENT = 8
ATTENTION = 20
FAILURES_SINCE = timedelta(days=1)


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]
    experiments: dict[str, int]
    runs: dict[str, int]
    recent_experiments: list[dict[str, Any]]
    recent_runs: list[dict[str, Any]]
    attention: list[dict[str, Any]]


def _visible(column: Any, grant: Grant) -> ColumnElement[bool]:
    if grant.scenarios is None:
        return literal(True)
    return column.in_(list(grant.scenarios))


async def overview(gw: Gateway, grant: Grant) -> Overview:
    async with gw.db.transaction() as session:
        counts = await _counts(session, grant)
        experiments = await _experiment_statuses(session, grant)
        runs = await _run_statuses(session, grant)
        recent_experiments = await _recent_experiments(session, grant)
        recent_runs = await _recent_runs(session, grant)
        attention = await _attention(session, grant)
    return Overview(counts, experiments, runs, recent_experiments, recent_runs, attention)


async def _counts(session: AsyncSession, grant: Grant) -> dict[str, int]:
    def count(table: Any, *where: ColumnElement[bool]) -> Any:
        scenario = table.id if table is Scenario else table.scenario_id
        return (
            select(func.count())
            .select_from(table)
            .where(_visible(scenario, grant), *where)
            .scalar_subquery()
        )

    row = (
        await session.execute(
            select(
                count(Scenario).label("scenarios"),
                count(ModelConfig).label("model_configs"),
                count(Deployment, Deployment.champion_model_id.is_not(None)).label("champions"),
                count(Deployment, Deployment.challenger_model_id.is_not(None)).label("challengers"),
            )
        )
    ).one()
    return {
        "scenarios": row.scenarios,
        "model_configs": row.model_configs,
        "deployed_models": row.champions + row.challengers,
        "champions": row.champions,
        "challengers": row.challengers,
    }


def _latest_status() -> Any:
    """Per experiment with runs: its latest run's status (`running` while queued or running)."""
    return (
        select(
            RunRequest.experiment_id,
            func.coalesce(Run.status, literal(QUEUED, String)).label("status"),
        )
        .join(Run, Run.id == RunRequest.id, isouter=True)
        .distinct(RunRequest.experiment_id)
        .order_by(RunRequest.experiment_id, RunRequest.requested_at.desc())
        .subquery()
    )


async def _experiment_statuses(session: AsyncSession, grant: Grant) -> dict[str, int]:
    latest = _latest_status()
    status = latest.c.status
    row = (
        await session.execute(
            select(
                func.count().label("total"),
                func.count().filter(status.is_(None)).label("planned"),
                func.count().filter(status.in_((QUEUED, RUNNING))).label("running"),
                func.count().filter(status == "completed").label("completed"),
                func.count().filter(status == "failed").label("failed"),
            )
            .select_from(Experiment)
            .join(latest, latest.c.experiment_id == Experiment.id, isouter=True)
            .where(_visible(Experiment.scenario_id, grant))
        )
    ).one()
    return dict(row._mapping)


async def _run_statuses(session: AsyncSession, grant: Grant) -> dict[str, int]:
    rows = (
        await session.execute(
            select(Run.status, func.count())
            .where(_visible(Run.scenario_id, grant))
            .group_by(Run.status)
        )
    ).all()
    found = {status: count for status, count in rows}
    return {"total": sum(found.values()), **found}


async def _recent_experiments(session: AsyncSession, grant: Grant) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(Experiment.id, Experiment.name, Experiment.version, Experiment.created_at)
            .add_columns(Scenario.id.label("scenario_id"), Scenario.name.label("scenario_name"))
            .join(Scenario, Scenario.id == Experiment.scenario_id)
            .where(_visible(Experiment.scenario_id, grant))
            .order_by(Experiment.created_at.desc(), Experiment.id.desc())
            .limit(RECENT)
        )
    ).all()
    statuses = await experiment_statuses(session, [row.id for row in rows])
    return [
        dict(row._mapping) | {"status": statuses[row.id][0], "runs": statuses[row.id][1]}
        for row in rows
    ]


async def _recent_runs(session: AsyncSession, grant: Grant) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(
                Run.id,
                Run.experiment_id,
                Run.algorithm,
                Run.trigger,
                Run.status,
                Run.progress,
                Run.created_at,
                Run.finished_at,
                Run.scenario_id,
                Scenario.name.label("scenario_name"),
            )
            .join(Scenario, Scenario.id == Run.scenario_id)
            .where(_visible(Run.scenario_id, grant))
            .order_by(Run.created_at.desc(), Run.id.desc())
            .limit(RECENT)
        )
    ).all()
    return [dict(row._mapping) for row in rows]


async def _attention(session: AsyncSession, grant: Grant) -> list[dict[str, Any]]:
    """Active drift and performance episodes, then runs and workflow runs failed lately."""
    episodes = (
        await session.execute(
            select(
                MonitorEpisode.kind,
                MonitorEpisode.model_id,
                MonitorEpisode.started_at.label("at"),
                MonitorEpisode.scenario_id,
                Scenario.name.label("scenario_name"),
            )
            .join(Scenario, Scenario.id == MonitorEpisode.scenario_id)
            .where(MonitorEpisode.started_at.is_not(None), _visible(Scenario.id, grant))
            .order_by(MonitorEpisode.started_at.desc())
            .limit(ATTENTION)
        )
    ).all()
    since = datetime.now(UTC) - FAILURES_SINCE
    failed_runs = (
        await session.execute(
            select(
                literal("run_failed").label("kind"),
                Run.id,
                Run.error.label("detail"),
                Run.finished_at.label("at"),
                Run.scenario_id,
                Scenario.name.label("scenario_name"),
            )
            .join(Scenario, Scenario.id == Run.scenario_id)
            .where(Run.status == "failed", Run.finished_at >= since)
            .where(_visible(Run.scenario_id, grant))
            .order_by(Run.finished_at.desc())
            .limit(ATTENTION)
        )
    ).all()
    failed_workflows = (
        await session.execute(
            select(
                literal("workflow_failed").label("kind"),
                WorkflowRun.id,
                WorkflowRun.workflow_id,
                literal(None, String).label("detail"),
                WorkflowRun.finished_at.label("at"),
                WorkflowRun.scenario_id,
                Scenario.name.label("scenario_name"),
            )
            .join(Scenario, Scenario.id == WorkflowRun.scenario_id)
            .where(WorkflowRun.status == WORKFLOW_FAILED, WorkflowRun.finished_at >= since)
            .where(_visible(WorkflowRun.scenario_id, grant))
            .order_by(WorkflowRun.finished_at.desc())
            .limit(ATTENTION)
        )
    ).all()
    found = [dict(row._mapping) for row in episodes]
    found += sorted(
        (dict(row._mapping) for row in [*failed_runs, *failed_workflows]),
        key=lambda item: item["at"],
        reverse=True,
    )
    return found[:ATTENTION]
