"""Prepared datasets: the trainer wrote a file for a workflow's preparation step
(`DatasetPrepared`); the gateway records it as the next version of its data path, like an
upload, and announces it (`DatasetUploaded` with origin `workflow`, which has it profiled and
lets the workflow go on, but fires no new_data trigger)."""

from __future__ import annotations

import asyncio
import logging

from mloop_common import outbox
from mloop_common.db.catalog import DatasetVersion, Scenario
from mloop_common.delivery import PermanentError, first_delivery
from mloop_common.messages.events import DatasetPrepared, DatasetUploaded
from sqlalchemy import func, select

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.domain.paths import BadPath, clean_data_path
from mloop_gateway.handlers import audit

log = logging.getLogger(__name__)


async def on_dataset_prepared(gw: Gateway, event: DatasetPrepared, *, consumer: str) -> None:
    """Record the prepared file as a dataset version with the id the command chose (once, however
    often the event comes). Nothing is recorded for a failed preparation (it wrote no file), for
    a deleted scenario, or when the path already has a version with the same content (that
    version stands; the file written is removed)."""
    if event.error is not None:
        log.info("preparation of dataset %s failed: %s", event.dataset_id, event.error)
        return
    if event.scenario_id is None or event.dataset_id is None or not event.path:
        raise PermanentError("DatasetPrepared carries no scenario_id, dataset_id or path")
    try:
        path = clean_data_path(event.path)
    except BadPath as error:
        raise PermanentError(f"DatasetPrepared names a bad data path: {error}") from None
    if not event.artifact_key.startswith(f"scenarios/{event.scenario_id}/"):
        raise PermanentError(f"the prepared file {event.artifact_key!r} is not the scenario's")
    if not event.columns:
        raise PermanentError("DatasetPrepared lists no columns")
    recorded = False
    async with gw.db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=event.event_id):
            return
        scenario = await session.get(Scenario, event.scenario_id, with_for_update=True)
        existing = await session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.scenario_id == event.scenario_id,
                DatasetVersion.path == path,
                DatasetVersion.sha256 == event.sha256,
            )
        )
        already = await session.get(DatasetVersion, event.dataset_id)
        if scenario is not None and existing is None and already is None:
            latest = await session.scalar(
                select(func.max(DatasetVersion.version)).where(
                    DatasetVersion.scenario_id == scenario.id, DatasetVersion.path == path
                )
            )
            version = DatasetVersion(
                id=event.dataset_id,
                scenario_id=scenario.id,
                path=path,
                version=(latest or 0) + 1,
                sha256=event.sha256,
                size=event.size,
                rows=event.rows,
                encoding=event.encoding,
                delimiter=event.delimiter,
                columns=event.columns,
                artifact_key=event.artifact_key,
                profile_status="pending",
                created_by=None,
            )
            session.add(version)
            await session.flush()
            outbox.stage(
                session,
                service=SERVICE,
                message=DatasetUploaded(
                    **event.caused(),
                    dataset_id=version.id,
                    path=path,
                    sha256=version.sha256,
                    rows=version.rows,
                    origin="workflow",
                    workflow_run_id=event.workflow_run_id,
                ),
            )
            audit.record(
                session,
                None,
                action="data.prepare",
                resource="dataset",
                resource_id=version.id,
                scenario_id=scenario.id,
                detail={
                    "path": path,
                    "version": version.version,
                    "sha256": version.sha256,
                    "source_dataset_id": str(event.source_dataset_id),
                    "workflow_run_id": str(event.workflow_run_id)
                    if event.workflow_run_id
                    else None,
                },
            )
            recorded = True
        await session.commit()
    if recorded:
        gw.runtime.relay.notify()
    elif already is None:  # nothing refers to the file written
        await asyncio.to_thread(gw.store.delete, event.artifact_key)
