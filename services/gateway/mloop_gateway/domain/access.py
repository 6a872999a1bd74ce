"""Who may do what (pure). Every route names one policy; a policy is the set of roles allowed."""

from __future__ import annotations

from typing import Literal

Policy = Literal["admin", "editor", "viewer", "predictor"]

POLICIES: dict[Policy, frozenset[str]] = {
    "admin": frozenset({"admin"}),
    "editor": frozenset({"admin", "editor"}),
    "viewer": frozenset({"admin", "editor", "viewer"}),
    "predictor": frozenset({"admin", "editor", "predictor"}),
}


def allows(policy: Policy, role: str) -> bool:
    return role in POLICIES[policy]
