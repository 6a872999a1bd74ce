"""`MLoopClient`: a synchronous client for the MLoop gateway's REST API (httpx underneath).

Every method answers the JSON the gateway returns (plain dicts and lists). Failures raise
`MLoopError` built from the problem document, or `GatewayUnreachable` when no answer came.
The training calls (experiments, runs, models) live in `training.TrainingMethods`, mixed in here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from mloop_client._paths import given as _given
from mloop_client._paths import page as _page
from mloop_client._paths import scenario_path as _at
from mloop_client._paths import segment as _segment
from mloop_client._progress import ProgressCallback, ProgressFile
from mloop_client.batches import BatchMethods
from mloop_client.deployments import DeploymentMethods
from mloop_client.errors import GatewayUnreachable, MLoopError
from mloop_client.feedback import FeedbackMethods
from mloop_client.monitoring import MonitoringMethods
from mloop_client.predictions import PredictionMethods
from mloop_client.training import TrainingMethods
from mloop_client.triggers import TriggerMethods
from mloop_client.webhooks import WebhookMethods
from mloop_client.workflows import WorkflowMethods

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
MAX_PAGE_SIZE = 200

# Failures after which the request certainly or probably never produced an answer. Requests that
# are safe to repeat (GETs, and creating POSTs carrying an Idempotency-Key) are sent once more.
# A read timeout is left out: the first attempt may still be running on the gateway.
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError)

JSON = Any
ListMethod = Callable[..., dict[str, Any]]


class MLoopClient(
    TrainingMethods,
    DeploymentMethods,
    BatchMethods,
    PredictionMethods,
    FeedbackMethods,
    WebhookMethods,
    TriggerMethods,
    WorkflowMethods,
    MonitoringMethods,
):
    """Client for one gateway. Use as a context manager, or call `close()` when done."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get("MLOOP_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key or os.environ.get("MLOOP_API_KEY") or None
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> MLoopClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- health ---------------------------------------------------------------------------------

    def health(self) -> JSON:
        return self._request("GET", "/api/health")

    # -- keys (admin) ---------------------------------------------------------------------------

    def create_key(
        self,
        name: str,
        role: str,
        *,
        scenarios: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Create an API key; the answer's `key` is the secret, returned this once only."""
        body: dict[str, Any] = {"name": name, "role": role}
        if scenarios is not None:
            body["scenarios"] = [str(scenario) for scenario in scenarios]
        return self._create("/api/keys", idempotency_key, json=body)

    def list_keys(self, *, limit: int | None = None, cursor: str | None = None) -> JSON:
        return self._request("GET", "/api/keys", params=_page(limit, cursor))

    def iter_keys(self, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_keys, **params)

    def revoke_key(self, key_id: str) -> None:
        self._request("DELETE", f"/api/keys/{_segment(key_id)}")

    # -- audit (admin) --------------------------------------------------------------------------

    def list_audit(
        self,
        *,
        scenario_id: str | None = None,
        action: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | _given(scenario_id=scenario_id, action=action)
        return self._request("GET", "/api/audit", params=params)

    def iter_audit(self, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_audit, **params)

    # -- scenarios ------------------------------------------------------------------------------

    def create_scenario(
        self,
        name: str,
        task_type: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        body = {"name": name, "task_type": task_type} | _given(description=description, tags=tags)
        return self._create("/api/scenarios", idempotency_key, json=body)

    def list_scenarios(
        self,
        *,
        tags: list[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | ({"tag": list(tags)} if tags else {})
        return self._request("GET", "/api/scenarios", params=params)

    def iter_scenarios(self, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_scenarios, **params)

    def get_scenario(self, scenario_id: str) -> JSON:
        return self._request("GET", _scenario(scenario_id))

    def update_scenario(self, scenario_id: str, **changes: Any) -> JSON:
        """Change `name`, `description`, `tags`, `default_data_path` or `default_target`.

        Only the fields passed are sent; pass `None` explicitly to clear one.
        """
        return self._request("PUT", _scenario(scenario_id), json=changes)

    def delete_scenario(self, scenario_id: str, *, force: bool = False) -> None:
        self._request("DELETE", _scenario(scenario_id), params={"force": _flag(force)})

    # -- data -----------------------------------------------------------------------------------

    def upload_data(
        self,
        scenario_id: str,
        file: str | os.PathLike[str] | BinaryIO,
        *,
        path: str | None = None,
        target: str | None = None,
        on_progress: ProgressCallback | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Upload a file (a path or a binary file object), streamed from disk in chunks.

        `on_progress(sent_bytes, total_bytes)` is called as the file is sent. The answer is the
        new DatasetVersion, or the existing one when these bytes were already at that path.
        """
        with ExitStack() as stack:
            if isinstance(file, (str, os.PathLike)):
                fileobj: Any = stack.enter_context(Path(file).open("rb"))
            else:
                fileobj = file
            filename = Path(str(getattr(fileobj, "name", None) or "upload")).name
            if on_progress is not None:
                fileobj = ProgressFile(fileobj, on_progress)
            return self._create(
                f"{_scenario(scenario_id)}/data",
                idempotency_key,
                files={"file": (filename, fileobj)},
                data=_given(path=path, target=target),
            )

    def list_data(
        self, scenario_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> JSON:
        return self._request("GET", f"{_scenario(scenario_id)}/data", params=_page(limit, cursor))

    def iter_data(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_data, scenario_id, **params)

    def get_data(self, scenario_id: str, path: str) -> JSON:
        return self._request("GET", _data(scenario_id, path))

    def list_versions(
        self,
        scenario_id: str,
        path: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        return self._request(
            "GET", f"{_data(scenario_id, path)}/versions", params=_page(limit, cursor)
        )

    def iter_versions(self, scenario_id: str, path: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_versions, scenario_id, path, **params)

    def preview_data(
        self, scenario_id: str, path: str, *, rows: int | None = None, version: int | None = None
    ) -> JSON:
        return self._request(
            "GET",
            f"{_data(scenario_id, path)}/preview",
            params=_given(rows=rows, version=version),
        )

    def profile_data(self, scenario_id: str, path: str, *, version: int | None = None) -> JSON:
        return self._request(
            "GET", f"{_data(scenario_id, path)}/profile", params=_given(version=version)
        )

    def delete_data(self, scenario_id: str, path: str, *, force: bool = False) -> None:
        self._request("DELETE", _data(scenario_id, path), params={"force": _flag(force)})

    # -- datasets -------------------------------------------------------------------------------

    def get_dataset(self, scenario_id: str, dataset_id: str) -> JSON:
        return self._request("GET", f"{_scenario(scenario_id)}/datasets/{_segment(dataset_id)}")

    def dataset_columns(self, scenario_id: str, dataset_id: str) -> JSON:
        return self._request(
            "GET", f"{_scenario(scenario_id)}/datasets/{_segment(dataset_id)}/columns"
        )

    # -- feature sets ---------------------------------------------------------------------------

    def create_feature_set(
        self,
        scenario_id: str,
        name: str,
        *,
        dataset_id: str,
        features: list[str],
        target: str | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        body = {
            "name": name,
            "dataset_id": str(dataset_id),
            "target": target,
            "features": list(features),
        }
        return self._create(f"{_scenario(scenario_id)}/feature-sets", idempotency_key, json=body)

    def list_feature_sets(
        self,
        scenario_id: str,
        *,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        params = _page(limit, cursor) | _given(name=name)
        return self._request("GET", f"{_scenario(scenario_id)}/feature-sets", params=params)

    def iter_feature_sets(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_feature_sets, scenario_id, **params)

    def get_feature_set(self, scenario_id: str, feature_set_id: str) -> JSON:
        return self._request(
            "GET", f"{_scenario(scenario_id)}/feature-sets/{_segment(feature_set_id)}"
        )

    # -- paging ---------------------------------------------------------------------------------

    def iter_pages(
        self,
        list_method: ListMethod,
        /,
        *args: Any,
        page_size: int | None = None,
        max_items: int | None = None,
        **params: Any,
    ) -> Iterator[JSON]:
        """Call a `list_*` method page after page, following `next_cursor`.

        With `max_items`, page sizes shrink so that the last page ends exactly there; the last
        page's `next_cursor` then resumes right after it.
        """
        cursor: str | None = None
        seen = 0
        while True:
            limit = page_size
            if max_items is not None:
                limit = min(page_size or MAX_PAGE_SIZE, max_items - seen)
            page = list_method(*args, limit=limit, cursor=cursor, **params)
            yield page
            seen += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor or (max_items is not None and seen >= max_items):
                return

    def iter_items(self, list_method: ListMethod, /, *args: Any, **params: Any) -> Iterator[JSON]:
        """Every item of every page of a `list_*` method (see `iter_pages`)."""
        for page in self.iter_pages(list_method, *args, **params):
            yield from page["items"]

    # -- transport ------------------------------------------------------------------------------

    def _create(self, path: str, idempotency_key: str | None, **kwargs: Any) -> JSON:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return self._request("POST", path, headers=headers, **kwargs)

    def _request(self, method: str, path: str, **kwargs: Any) -> JSON:
        repeatable = method == "GET" or "Idempotency-Key" in kwargs.get("headers", {})
        try:
            try:
                response = self._http.request(method, path, **kwargs)
            except RETRYABLE:
                if not repeatable:
                    raise
                response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise GatewayUnreachable(self.url, exc) from exc
        if response.is_error:
            raise MLoopError.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _scenario(scenario_id: str) -> str:
    return _at(scenario_id)


def _data(scenario_id: str, path: str) -> str:
    # A data path may hold folders ("raw/train.csv"): its slashes stay, the rest is escaped.
    return f"{_scenario(scenario_id)}/data/{quote(path.lstrip('/'), safe='/')}"


def _flag(value: bool) -> str:
    return "true" if value else "false"
