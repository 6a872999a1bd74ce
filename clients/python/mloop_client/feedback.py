"""`FeedbackMethods`: observed outcomes for earlier predictions. `MLoopClient` mixes it in."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mloop_client._paths import scenario_path as _at

JSON = Any
DEFAULT_BATCH = 1000  # the gateway's default MLOOP_FEEDBACK_MAX_ITEMS


class FeedbackMethods:
    """The feedback call; the host (`MLoopClient`) provides `_create`."""

    if TYPE_CHECKING:

        def _create(self, path: str, idempotency_key: str | None, **kwargs: Any) -> JSON: ...

    def send_feedback(
        self,
        scenario_id: str,
        items: Iterable[Any],
        *,
        batch_size: int = DEFAULT_BATCH,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Send `items` (`{"prediction_id", "actual"}` each: the id a prediction was answered
        with and the observed outcome) in requests of at most `batch_size` items. Answers
        `{"accepted": n, "refused": [{"index", "prediction_id", "reason"}]}` over all requests,
        `index` counting in `items`. Refused items (malformed, unknown or forged id, past
        retention, wrong type for the task) do not fail the call; the rest are stored by the
        monitor, the last feedback on a prediction winning. Safe to repeat."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        accepted, refused = 0, []
        iterator = iter(items)
        for number in itertools.count():
            batch = list(itertools.islice(iterator, batch_size))
            if not batch:
                break
            key = None if idempotency_key is None else f"{idempotency_key}:{number}"
            answer = self._create(f"{_at(scenario_id)}/feedback", key, json={"items": batch})
            accepted += answer["accepted"]
            offset = number * batch_size
            refused += [{**one, "index": one["index"] + offset} for one in answer["refused"]]
        return {"accepted": accepted, "refused": refused}
