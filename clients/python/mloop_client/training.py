"""`TrainingMethods`: the client's calls for the gateway's training API.

Model configs, resource profiles, experiments, runs (with their logs, polled or followed live) and
trained models. `MLoopClient` mixes this class in; it uses the host's transport only.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mloop_client._download import save
from mloop_client._paths import given as _given
from mloop_client._paths import page as _page
from mloop_client._paths import scenario_path as _at
from mloop_client._paths import segment as _segment
from mloop_client.errors import GatewayUnreachable, MLoopError

JSON = Any
FINISHED = frozenset({"completed", "failed"})


class TrainingMethods:
    """Training calls; the host (`MLoopClient`) provides the attributes declared below."""

    if TYPE_CHECKING:
        url: str
        _http: httpx.Client

        def _request(self, method: str, path: str, **kwargs: Any) -> JSON: ...

        def _create(self, path: str, idempotency_key: str | None, **kwargs: Any) -> JSON: ...

        def iter_items(
            self, list_method: Callable[..., JSON], /, *args: Any, **params: Any
        ) -> Iterator[JSON]: ...

    def algorithms(self) -> JSON:
        """The algorithms per task type, each with its parameters' types, bounds and defaults."""
        return self._request("GET", "/api/algorithms")

    # -- model configs --------------------------------------------------------------------------

    def create_model_config(
        self,
        scenario_id: str,
        *,
        name: str,
        algorithm: str,
        parameters: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Save a model config; the same name again makes its next version."""
        body = {"name": name, "algorithm": algorithm} | _given(parameters=parameters)
        return self._create(_at(scenario_id, "model-configs"), idempotency_key, json=body)

    def list_model_configs(
        self,
        scenario_id: str,
        *,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | _given(name=name)
        return self._request("GET", _at(scenario_id, "model-configs"), params=params)

    def get_model_config(self, scenario_id: str, model_config_id: str) -> JSON:
        return self._request("GET", _at(scenario_id, "model-configs", model_config_id))

    # -- resource profiles ----------------------------------------------------------------------

    def create_resource_profile(
        self,
        *,
        name: str,
        cpu_cores: float = 1,
        memory_gb: float = 2,
        gpus: int = 0,
        gpu_memory_gb: float = 0,
        max_hours: float = 1,
        idempotency_key: str | None = None,
    ) -> JSON:
        body = {"name": name, "cpu_cores": cpu_cores, "memory_gb": memory_gb, "gpus": gpus}
        body |= {"gpu_memory_gb": gpu_memory_gb, "max_hours": max_hours}
        return self._create("/api/resource-profiles", idempotency_key, json=body)

    def list_resource_profiles(
        self, *, name: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> JSON:
        params = _page(limit, cursor) | _given(name=name)
        return self._request("GET", "/api/resource-profiles", params=params)

    def get_resource_profile(self, resource_profile_id: str) -> JSON:
        return self._request("GET", f"/api/resource-profiles/{_segment(resource_profile_id)}")

    # -- experiments ----------------------------------------------------------------------------

    def create_experiment(
        self, scenario_id: str, *, name: str, idempotency_key: str | None = None, **body: Any
    ) -> JSON:
        """Create an experiment; the fields are the API's, those given as `None` are left out.

        By ids: `feature_set_id`, `model_config_id`, optional `resource_profile_id`. Inline:
        `dataset_id`, `target`, optional `features`, `model={"algorithm", "parameters"}`, optional
        `resources={"cpu_cores", ...}`. Both: optional `tags` and `evaluation={"holdout",
        "cv_folds", "seed"}`. The same name again makes the next semantic version.
        """
        body = {"name": name} | _given(**body)
        return self._create(_at(scenario_id, "experiments"), idempotency_key, json=body)

    def list_experiments(
        self,
        scenario_id: str,
        *,
        name: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | _given(name=name, status=status)
        return self._request("GET", _at(scenario_id, "experiments"), params=params)

    def iter_experiments(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_experiments, scenario_id, **params)

    def get_experiment(self, scenario_id: str, experiment_id: str) -> JSON:
        return self._request("GET", _at(scenario_id, "experiments", experiment_id))

    def compare_experiments(self, scenario_id: str, ids: Iterable[str]) -> JSON:
        """Each experiment's latest completed run (else its latest run): metrics, resource use."""
        params = {"ids": ",".join(str(experiment_id) for experiment_id in ids)}
        return self._request("GET", _at(scenario_id, "experiments", "compare"), params=params)

    def start_run(
        self, scenario_id: str, experiment_id: str, *, idempotency_key: str | None = None
    ) -> JSON:
        """Queue a run of an experiment; answers the Run (status "queued")."""
        return self._create(_at(scenario_id, "experiments", experiment_id, "runs"), idempotency_key)

    # -- runs -----------------------------------------------------------------------------------

    def train(
        self,
        scenario_id: str,
        *,
        time_budget: float | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Queue an automatic run on the scenario's default data path and target."""
        body = _given(time_budget=time_budget)
        return self._create(_at(scenario_id, "train"), idempotency_key, json=body)

    def list_runs(
        self,
        scenario_id: str,
        *,
        status: str | None = None,
        experiment_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | _given(status=status, experiment_id=experiment_id)
        return self._request("GET", _at(scenario_id, "runs"), params=params)

    def iter_runs(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_runs, scenario_id, **params)

    def get_run(self, scenario_id: str, run_id: str) -> JSON:
        return self._request("GET", _at(scenario_id, "runs", run_id))

    def run_logs(
        self,
        scenario_id: str,
        run_id: str,
        *,
        after: int | str | None = None,
        limit: int | None = None,
    ) -> JSON:
        """A page of log lines after the line id `after`; `next_cursor` is the last id given."""
        params = _given(after=after, limit=limit)
        return self._request("GET", _at(scenario_id, "runs", run_id, "logs"), params=params)

    def iter_run_logs(self, scenario_id: str, run_id: str) -> Iterator[JSON]:
        """Every log line written so far, page after page."""
        after = None
        while True:
            page = self.run_logs(scenario_id, run_id, after=after)
            yield from page["items"]
            after = page.get("next_cursor")
            if not page["items"] or after is None:
                return

    def follow_run(self, scenario_id: str, run_id: str) -> Iterator[tuple[str, JSON]]:
        """Follow a run live: `(event, data)` pairs, the last one `("end", Run)`.

        Events: `log` ({"id", "at", "line"}), `progress` ({"status", "progress", "message"}) and
        `end` (the finished Run). The stream has no read timeout, as a run may be quiet for long.
        """
        path = _at(scenario_id, "runs", run_id, "logs")
        headers = {"Accept": "text/event-stream"}
        with self._stream(
            path, read_timeout=False, params={"follow": "true"}, headers=headers
        ) as r:
            for event, data in parse_sse(r.iter_lines()):
                yield event, json.loads(data)
                if event == "end":
                    return
        # Closed without `end`: fine if the run has finished meanwhile, an error otherwise.
        run = self.get_run(scenario_id, run_id)
        if run["status"] not in FINISHED:
            detail = f"The event stream of run {run_id} closed while it was {run['status']}."
            raise MLoopError(None, "Log stream interrupted", detail)
        yield "end", run

    def wait_for_run(
        self, scenario_id: str, run_id: str, *, timeout: float = 600, poll: float = 0.5
    ) -> JSON:
        """Poll until the run is completed or failed, and answer it (a failed run is not raised).

        Raises `TimeoutError` when it has not finished within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(scenario_id, run_id)
            if run["status"] in FINISHED:
                return run
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"Run {run_id} is still {run['status']} after {timeout} s.")
            time.sleep(min(poll, remaining))

    # -- models ---------------------------------------------------------------------------------

    def list_models(
        self,
        scenario_id: str,
        *,
        experiment_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | _given(experiment_id=experiment_id)
        return self._request("GET", _at(scenario_id, "models"), params=params)

    def iter_models(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_models, scenario_id, **params)

    def get_model(self, scenario_id: str, model_id: str) -> JSON:
        return self._request("GET", _at(scenario_id, "models", model_id))

    def model_metrics(self, scenario_id: str, model_id: str) -> JSON:
        return self._request("GET", _at(scenario_id, "models", model_id, "metrics"))

    def best_model(self, scenario_id: str) -> JSON:
        """The scenario's best model by its primary metric (an `MLoopError` 404 when none)."""
        return self._request("GET", _at(scenario_id, "models", "best-model"))

    def download_model(self, scenario_id: str, model_id: str, dest: str | Path) -> Path:
        """Stream a model's artifact (joblib) to `dest`, or to `dest/<model id>.joblib` when
        `dest` is a directory; answers the file's path.

        The bytes are checked against the `X-Content-SHA256` header; a partial or corrupt download
        never takes `dest`'s place.
        """
        return save(
            self._stream(_at(scenario_id, "models", model_id, "artifact")),
            dest,
            f"{model_id}.joblib",
            f"Model {model_id}",
        )

    def cleanup_models(self, scenario_id: str, *, keep: int) -> JSON:
        """Delete all but the `keep` best models; answers `{"kept": [...], "deleted": [...]}`."""
        return self._request("POST", _at(scenario_id, "models", "cleanup"), json={"keep": keep})

    @contextmanager
    def _stream(
        self, path: str, *, read_timeout: bool = True, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """A streamed GET failing as `_request` does (`MLoopError`, `GatewayUnreachable`).

        `read_timeout=False` waits forever between chunks; the other timeouts still hold.
        """
        timeout = self._http.timeout
        if not read_timeout:
            timeout = httpx.Timeout(
                connect=timeout.connect, read=None, write=timeout.write, pool=timeout.pool
            )
        try:
            with self._http.stream("GET", path, timeout=timeout, **kwargs) as response:
                if response.is_error:
                    response.read()
                    raise MLoopError.from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise GatewayUnreachable(self.url, exc) from exc


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Server-sent events from a stream's lines: one `(event, data)` per blank-line-ended block.

    As the WHATWG rules say: `event:` names the event ("message" when absent), `data:` lines are
    joined with newlines, one space after the colon is dropped, lines starting with `:` are
    comments (keep-alives), other fields (`id`, `retry`) are ignored and a block without data is
    not dispatched. Unlike them, a last block cut short by the end of the stream is still given.
    """
    event, data = "", []
    for line in itertools.chain(lines, [""]):
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
