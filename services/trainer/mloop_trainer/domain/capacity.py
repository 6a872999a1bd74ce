"""What a run may use on this trainer (pure): the profile's limits, the operator's ceilings,
and whether the machine can honour the profile at all."""

from __future__ import annotations

from dataclasses import dataclass

from mloop_common.messages.commands import Resources

GB = 1024.0  # MB per GB


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_mb: float
    gpus: int


@dataclass(frozen=True)
class Limits:
    cores: int
    memory_mb: float
    wall_seconds: float


def refusal(resources: Resources, machine: Machine) -> str | None:
    """Why this machine cannot run a profile, or None when it can."""
    if resources.gpus > 0 and machine.gpus == 0:
        return (
            f"the run asks for {resources.gpus} GPU(s) and this trainer has none; "
            "use a profile with gpus=0 or a trainer with GPUs"
        )
    if resources.gpus > machine.gpus:
        return f"the run asks for {resources.gpus} GPUs and this trainer has {machine.gpus}"
    if resources.cpu_cores > machine.cores:
        return (
            f"the profile asks for {resources.cpu_cores} CPU cores and this trainer "
            f"has {machine.cores}"
        )
    if resources.memory_gb * GB > machine.memory_mb:
        return (
            f"the profile asks for {resources.memory_gb:g} GB of memory and this trainer "
            f"has {machine.memory_mb / GB:.1f} GB"
        )
    return None


def limits(
    resources: Resources, *, max_seconds: float | None, max_memory_mb: float | None
) -> Limits:
    """The profile's limits, lowered to the operator's ceilings where those are tighter."""
    wall = resources.max_hours * 3600.0
    memory = resources.memory_gb * GB
    return Limits(
        cores=resources.cpu_cores,
        memory_mb=min(memory, max_memory_mb) if max_memory_mb else memory,
        wall_seconds=min(wall, max_seconds) if max_seconds else wall,
    )
