"""Workflow definitions, written by the gateway, read by the scheduler (which runs them).

Each `POST .../workflows/{kind}` stores a new version: the YAML as sent (`source`) and its
validated spec (`spec`, see `mloop_common.workflows.spec`: steps in a topological order with
normalised configs). Versions are never edited; the latest version of a kind is the one in force.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db.catalog import DatasetVersion
from mloop_common.db.models import Base


class Workflow(Base):
    __tablename__ = "workflows"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # train or predict
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("scenario_id", "kind", "version"),
        CheckConstraint("kind IN ('train', 'predict')", name="ck_workflows_kind"),
    )


async def latest(session: AsyncSession, scenario_id: uuid.UUID, kind: str) -> Workflow | None:
    """The workflow of that kind in force for the scenario (its latest version), if any."""
    return await session.scalar(
        select(Workflow)
        .where(Workflow.scenario_id == scenario_id, Workflow.kind == kind)
        .order_by(Workflow.version.desc())
        .limit(1)
    )


async def get(session: AsyncSession, workflow_id: uuid.UUID) -> Workflow | None:
    return await session.get(Workflow, workflow_id)


async def prepared_version(
    session: AsyncSession, scenario_id: uuid.UUID, path: str, sha256: str
) -> DatasetVersion | None:
    """The dataset version holding a prepared file (`DatasetPrepared`'s path and sha256), once
    the gateway recorded it: the version with the id the command chose or, when the path already
    had a version with the same content, that older version (versions are unique by content)."""
    return await session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.scenario_id == scenario_id,
            DatasetVersion.path == path,
            DatasetVersion.sha256 == sha256,
        )
    )
