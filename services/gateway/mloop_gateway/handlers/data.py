"""A scenario's data: uploads become immutable dataset versions; previews and profiles read them."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from mloop_common import outbox, tabular
from mloop_common.db.catalog import DatasetVersion, FeatureSet, Scenario
from mloop_common.db.training import ModelVersion
from mloop_common.keyring import Grant
from mloop_common.messages.events import DatasetUploaded
from mloop_common.problems import Problem, invalid, not_found
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from mloop_gateway.adapters.multipart import MultipartStream
from mloop_gateway.adapters.uploads import Received, receive
from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.domain.paths import BadPath, clean_data_path
from mloop_gateway.handlers import audit, scenarios


def artifact_key(scenario_id: uuid.UUID, dataset_id: uuid.UUID) -> str:
    return f"scenarios/{scenario_id}/data/{dataset_id}.csv"


def data_path(path: str, loc: list[Any]) -> str:
    try:
        return clean_data_path(path)
    except BadPath as err:
        raise invalid(loc, str(err), "data_path") from err


async def upload(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    form: MultipartStream,
    body: AsyncIterator[bytes],
) -> tuple[DatasetVersion, bool]:
    """Store and record an uploaded CSV; returns the version and whether it is new."""
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
    dataset_id = uuid.uuid4()
    key = artifact_key(scenario_id, dataset_id)
    limits = tabular.CsvLimits(max_columns=gw.settings.upload_max_columns)
    received = await receive(
        form, body, store=gw.store, key=key, limits=limits, max_bytes=gw.settings.upload_max_bytes
    )
    try:
        version, created = await _record(gw, grant, scenario_id, dataset_id, key, received)
    except BaseException:
        await asyncio.to_thread(gw.store.delete, key)
        raise
    if not created:
        await asyncio.to_thread(gw.store.delete, key)  # the same bytes are already stored
    gw.runtime.relay.notify()
    return version, created


async def _record(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    dataset_id: uuid.UUID,
    key: str,
    received: Received,
) -> tuple[DatasetVersion, bool]:
    path = data_path(received.fields.get("path") or received.filename or "", ["body", "path"])
    target = received.fields.get("target") or None
    columns = [dataclasses.asdict(column) for column in received.report.columns]
    if target is not None and target not in {column["name"] for column in columns}:
        raise invalid(["body", "target"], f"the file has no column {target!r}", "unknown")
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id, for_update=True)
        same = await session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.scenario_id == scenario_id,
                DatasetVersion.path == path,
                DatasetVersion.sha256 == received.stored.sha256,
            )
        )
        if same is not None:
            return same, False
        latest = await session.scalar(
            select(func.max(DatasetVersion.version)).where(
                DatasetVersion.scenario_id == scenario_id, DatasetVersion.path == path
            )
        )
        version = DatasetVersion(
            id=dataset_id,
            scenario_id=scenario_id,
            path=path,
            version=(latest or 0) + 1,
            sha256=received.stored.sha256,
            size=received.stored.size,
            rows=received.report.rows,
            encoding=received.report.encoding,
            delimiter=received.report.delimiter,
            columns=columns,
            artifact_key=key,
            profile_status="pending",
            created_by=grant.key_id,
        )
        session.add(version)
        if target is not None and scenario.default_target is None:
            scenario.default_data_path, scenario.default_target = path, target
        await session.flush()
        outbox.stage(
            session,
            service=SERVICE,
            message=DatasetUploaded(
                scenario_id=scenario_id,
                dataset_id=dataset_id,
                path=path,
                sha256=version.sha256,
                rows=version.rows,
            ),
        )
        audit.record(
            session,
            grant,
            action="data.upload",
            resource="dataset",
            resource_id=dataset_id,
            scenario_id=scenario_id,
            detail={"path": path, "version": version.version, "sha256": version.sha256},
        )
        await session.commit()
        await session.refresh(version)
    return version, True


async def files(gw: Gateway, grant: Grant, scenario_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every data path of the scenario with its version count and latest version (one row each,
    from Postgres: DISTINCT ON the path, the count as a window over it)."""
    query = (
        select(DatasetVersion, func.count().over(partition_by=DatasetVersion.path))
        .where(DatasetVersion.scenario_id == scenario_id)
        .distinct(DatasetVersion.path)
        .order_by(DatasetVersion.path, DatasetVersion.version.desc())
    )
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        rows = (await session.execute(query)).all()
    return [{"path": latest.path, "versions": count, "latest": latest} for latest, count in rows]


async def versions(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, path: str
) -> Sequence[DatasetVersion]:
    async with gw.db.transaction() as session:
        return await _versions(session, grant, scenario_id, path)


async def _versions(
    session: AsyncSession, grant: Grant, scenario_id: uuid.UUID, path: str
) -> Sequence[DatasetVersion]:
    await scenarios.load(session, grant, scenario_id)
    found = (
        await session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.scenario_id == scenario_id, DatasetVersion.path == path)
            .order_by(DatasetVersion.version.desc())
        )
    ).all()
    if not found:
        raise not_found("data file", path)
    return found


async def version(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    path: str,
    number: int | None,
    *,
    with_profile: bool = False,
) -> DatasetVersion:
    """One version of a path: `number`, or the latest."""
    query = (
        select(DatasetVersion)
        .where(DatasetVersion.scenario_id == scenario_id, DatasetVersion.path == path)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )
    if number is not None:
        query = query.where(DatasetVersion.version == number)
    if with_profile:
        query = query.options(undefer(DatasetVersion.profile))
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        found = await session.scalar(query)
    if found is None:
        raise not_found("data file", path if number is None else f"{path} version {number}")
    return found


async def dataset(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, dataset_id: uuid.UUID
) -> DatasetVersion:
    return await scenarios.owned(gw, grant, scenario_id, DatasetVersion, dataset_id, "dataset")


async def preview(gw: Gateway, found: DatasetVersion, rows: int) -> tuple[list[str], list[list]]:
    def read() -> tuple[list[str], list[list]]:
        with gw.store.open(found.artifact_key) as stream:
            return tabular.preview_csv(
                stream, encoding=found.encoding, delimiter=found.delimiter, rows=rows
            )

    return await asyncio.to_thread(read)


async def remove_path(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, path: str, *, force: bool
) -> None:
    """Delete every version of a path. Versions a feature set uses, or a model was trained
    on, answer 409 unless forced (forced: their feature sets and experiments go too; models
    stay, with their lineage naming the deleted version)."""
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id, for_update=True)
        found = await _versions(session, grant, scenario_id, path)
        ids = [row.id for row in found]
        users = (
            await session.scalars(
                select(FeatureSet.name).where(FeatureSet.dataset_id.in_(ids)).distinct()
            )
        ).all()
        trained = await session.scalar(
            select(func.count()).select_from(ModelVersion).where(ModelVersion.dataset_id.in_(ids))
        )
        if (users or trained) and not force:
            reasons = []
            if users:
                reasons.append(f"feature sets {', '.join(sorted(users))} use {path!r}")
            if trained:
                reasons.append(f"{trained} model(s) were trained on it")
            raise Problem(
                409,
                "Data in use",
                f"In use: {'; '.join(reasons)}. Delete with force=true to remove it anyway.",
            )
        await session.execute(delete(DatasetVersion).where(DatasetVersion.id.in_(ids)))
        scenario = await session.get(Scenario, scenario_id)
        if scenario is not None and scenario.default_data_path == path:
            scenario.default_data_path = scenario.default_target = None
        audit.record(
            session,
            grant,
            action="data.delete",
            resource="data",
            resource_id=path,
            scenario_id=scenario_id,
            detail={"path": path, "versions": len(ids), "force": force, "feature_sets": users},
        )
        await session.commit()
    for row in found:
        await asyncio.to_thread(gw.store.delete, row.artifact_key)


async def compute_profile(gw: Gateway, dataset_id: uuid.UUID) -> None:
    """Profile a stored version (off the request path; the `DatasetUploaded` consumer calls it)."""
    async with gw.db.transaction() as session:
        found = await session.get(DatasetVersion, dataset_id)
    if found is None or found.profile_status != "pending":
        return  # deleted since, or profiled already (a redelivery)

    status, error, profile = "ready", None, None
    try:
        profile = await gw.profiler.profile(
            found.artifact_key, encoding=found.encoding, delimiter=found.delimiter
        )
    except ValueError as err:  # the file's content, not a passing fault: record it
        status, error = "failed", str(err)
    async with gw.db.transaction() as session:
        row = await session.get(DatasetVersion, dataset_id, with_for_update=True)
        if row is not None:
            row.profile_status, row.profile_error, row.profile = status, error, profile
            await session.commit()


async def remove_scenario_files(gw: Gateway, scenario_id: uuid.UUID) -> None:
    """After `ScenarioDeleted`: remove the scenario's stored files (idempotent)."""
    await asyncio.to_thread(gw.store.delete_prefix, f"scenarios/{scenario_id}")
