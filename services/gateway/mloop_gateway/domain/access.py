"""Who may do what (pure). Every route names one policy; a policy is the set of roles allowed."""

from __future__ import annotations

from typing import Literal

from mloop_common.keyring import PREDICT_ROLES

Policy = Literal["admin", "editor", "viewer", "predictor"]

POLICIES: dict[Policy, frozenset[str]] = {
    "admin": frozenset({"admin"}),
    "editor": frozenset({"admin", "editor"}),
    "viewer": frozenset({"admin", "editor", "viewer"}),
    "predictor": PREDICT_ROLES,
}


def allows(policy: Policy, role: str) -> bool:
    return role in POLICIES[policy]
