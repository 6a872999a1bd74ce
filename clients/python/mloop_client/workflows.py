"""`WorkflowMethods`: the client's calls for a scenario's workflows and their runs.

A workflow (train or predict) is written in YAML; `put_workflow` stores it as the next version
(a refused one raises `MLoopError` whose `errors` hold `{path, line, column, message}` per
fault). `run_workflow` starts a run of the newest version; the scheduler takes it on shortly
after (202), and `wait_for_workflow_run` polls it until it ends.
`MLoopClient` mixes this class in; it uses the host's transport only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop_client._paths import given as _given
from mloop_client._paths import page as _page
from mloop_client._paths import scenario_path as _at
from mloop_client.errors import MLoopError

JSON = Any
KINDS = ("train", "predict")
FINISHED = ("succeeded", "failed")


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"a workflow's kind is train or predict, not {kind!r}")
    return kind


class WorkflowMethods:
    """Workflow calls; the host (`MLoopClient`) provides the attributes declared below."""

    if TYPE_CHECKING:

        def _request(self, method: str, path: str, **kwargs: Any) -> JSON: ...

        def _create(self, path: str, idempotency_key: str | None, **kwargs: Any) -> JSON: ...

        def iter_items(
            self, list_method: Callable[..., JSON], /, *args: Any, **params: Any
        ) -> Iterator[JSON]: ...

    # -- definitions ------------------------------------------------------------------------------

    def put_workflow(
        self,
        scenario_id: str,
        kind: str,
        source: str | Path,
        *,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Store YAML text (or the file at a `Path`) as the next version of the scenario's `kind`
        workflow; answers the stored version (`id`, `version`, `steps`, `spec`, `source`)."""
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        headers = {
            "Content-Type": "application/yaml",
            "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
        }
        return self._request(
            "POST",
            _at(scenario_id, "workflows", _kind(kind)),
            headers=headers,
            content=text.encode("utf-8"),
        )

    def workflow(self, scenario_id: str, kind: str, *, version: int | None = None) -> JSON:
        """The workflow in force (its newest version), or `version`."""
        return self._request(
            "GET", _at(scenario_id, "workflows", _kind(kind)), params=_given(version=version)
        )

    def workflow_versions(self, scenario_id: str, kind: str) -> JSON:
        """Every version of the scenario's `kind` workflow, newest first (`{"items": [...]}`)."""
        return self._request("GET", _at(scenario_id, "workflows", _kind(kind), "versions"))

    # -- runs -------------------------------------------------------------------------------------

    def run_workflow(
        self, scenario_id: str, kind: str = "train", *, idempotency_key: str | None = None
    ) -> JSON:
        """Start a run of the newest version; answers `{"id", "workflow_id", "status": "queued",
        ...}` (GET finds the run once the scheduler has taken it on)."""
        return self._create(_at(scenario_id, "workflows", _kind(kind), "runs"), idempotency_key)

    def list_workflow_runs(
        self,
        scenario_id: str,
        kind: str = "train",
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | _given(status=status)
        return self._request(
            "GET", _at(scenario_id, "workflows", _kind(kind), "runs"), params=params
        )

    def iter_workflow_runs(
        self, scenario_id: str, kind: str = "train", **params: Any
    ) -> Iterator[JSON]:
        return self.iter_items(self.list_workflow_runs, scenario_id, kind, **params)

    def workflow_run(self, scenario_id: str, run_id: str) -> JSON:
        """A run with each step's `status`, `attempts`, `error` and `output`."""
        return self._request("GET", _at(scenario_id, "workflow-runs", run_id))

    def wait_for_workflow_run(
        self,
        scenario_id: str,
        run_id: str,
        *,
        timeout: float = 600.0,
        poll: float = 1.0,
        on_poll: Callable[[JSON | None], None] | None = None,
    ) -> JSON:
        """Poll the run until it has succeeded or failed; answers it then. A 404 while the
        scheduler has not taken the run on yet is waited out too. TimeoutError after `timeout`
        seconds (the run goes on)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                run = self.workflow_run(scenario_id, run_id)
            except MLoopError as error:
                if error.status != 404:
                    raise
                run = None
            if on_poll is not None:
                on_poll(run)
            if run is not None and run.get("status") in FINISHED:
                return run
            if time.monotonic() >= deadline:
                state = "not taken on yet" if run is None else run.get("status")
                raise TimeoutError(f"workflow run {run_id} still {state} after {timeout:g} s")
            time.sleep(poll)
