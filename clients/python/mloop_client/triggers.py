"""`TriggerMethods`: the client's calls for retraining triggers and their firings.

A trigger retrains a scenario's champion by itself: on a schedule (`cron`, `timezone`), on drift
(`features` and/or `min_share`), on a falling live metric (`metric`, `comparison`, `threshold`,
`min_feedback`) or on new data (`path`). Each firing is kept with its reason and outcome.
`MLoopClient` mixes this class in; it uses the host's transport only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mloop_client._paths import given as _given
from mloop_client._paths import page as _page
from mloop_client._paths import scenario_path as _at

JSON = Any


class TriggerMethods:
    """Trigger calls; the host (`MLoopClient`) provides the attributes declared below."""

    if TYPE_CHECKING:

        def _request(self, method: str, path: str, **kwargs: Any) -> JSON: ...

        def _create(self, path: str, idempotency_key: str | None, **kwargs: Any) -> JSON: ...

        def iter_items(
            self, list_method: Callable[..., JSON], /, *args: Any, **params: Any
        ) -> Iterator[JSON]: ...

    def list_triggers(self, scenario_id: str) -> JSON:
        """`{"items": [trigger, ...], "next_cursor": null}`; each with its `last_firing`."""
        return self._request("GET", _at(scenario_id, "triggers"))

    def create_trigger(
        self,
        scenario_id: str,
        name: str,
        kind: str,
        config: dict[str, Any] | None = None,
        *,
        cooldown_seconds: float | None = None,
        enabled: bool | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Create a trigger of `kind` (schedule, drift, performance, new_data) with its config."""
        body = {"name": name, "kind": kind, "config": config or {}} | _given(
            cooldown_seconds=cooldown_seconds, enabled=enabled
        )
        return self._create(_at(scenario_id, "triggers"), idempotency_key, json=body)

    def get_trigger(self, scenario_id: str, trigger_id: str) -> JSON:
        return self._request("GET", _at(scenario_id, "triggers", trigger_id))

    def update_trigger(
        self,
        scenario_id: str,
        trigger_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        cooldown_seconds: float | None = None,
        enabled: bool | None = None,
    ) -> JSON:
        """Change what is given (the others keep their value); `config` replaces the whole
        config and is checked as at creation. The updated trigger."""
        body = _given(name=name, config=config, cooldown_seconds=cooldown_seconds, enabled=enabled)
        return self._request("PUT", _at(scenario_id, "triggers", trigger_id), json=body)

    def enable_trigger(self, scenario_id: str, trigger_id: str) -> JSON:
        """Switch the trigger on (a schedule fires from its next slot on)."""
        return self.update_trigger(scenario_id, trigger_id, enabled=True)

    def disable_trigger(self, scenario_id: str, trigger_id: str) -> JSON:
        """Switch the trigger off: it never fires until switched on again."""
        return self.update_trigger(scenario_id, trigger_id, enabled=False)

    def delete_trigger(self, scenario_id: str, trigger_id: str) -> None:
        """Delete the trigger and its firings (retrains it started go on)."""
        self._request("DELETE", _at(scenario_id, "triggers", trigger_id))

    def list_firings(
        self,
        scenario_id: str,
        trigger_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        """One page of the trigger's firings, newest first."""
        return self._request(
            "GET", _at(scenario_id, "triggers", trigger_id, "firings"), params=_page(limit, cursor)
        )

    def iter_firings(self, scenario_id: str, trigger_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_firings, scenario_id, trigger_id, **params)
