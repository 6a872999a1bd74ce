"""Which arm answers each record of a request, from a scenario's deployment state (pure).

- single: the champion answers everything.
- ab_test: the challenger answers `challenger_share` of the records. With a `sticky_column`,
  a record whose value in that column is present picks its arm by a stable hash of
  (ab_test_id, value): the same value always gets the same arm, in every replica and after a
  restart (the value is normalised as categories are, so 7, 7.0 and "7" are one key). Without a
  sticky column (or without a value in it) one random draw per request decides for all its
  records, so a response comes from one model.
- shadow: the champion answers; the challenger also scores every record afterwards, off the
  response path, logged with arm "shadow" and the champion's prediction id.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from typing import Any

from mloop_common.messages.events import DeploymentState

CHAMPION = "champion"
CHALLENGER = "challenger"
SHADOW = "shadow"
_SCALE = float(1 << 64)


def sticky_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sticky_share(ab_test_id: uuid.UUID | None, value: Any) -> float:
    """A number in [0, 1) fixed by the test and the value."""
    text = f"{ab_test_id}:{sticky_key(value)}".encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Router:
    """The arm of each record under one deployment state."""

    def __init__(self, state: DeploymentState, draw: Callable[[], float] = random.random) -> None:
        self.state = state
        self.draw = draw
        self.split = state.mode == "ab_test" and state.challenger_model_id is not None
        self.shadow = state.mode == "shadow" and state.challenger_model_id is not None
        self.share = state.challenger_share
        self.sticky = state.sticky_column

    def arms(self, records: list[dict[str, Any]]) -> list[str]:
        """One arm per record (champion or challenger; shadow scoring is separate)."""
        if not self.split:
            return [CHAMPION] * len(records)
        request_arm = CHALLENGER if self.draw() < self.share else CHAMPION
        if self.sticky is None:
            return [request_arm] * len(records)
        test, column, share = self.state.ab_test_id, self.sticky, self.share
        out = []
        for record in records:
            value = record.get(column)
            if value is None:
                out.append(request_arm)
            else:
                out.append(CHALLENGER if sticky_share(test, value) < share else CHAMPION)
        return out
