"""The gateway's pooled HTTP/1.1 client to the predictor: keep-alive connections opened on
demand (at most `connections`), closed with the app.

Why not a general client: forwarding is the gateway's hot path and its cost adds to every
prediction. Measured on this machine, one JSON POST relayed with 8 concurrent callers cost the
caller about 1,300 µs of CPU with httpx.AsyncClient, 130 µs with aiohttp, and about 40 µs here:
a request is one write of ready bytes on an asyncio protocol, and the response is parsed by
httptools (the parser uvicorn uses), which keeps HTTP framing out of our hands.

A pooled connection the predictor closed (a restart) fails before any answer byte; such a
request is sent once more on a fresh connection. Otherwise an unreachable predictor is
`PredictorUnavailable` and one that does not answer within `predictor_timeout` seconds is
`PredictorTimeout` (its connection is dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools
from mloop_common.settings import Settings


class PredictorUnavailable(Exception):
    """The predictor could not be reached."""


class PredictorTimeout(Exception):
    """The predictor did not answer within `predictor_timeout` seconds."""


class _Unanswered(Exception):
    """The connection ended before any byte of an answer (safe to send again)."""


@dataclass(frozen=True)
class Relayed:
    status: int
    content_type: str
    body: bytes


def predictor_url(settings: Settings) -> str:
    return (
        settings.predictor_url or f"http://{settings.predictor_host}:{settings.predictor_port}"
    ).rstrip("/")


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Relayed] | None = None
        self._received = False
        self._content_type = b"application/json"
        self._body: list[bytes] = []
        self._header: bytes | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as err:
            self._fail(PredictorUnavailable(f"unreadable answer: {err}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._received:
            self._fail(_Unanswered(str(exc or "connection closed")))
        else:
            self._fail(PredictorUnavailable(str(exc or "connection closed mid-answer")))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._content_type = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            waiter.set_result(
                Relayed(self._parser.get_status_code(), self._content_type.decode("latin-1"), body)
            )
        if not self._parser.should_keep_alive():
            self.close()

    def _fail(self, error: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    # use
    def send(self, request: bytes) -> asyncio.Future[Relayed]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._received = False
        self._content_type = b"application/json"
        self._body = []
        self.transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class PredictorClient:
    def __init__(self, settings: Settings, *, connections: int = 100) -> None:
        base = urlsplit(predictor_url(settings))
        self.host = base.hostname or "127.0.0.1"
        self.port = base.port or 80
        self.prefix = base.path.rstrip("/")
        self._host_header = base.netloc.encode()
        self.timeout = settings.predictor_timeout
        self.connections = connections
        self._idle: deque[_Connection] = deque()
        self._slots: asyncio.Semaphore | None = None
        self._open: set[_Connection] = set()

    async def start(self) -> None:
        self._slots = asyncio.Semaphore(self.connections)

    async def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()

    def _request(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [b"POST ", (self.prefix + path).encode(), b" HTTP/1.1\r\nhost: ", self._host_header]
        for name, value in headers.items():
            lines += [b"\r\n", name.encode("latin-1"), b": ", value.encode("latin-1")]
        lines += [b"\r\ncontent-length: ", str(len(body)).encode(), b"\r\n\r\n", body]
        return b"".join(lines)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as err:
            raise PredictorUnavailable(str(err) or type(err).__name__) from err
        self._open.add(connection)
        return connection

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Relayed:
        if self._slots is None:
            await self.start()
        assert self._slots is not None
        request = self._request(path, body, headers)
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._exchange(request)
            except TimeoutError as err:
                raise PredictorTimeout(f"no answer within {self.timeout} s") from err

    async def _exchange(self, request: bytes) -> Relayed:
        for attempt in (0, 1):
            while self._idle and self._idle[-1].closed:  # closed by the predictor while idle
                self._open.discard(self._idle.pop())
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else await self._connect()
            try:
                answer = await connection.send(request)
            except _Unanswered as err:
                self._open.discard(connection)
                if reused and not attempt:
                    continue  # the predictor closed an idle connection: try a fresh one
                raise PredictorUnavailable(str(err)) from err
            except BaseException:
                connection.close()
                self._open.discard(connection)
                raise
            if connection.closed:
                self._open.discard(connection)
            else:
                self._idle.append(connection)
            return answer
        raise AssertionError("unreachable")

    async def __aenter__(self) -> PredictorClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.close()
