"""What a retraining trigger's `config` holds, per kind, and the schedule arithmetic.

The gateway validates a trigger's config with `TriggerSpec` (a union discriminated by `kind`);
the scheduler reads the stored config back with `parse_config` and computes a schedule's slots
with `next_slot`. Pure: no I/O.

A schedule is a cron expression of 5 fields (minute hour day month weekday) or 6, whose first
is the second (`*/10 * * * * *`: every ten seconds), read in an IANA time zone: `0 3 * * *` in
`Europe/Berlin` is 03:00 Berlin time, summer and winter. A wall time that does not exist on the
day clocks go forward happens at the first minute after the gap; one that happens twice on the
day they go back happens once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

Comparison = Literal["lt", "le", "gt", "ge"]
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class BadSchedule(ValueError):
    """A cron expression or time zone that cannot make a schedule."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise BadSchedule(f"unknown time zone {name!r}") from error


def check_cron(cron: str) -> str:
    """The expression, if it has 5 or 6 fields croniter accepts and fires at least once."""
    fields = cron.split()
    if len(fields) not in (5, 6):
        raise BadSchedule(f"a cron expression has 5 or 6 fields, not {len(fields)}")
    if not croniter.is_valid(cron, second_at_beginning=len(fields) == 6):
        raise BadSchedule(f"{cron!r} is not a valid cron expression")
    next_slot(cron, "UTC", datetime(2000, 1, 1, tzinfo=UTC))  # fires at all (not 30 February)
    return " ".join(fields)


def next_slot(cron: str, timezone: str, after: datetime) -> datetime:
    """The first slot of the schedule strictly after `after` (aware), as an aware UTC time."""
    tz = zone(timezone)
    fields = cron.split()
    six = len(fields) == 6
    fixed_hours = fields[2 if six else 1] != "*"
    try:
        slots = croniter(cron, after.astimezone(tz), second_at_beginning=six)
        while True:
            found = slots.get_next(datetime).astimezone(UTC)
            if not (fixed_hours and _repeated(found.astimezone(tz))):
                return found
    except (CroniterError, ValueError) as error:
        raise BadSchedule(f"{cron!r} never fires: {error}") from error


def _repeated(local: datetime) -> bool:
    """Whether `local` is the second pass of a wall time the clocks went back over."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = Field(
        max_length=200,
        description="5 fields (minute hour day month weekday), or 6 with the second first.",
    )
    timezone: str = Field("UTC", max_length=64, description="IANA time zone of the expression.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        zone(value)
        return value


class DriftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[FeatureName] | None = Field(
        None, min_length=1, max_length=1000, description="Fire when any of these drifted."
    )
    min_share: float | None = Field(
        None, ge=0, le=1, description="Fire when at least this share of the features drifted."
    )

    @model_validator(mode="after")
    def _one(self) -> DriftConfig:
        if self.features is None and self.min_share is None:
            raise ValueError("name `features`, `min_share` or both")
        return self


class PerformanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(max_length=64, description="One of the task's metrics.")
    comparison: Comparison = Field(description="Fire when `live <comparison> threshold`.")
    threshold: float = Field(allow_inf_nan=False)
    min_feedback: int = Field(
        20, ge=1, le=1_000_000, description="Labelled predictions the live metric needs."
    )


class NewDataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="Data path whose new versions fire; unset: the scenario's default path.",
    )


class _Kind(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSpec(_Kind):
    kind: Literal["schedule"]
    config: ScheduleConfig


class DriftSpec(_Kind):
    kind: Literal["drift"]
    config: DriftConfig


class PerformanceSpec(_Kind):
    kind: Literal["performance"]
    config: PerformanceConfig


class NewDataSpec(_Kind):
    kind: Literal["new_data"]
    config: NewDataConfig = Field(default_factory=NewDataConfig)


TriggerSpec = Annotated[
    ScheduleSpec | DriftSpec | PerformanceSpec | NewDataSpec, Field(discriminator="kind")
]
SPEC: TypeAdapter[Any] = TypeAdapter(TriggerSpec)
Config = ScheduleConfig | DriftConfig | PerformanceConfig | NewDataConfig


def parse_config(kind: str, config: dict[str, Any]) -> Config:
    """A stored config read back (it was validated when the trigger was created)."""
    return SPEC.validate_python({"kind": kind, "config": config}).config


def compares(value: float, comparison: str, threshold: float) -> bool:
    return {
        "lt": value < threshold,
        "le": value <= threshold,
        "gt": value > threshold,
        "ge": value >= threshold,
    }[comparison]


SYMBOLS = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
