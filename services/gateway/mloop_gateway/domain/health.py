"""The platform's health from its parts (pure)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Status = Literal["ok", "down"]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    services: dict[str, Status]
    dependencies: dict[str, Status]


def summarise(services: dict[str, Status], dependencies: dict[str, Status]) -> Health:
    parts = [*services.values(), *dependencies.values()]
    overall = "ok" if all(part == "ok" for part in parts) else "degraded"
    return Health(status=overall, services=services, dependencies=dependencies)
