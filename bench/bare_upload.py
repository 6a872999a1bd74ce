"""The floor for the upload benchmark: a bare endpoint that streams a multipart upload to the store.

`POST /upload` takes the same multipart request as the gateway's `POST /api/scenarios/{id}/data`
(`file`, `path`, `target`) and does the least that work needs: it parses the body incrementally
with python-multipart's push parser as it arrives and hands the file part, in 1 MiB pieces, to
`ArtifactStore.write` running in a worker thread. No CSV work, no database, no spooling to disk;
memory stays a few MiB whatever the size of the upload.

Run: `python -m bench.bare_upload --port 8100` (store from the usual `MLOOP_*` settings).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Annotated

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import typer
from mloop_common.settings import Settings
from mloop_common.storage import ArtifactStore, StoredObject, create_artifact_store
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PIECE = 1 << 20  # bytes handed to the writer thread at a time
PIPE_DEPTH = 4  # pieces waiting for the writer before the request reading pauses
FIELD_LIMIT = 64 << 10  # bytes kept of a non-file field


class ChunkPipe:
    """Hands byte pieces from the event loop to a blocking reader in another thread.

    Bounded: `put` waits while `PIPE_DEPTH` pieces are pending. Make it in the event loop and
    iterate it in any thread (boto3 reads from threads of its own)."""

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[bytes](PIPE_DEPTH)
        self._loop = anyio.lowlevel.current_token()

    async def put(self, piece: bytes) -> None:
        await self._send.send(piece)

    async def close(self) -> None:
        await self._send.aclose()

    def stop_reading(self) -> None:
        """Called in the event loop once the reader is done: a waiting `put` fails, not hangs."""
        self._receive.close()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield anyio.from_thread.run(self._receive.receive, token=self._loop)
            except anyio.EndOfStream:
                return


class MultipartUpload:
    """The state of one request's multipart body, fed through python-multipart's callbacks."""

    def __init__(self, boundary: bytes) -> None:
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
        )
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_started = False
        self.file_buffer = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part_name = ""
        self._in_file = False
        self._field_value = bytearray()

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        self._part_name = options.get(b"name", b"").decode()
        self._in_file = self._part_name == "file" and not self.file_started
        if self._in_file:
            self.file_started = True
            self.filename = options.get(b"filename", b"upload.csv").decode() or "upload.csv"
        self._field_value.clear()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.file_buffer += data[start:end]
        elif len(self._field_value) < FIELD_LIMIT:
            self._field_value += data[start:end]

    def _on_part_end(self) -> None:
        if not self._in_file:
            self.fields[self._part_name] = self._field_value.decode(errors="replace")
        self._in_file = False


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status, media_type="application/problem+json")


async def upload(request: Request) -> JSONResponse:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        return _problem(415, "Unsupported Media Type", "send multipart/form-data")
    store: ArtifactStore = request.app.state.store
    body = MultipartUpload(boundary)
    pipe = ChunkPipe()
    stored: dict[str, StoredObject] = {}
    started = time.perf_counter()

    async def write(key: str) -> None:
        try:
            stored["file"] = await anyio.to_thread.run_sync(store.write, key, pipe)
        finally:
            pipe.stop_reading()

    async with anyio.create_task_group() as tasks:
        writing = False
        async for chunk in request.stream():
            body.parser.write(chunk)
            if body.file_started and not writing:
                tasks.start_soon(write, f"bench/{uuid.uuid4().hex}/{body.filename}")
                writing = True
            if len(body.file_buffer) >= PIECE:
                await pipe.put(bytes(body.file_buffer))
                body.file_buffer.clear()
        body.parser.finalize()
        if body.file_buffer:
            await pipe.put(bytes(body.file_buffer))
            body.file_buffer.clear()
        await pipe.close()

    if "file" not in stored:
        return _problem(422, "Unprocessable Content", "the multipart body has no `file` part")
    result = stored["file"]
    return JSONResponse(
        {
            "key": result.key,
            "size": result.size,
            "sha256": result.sha256,
            "path": body.fields.get("path") or body.filename,
            "target": body.fields.get("target"),
            "seconds": round(time.perf_counter() - started, 3),
        },
        201,
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "service": "bare-upload"})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    app = Starlette(routes=[Route("/upload", upload, methods=["POST"]), Route("/health", health)])
    app.state.store = create_artifact_store(settings)
    return app


def main(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 8100,
) -> None:
    """Serve the bare upload endpoint under uvicorn, as the gateway is served."""
    import uvicorn

    uvicorn.run(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    typer.run(main)
