"""The gateway's pooled HTTP client to the predictor (aiohttp: keep-alive connections, opened
with the app and closed with it).

aiohttp was measured against httpx.AsyncClient on this path (one JSON POST relayed per request,
16 concurrent callers) and kept: httpx's per-request overhead was several times aiohttp's.
A pooled connection the predictor closed (a restart) is retried once on a fresh one; otherwise
an unreachable predictor is `PredictorUnavailable` and a slow one `PredictorTimeout`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from mloop_common.settings import Settings


class PredictorUnavailable(Exception):
    """The predictor could not be reached."""


class PredictorTimeout(Exception):
    """The predictor did not answer within `predictor_timeout` seconds."""


@dataclass(frozen=True)
class Relayed:
    status: int
    content_type: str
    body: bytes


def predictor_url(settings: Settings) -> str:
    return (settings.predictor_url or f"http://{settings.predictor_host}:{settings.predictor_port}").rstrip("/")


class PredictorClient:
    def __init__(self, settings: Settings, *, connections: int = 100) -> None:
        self.base = predictor_url(settings)
        self.timeout = settings.predictor_timeout
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.connections, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Relayed:
        if self._session is None:
            await self.start()
        assert self._session is not None
        url = self.base + path
        for attempt in (0, 1):
            try:
                async with self._session.post(url, data=body, headers=headers) as answer:
                    return Relayed(
                        answer.status,
                        answer.headers.get("content-type", "application/json"),
                        await answer.read(),
                    )
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
                if attempt or isinstance(err, aiohttp.ClientConnectorError):
                    raise PredictorUnavailable(str(err) or type(err).__name__) from err
            except aiohttp.ClientError as err:
                raise PredictorUnavailable(str(err) or type(err).__name__) from err
            except asyncio.TimeoutError as err:
                raise PredictorTimeout(f"no answer within {self.timeout} s") from err
        raise AssertionError("unreachable")
