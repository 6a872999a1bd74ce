"""`PredictionMethods`: online prediction through the gateway. `MLoopClient` mixes it in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mloop_client._paths import scenario_path as _at

JSON = Any


class PredictionMethods:
    """The predict call; the host (`MLoopClient`) provides `_request`."""

    if TYPE_CHECKING:

        def _request(self, method: str, path: str, **kwargs: Any) -> JSON: ...

    def predict(
        self, scenario_id: str, records: Iterable[dict[str, Any]], k: int | None = None
    ) -> JSON:
        """Predict `records` (dicts of column -> value) with the scenario's champion (or the
        A/B arm each record falls in). Answers `{"model_id", "predictions": [{"prediction_id",
        "prediction", "probabilities" | "score" | "times" | "scores" (per task), "arm",
        "model_id"}]}`, one per record in order. `k`: how many items a recommendation model
        returns. A refused record raises `MLoopError` (422) whose `errors` name each record and
        field at fault. Not retried: a prediction is logged once it is answered."""
        body: dict[str, Any] = {"records": list(records)}
        if k is not None:
            body["k"] = k
        return self._request("POST", f"{_at(scenario_id)}/predict", json=body)
