"""The gateway's tables: scenarios, dataset versions, feature sets, the audit log and the
answers kept for idempotent retries. Other services read them through query functions only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db.models import Base


class Scenario(Base):
    __tablename__ = "scenarios"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128))
    task_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    default_data_path: Mapped[str | None] = mapped_column(String(1024))
    default_target: Mapped[str | None] = mapped_column(String(1024))
    primary_metric: Mapped[str | None] = mapped_column(String(64))
    deployment_policy: Mapped[str] = mapped_column(String(16), default="auto")
    monitoring: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_scenarios_page", "created_at", "id"),
        Index("ix_scenarios_tags", "tags", postgresql_using="gin"),
    )


class DatasetVersion(Base):
    """One immutable version of one data path of a scenario."""

    __tablename__ = "dataset_versions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(1024))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)
    encoding: Mapped[str] = mapped_column(String(32))
    delimiter: Mapped[str] = mapped_column(String(1))
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    artifact_key: Mapped[str] = mapped_column(String(1024))
    profile_status: Mapped[str] = mapped_column(String(16), default="pending")
    profile_error: Mapped[str | None] = mapped_column(Text)
    # Loaded only when asked for (`undefer`): it can be large, and lists never show it.
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSONB, deferred=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("scenario_id", "path", "version"),
        UniqueConstraint("scenario_id", "path", "sha256"),
    )


class FeatureSet(Base):
    """One version of a named selection of a dataset version's columns."""

    __tablename__ = "feature_sets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[str | None] = mapped_column(String(1024))
    features: Mapped[list[str]] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("scenario_id", "name", "version"),)


class AuditEntry(Base):
    """Who (which key) changed what, when. Written in the transaction of the change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    key_name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(64))
    scenario_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class IdempotentResponse(Base):
    """The first answer to a request sent with an `Idempotency-Key`, replayed to retries."""

    __tablename__ = "idempotent_responses"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
