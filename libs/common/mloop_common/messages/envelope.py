"""The envelope every MLoop message carries (DESIGN.md, Messages)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """Base of every command and event. Subclasses set `type` and `topic`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: ClassVar[str]

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4, description="Unique id; consumers de-duplicate on it."
    )
    type: str = Field(description="The message type name, e.g. `ModelTrained`.")
    schema_version: int = Field(1, ge=1, description="Version of this type's schema.")
    occurred_at: datetime = Field(default_factory=utcnow, description="When it happened (UTC).")
    scenario_id: uuid.UUID | None = Field(
        None, description="The scenario it concerns; also the partition key."
    )
    correlation_id: uuid.UUID | None = Field(
        None, description="Id shared by every message of one user action."
    )
    causation_id: uuid.UUID | None = Field(
        None, description="`event_id` of the message that caused this one."
    )

    @property
    def partition_key(self) -> bytes:
        return str(self.scenario_id or self.type).encode()

    def caused(self, **ids: uuid.UUID | None) -> dict[str, uuid.UUID | None]:
        """Envelope ids for a message this one causes: same correlation, causation = self."""
        return {
            "scenario_id": self.scenario_id,
            "correlation_id": self.correlation_id or self.event_id,
            "causation_id": self.event_id,
            **ids,
        }
