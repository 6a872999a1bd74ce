"""`BatchMethods`: the client's calls for batch predictions and the prediction history.

Batch jobs score a dataset version or an uploaded CSV in the background; their output (the
input's columns, then the prediction's) downloads once they succeeded. The prediction history
pages through the predictions the platform answered online. `MLoopClient` mixes this class in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from mloop_client._download import save
from mloop_client._paths import given as _given
from mloop_client._paths import page as _page
from mloop_client._paths import scenario_path as _at
from mloop_client._progress import ProgressCallback, ProgressFile

JSON = Any
BATCH_FINISHED = frozenset({"succeeded", "failed"})


def _moment(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class BatchMethods:
    """Batch and prediction-history calls; the host (`MLoopClient`) provides the attributes
    declared below."""

    if TYPE_CHECKING:
        url: str
        _http: httpx.Client

        def _request(self, method: str, path: str, **kwargs: Any) -> JSON: ...

        def _create(self, path: str, idempotency_key: str | None, **kwargs: Any) -> JSON: ...

        def _stream(
            self, path: str, *, read_timeout: bool = True, **kwargs: Any
        ) -> AbstractContextManager[httpx.Response]: ...

        def iter_items(
            self, list_method: Callable[..., JSON], /, *args: Any, **params: Any
        ) -> Iterator[JSON]: ...

    # -- batch predictions ----------------------------------------------------------------------

    def request_batch(
        self,
        scenario_id: str,
        *,
        dataset_id: str | None = None,
        file: str | os.PathLike[str] | BinaryIO | None = None,
        model_id: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
        on_progress: ProgressCallback | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Score a dataset version (`dataset_id`) or a CSV file (`file`, streamed from disk)
        with `model_id`, or with the champion when the job starts. Answers the job (queued).

        For a file, `encoding` and `delimiter` default to what the gateway detects, and
        `on_progress(sent_bytes, total_bytes)` follows the upload.
        """
        path = _at(scenario_id, "predictions", "batch")
        if (dataset_id is None) == (file is None):
            raise ValueError("give exactly one of dataset_id and file")
        if dataset_id is not None:
            body = {"dataset_id": str(dataset_id)} | _given(model_id=model_id and str(model_id))
            return self._create(path, idempotency_key, json=body)
        with ExitStack() as stack:
            if isinstance(file, (str, os.PathLike)):
                fileobj: Any = stack.enter_context(Path(file).open("rb"))
            else:
                fileobj = file
            filename = Path(str(getattr(fileobj, "name", None) or "input.csv")).name
            if on_progress is not None:
                fileobj = ProgressFile(fileobj, on_progress)
            fields = _given(
                model_id=model_id and str(model_id), encoding=encoding, delimiter=delimiter
            )
            return self._create(
                path, idempotency_key, files={"file": (filename, fileobj)}, data=fields
            )

    def list_batches(
        self, scenario_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> JSON:
        return self._request(
            "GET", _at(scenario_id, "predictions", "batch"), params=_page(limit, cursor)
        )

    def iter_batches(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_batches, scenario_id, **params)

    def get_batch(self, scenario_id: str, job_id: str) -> JSON:
        return self._request("GET", _at(scenario_id, "predictions", "batch", job_id))

    def wait_for_batch(
        self,
        scenario_id: str,
        job_id: str,
        *,
        timeout: float = 3600,
        poll: float = 1.0,
        on_update: Callable[[JSON], None] | None = None,
    ) -> JSON:
        """Poll until the job succeeded or failed and answer it (a failure is not raised).

        `on_update(job)` sees every state polled. Raises `TimeoutError` after `timeout` s.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_batch(scenario_id, job_id)
            if on_update is not None:
                on_update(job)
            if job["status"] in BATCH_FINISHED:
                return job
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"Batch job {job_id} is still {job['status']} after {timeout} s."
                )
            time.sleep(min(poll, remaining))

    def download_batch(self, scenario_id: str, job_id: str, dest: str | Path) -> Path:
        """Stream a succeeded job's output CSV to `dest` (or `dest/<job id>.csv` when `dest` is
        a directory); answers the file's path. A partial download never takes `dest`'s place,
        and the bytes are checked against `X-Content-SHA256` when the gateway sends it."""
        return save(
            self._stream(_at(scenario_id, "predictions", "batch", job_id, "output")),
            dest,
            f"{job_id}.csv",
            f"Batch {job_id}",
        )

    # -- prediction history ---------------------------------------------------------------------

    def list_predictions(
        self,
        scenario_id: str,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        model_id: str | None = None,
        arm: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        """A page of logged predictions, newest first (`since` inclusive, `until` exclusive)."""
        params = _page(limit, cursor) | _given(
            since=_moment(since), until=_moment(until), model_id=model_id, arm=arm
        )
        return self._request("GET", _at(scenario_id, "predictions"), params=params)

    def iter_predictions(self, scenario_id: str, **params: Any) -> Iterator[JSON]:
        return self.iter_items(self.list_predictions, scenario_id, **params)

    def get_prediction(self, scenario_id: str, prediction_id: str) -> JSON:
        """One prediction by the id it was answered with (with its shadow's output, if any)."""
        return self._request("GET", _at(scenario_id, "predictions", prediction_id))

    def cleanup_predictions(
        self,
        scenario_id: str,
        *,
        older_than_days: float | None = None,
        older_than: datetime | str | None = None,
    ) -> JSON:
        """Delete the predictions older than an age in days or a moment (one of the two); the
        monitor deletes them shortly after. Answers `{"older_than"}`, the cut-off moment."""
        body = _given(older_than_days=older_than_days, older_than=_moment(older_than))
        return self._request("POST", _at(scenario_id, "predictions", "cleanup"), json=body)
