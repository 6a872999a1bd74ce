"""Sending one webhook request, safely.

Before every send the URL's host is resolved and checked again (`mloop_common.webhook_targets`),
and the request goes to the address that was checked: the URL's host is replaced by that
address, while the Host header and the TLS server name (SNI, and so the certificate check) keep
the name. So a name whose DNS answer changes between the check and the connection (DNS
rebinding) cannot lead the request to a private address. No proxy from the environment is used,
redirects are not followed (a 3xx is a failed try), no connection is kept alive (each send
connects to the address just checked), and the whole send, resolution included, is limited to
`webhook_timeout` seconds. Only the first kilobyte of a failed answer is read, for the error.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping

import httpx
from mloop_common.webhook_targets import (
    AllowList,
    CheckedTarget,
    Resolver,
    TargetRefused,
    TargetUnresolved,
    check,
    system_resolver,
)

from mloop_scheduler.webhooks.domain import Outcome, http_error

SNIPPET_BYTES = 1024
USER_AGENT = "MLoop-Webhooks/1"


class HttpSender:
    def __init__(
        self,
        *,
        allow: AllowList,
        timeout: float,
        resolve: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allow = allow
        self.timeout = timeout
        self.resolve = resolve
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, content: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST `content` to `url`; never raises for anything the target or network does."""
        try:
            async with asyncio.timeout(self.timeout):
                checked = await check(url, self.allow, resolve=self.resolve)
                return await self._post(checked, content, headers)
        except TargetUnresolved as error:
            return Outcome(None, str(error))
        except TargetRefused as error:
            return Outcome(None, f"target refused: {error}", retryable=False)
        except TimeoutError:
            return Outcome(None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as error:
            return Outcome(None, f"{type(error).__name__}: {error}"[:2000])
        except OSError as error:
            return Outcome(None, f"{type(error).__name__}: {error}"[:2000])

    async def _post(
        self, checked: CheckedTarget, content: bytes, headers: Mapping[str, str]
    ) -> Outcome:
        url = httpx.URL(checked.target.url)
        extensions = {}
        if url.scheme == "https" and not _is_address(url.host):
            extensions["sni_hostname"] = url.host
        sent_headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",  # so the error snippet is readable text
            **headers,
            "Host": url.netloc.decode("ascii"),
        }
        last: httpx.ConnectError | None = None
        for address in checked.addresses:  # the next address only when one refuses to connect
            request = self._client.build_request(
                "POST",
                url.copy_with(host=str(address)),
                content=content,
                headers=sent_headers,
                extensions=extensions,
            )
            try:
                response = await self._client.send(request, stream=True)
            except httpx.ConnectError as error:
                last = error
                continue
            try:
                if 200 <= response.status_code < 300:
                    return Outcome(response.status_code)
                snippet = await _head(response)
                return Outcome(response.status_code, http_error(response.status_code, snippet))
            finally:
                await response.aclose()
        assert last is not None
        raise last


async def _head(response: httpx.Response) -> bytes:
    """The first kilobyte of the answer's body (never the whole of a large one)."""
    taken = b""
    try:
        async for chunk in response.aiter_raw():
            taken += chunk
            if len(taken) >= SNIPPET_BYTES:
                break
    except httpx.StreamConsumed:  # an answer already read (in-memory transports)
        taken = response.content
    except httpx.HTTPError:
        pass
    return taken[:SNIPPET_BYTES]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
