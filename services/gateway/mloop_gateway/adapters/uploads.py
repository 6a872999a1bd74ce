"""Receive a CSV upload: stream it into the artifact store while inspecting it, in one pass.

Two worker threads read the same chunks: one writes the object (hashing it on the way), one
runs the CSV inspector. A refusal from the inspector stops reading the request at once and
aborts the write, so a refused file leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mloop_common.storage import ArtifactStore, StoredObject
from mloop_common.tabular import CsvLimits, CsvRejected, CsvReport, WrongEncoding, inspect_csv

from mloop_gateway.adapters.multipart import MultipartStream
from mloop_gateway.adapters.pipes import Pipe


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Received:
    stored: StoredObject
    report: CsvReport
    fields: dict[str, str]
    filename: str | None


def _inspect(pipe: Pipe, limits: CsvLimits) -> CsvReport | WrongEncoding:
    try:
        return inspect_csv(pipe, limits=limits)
    except WrongEncoding as wrong:
        return wrong  # decided once the whole file is stored
    finally:
        pipe.done_reading()


def _reinspect(store: ArtifactStore, key: str, limits: CsvLimits, encoding: str) -> CsvReport:
    """Inspect the stored file again in `encoding`, and in the next guess if that fails later
    too (Latin-1, the last, decodes anything)."""
    while True:
        with store.open(key) as stream:
            try:
                return inspect_csv(stream, limits=limits, encoding=encoding)
            except WrongEncoding as wrong:
                encoding = wrong.retry_with


async def receive(
    form: MultipartStream,
    body: AsyncIterator[bytes],
    *,
    store: ArtifactStore,
    key: str,
    limits: CsvLimits,
    max_bytes: int,
) -> Received:
    to_store, to_inspector = Pipe(), Pipe()
    writing = asyncio.ensure_future(asyncio.to_thread(store.write, key, to_store))
    inspecting = asyncio.ensure_future(asyncio.to_thread(_inspect, to_inspector, limits))
    size = 0
    try:
        async for chunk in form.file_chunks(body):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(max_bytes)
            if inspecting.done() and isinstance(inspecting.exception(), CsvRejected):
                raise inspecting.exception()  # type: ignore[misc]
            await to_store.put(chunk)
            await to_inspector.put(chunk)
        await to_store.close()
        await to_inspector.close()
        report = await inspecting
        stored = await writing
    except BaseException:
        to_store.abort()
        to_inspector.abort()
        await asyncio.gather(writing, inspecting, return_exceptions=True)
        await asyncio.to_thread(store.delete, key)
        raise
    if isinstance(report, WrongEncoding):
        try:
            report = await asyncio.to_thread(_reinspect, store, key, limits, report.retry_with)
        except BaseException:
            await asyncio.to_thread(store.delete, key)
            raise
    return Received(stored=stored, report=report, fields=form.fields, filename=form.filename)
