"""`DeploymentMethods`: the client's calls for deployments and A/B tests.

Promote and roll back models, read the deployment state and its history, start, read and end
A/B and shadow tests. Changes are applied by the scheduler shortly after the gateway accepts
them (202); `wait_for_deployment` and `wait_for_ab_test` poll until they show.
`MLoopClient` mixes this class in; it uses the host's transport only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mloop_client._paths import given as _given
from mloop_client._paths import page as _page
from mloop_client._paths import scenario_path as _at
from mloop_client.errors import MLoopError

JSON = Any


class DeploymentMethods:
    """Deployment calls; the host (`MLoopClient`) provides the attributes declared below."""

    if TYPE_CHECKING:

        def _request(self, method: str, path: str, **kwargs: Any) -> JSON: ...

        def _create(self, path: str, idempotency_key: str | None, **kwargs: Any) -> JSON: ...

        def iter_items(
            self, list_method: Callable[..., JSON], /, *args: Any, **params: Any
        ) -> Iterator[JSON]: ...

    # -- champion ---------------------------------------------------------------------------------

    def promote(
        self,
        scenario_id: str,
        model_id: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Ask for the model to become the champion; answers `{"status": "accepted", "model_id",
        "previous_model_id", "version", ...}` (`version`: the state's version when accepted)."""
        return self._create(
            _at(scenario_id, "models", model_id, "promote"),
            idempotency_key,
            json=_given(reason=reason),
        )

    def rollback(
        self, scenario_id: str, *, reason: str | None = None, idempotency_key: str | None = None
    ) -> JSON:
        """Ask for the previous champion back; the answer's `model_id` is the one restored."""
        return self._create(
            _at(scenario_id, "models", "rollback"), idempotency_key, json=_given(reason=reason)
        )

    def deployments(self, scenario_id: str, *, history_limit: int | None = None) -> JSON:
        """The champion, challenger, traffic split, running test and latest alias changes."""
        params = _given(history_limit=history_limit)
        return self._request("GET", _at(scenario_id, "deployments"), params=params)

    def deployment_history(
        self, scenario_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> JSON:
        return self._request(
            "GET", _at(scenario_id, "deployments", "history"), params=_page(limit, cursor)
        )

    def iter_deployment_history(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.deployment_history, scenario_id, **params)

    def wait_for_deployment(
        self,
        scenario_id: str,
        *,
        champion: str | None = None,
        version_at_least: int | None = None,
        timeout: float = 60,
        poll: float = 0.25,
    ) -> JSON:
        """Poll the deployment until its champion is `champion` and/or its version reached
        `version_at_least`; answers it. Raises `TimeoutError` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.deployments(scenario_id, history_limit=0)
            current = (state.get("champion") or {}).get("model_id")
            if (champion is None or current == str(champion)) and (
                version_at_least is None or state["version"] >= version_at_least
            ):
                return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"Scenario {scenario_id}: champion {current}, version {state['version']} "
                    f"after {timeout} s."
                )
            time.sleep(min(poll, remaining))

    # -- A/B tests ------------------------------------------------------------------------------

    def start_ab_test(
        self,
        scenario_id: str,
        challenger_model_id: str,
        *,
        mode: str = "ab_test",
        challenger_share: float | None = None,
        champion_model_id: str | None = None,
        sticky_column: str | None = None,
        primary_metric: str | None = None,
        min_samples: int | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Test a challenger against the champion: `mode="ab_test"` splits traffic by
        `challenger_share` (default 0.1), `mode="shadow"` scores every request with both and
        answers with the champion. The answer's `test_id` names the test."""
        body = {"challenger_model_id": str(challenger_model_id), "mode": mode} | _given(
            challenger_share=challenger_share,
            champion_model_id=None if champion_model_id is None else str(champion_model_id),
            sticky_column=sticky_column,
            primary_metric=primary_metric,
            min_samples=min_samples,
        )
        return self._create(_at(scenario_id, "ab-tests"), idempotency_key, json=body)

    def ab_tests(
        self,
        scenario_id: str,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | _given(status=status)
        return self._request("GET", _at(scenario_id, "ab-tests"), params=params)

    def iter_ab_tests(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.ab_tests, scenario_id, **params)

    def ab_test(self, scenario_id: str, test_id: str) -> JSON:
        """The test with its predictions per arm and its results."""
        return self._request("GET", _at(scenario_id, "ab-tests", test_id))

    def end_ab_test(
        self,
        scenario_id: str,
        test_id: str,
        *,
        promote_challenger: bool = False,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        body = {"promote_challenger": promote_challenger} | _given(reason=reason)
        return self._create(
            _at(scenario_id, "ab-tests", test_id, "end"), idempotency_key, json=body
        )

    def wait_for_ab_test(
        self,
        scenario_id: str,
        test_id: str,
        *,
        status: str = "running",
        timeout: float = 60,
        poll: float = 0.25,
    ) -> JSON:
        """Poll until the test exists with `status` (`running` or `ended`); answers it. A test
        the scheduler has not started yet answers 404, which counts as not there yet."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                test = self.ab_test(scenario_id, test_id)
            except MLoopError as error:
                if error.status != 404:
                    raise
                test = None
            if test is not None and test["status"] == status:
                return test
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "not started" if test is None else test["status"]
                raise TimeoutError(f"A/B test {test_id} is {seen} after {timeout} s.")
            time.sleep(min(poll, remaining))
