"""Which URLs a webhook may call: the address policy shared by the gateway and the scheduler.

A webhook makes MLoop send requests from inside its network to a URL a user chose, so the
target is checked twice: when the webhook is created (the gateway answers 422 naming the
reason) and again before every send (DNS may have changed since; the sender then connects to
the address it checked, keeping the name for the Host header and TLS).

The rules: `http` or `https` only, no credentials in the URL, at most 2048 characters, and
every address the host resolves to must be globally routable: loopback, private (RFC 1918,
fc00::/7), shared (100.64/10), link-local (169.254/16 with the cloud metadata address,
fe80::/10), multicast, unspecified and reserved ranges are refused, also when written as an
IPv4-mapped / 6to4 / NAT64 IPv6 address or in decimal, octal or hex (`getaddrinfo` reads those
the way a connection would). `webhook_allow` lifts the refusal for a host named exactly or for
an address inside a listed network (`"127.0.0.1"`, `"10.0.0.0/8"`, `"hooks.internal"`).

`refusal(address)` and `parse()` are pure; `check()` adds the resolution (a resolver may be
passed in, so the policy is tested without DNS).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

MAX_URL_LENGTH = 2048
SCHEMES = {"http": 80, "https": 443}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

NAT64 = ipaddress.ip_network("64:ff9b::/96")
SHARED = ipaddress.ip_network("100.64.0.0/10")


class TargetRefused(ValueError):
    """The URL may not be called; the message says why (shown to the user)."""


class TargetUnresolved(TargetRefused):
    """The host did not resolve (perhaps for now only: a sender retries these)."""


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL: what to connect to and what to call it."""

    url: str
    scheme: str
    host: str  # as written in the URL, lower case, without brackets
    port: int


@dataclass(frozen=True)
class CheckedTarget:
    """A target whose every resolved address passed the policy, in resolver order."""

    target: Target
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class AllowList:
    """`webhook_allow`, read once: host names (exact, case-insensitive) and networks."""

    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            text = entry.strip().lower().strip("[]")
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                hosts.add(text.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def names(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def contains(self, address: Address) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


def parse(url: str) -> Target:
    """The target of `url`, or TargetRefused for a URL no webhook may have."""
    if not isinstance(url, str) or not url:
        raise TargetRefused("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise TargetRefused("the URL contains spaces or control characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise TargetRefused(f"the URL cannot be read: {error}") from None
    if parsed.scheme not in SCHEMES:
        raise TargetRefused("the URL must start with http:// or https://")
    if parsed.userinfo:
        raise TargetRefused("the URL must not contain credentials (user:password@)")
    host = parsed.host.lower()
    if not host:
        raise TargetRefused("the URL has no host")
    port = parsed.port or SCHEMES[parsed.scheme]
    if not 0 < port < 65536:
        raise TargetRefused("the URL's port is out of range")
    return Target(url=url, scheme=parsed.scheme, host=host, port=port)


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo client, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: Address) -> str | None:
    """What kind of address MLoop may not connect to `address` is (ignoring the allow-list),
    e.g. "a loopback address"; None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None:
            reason = refusal(inner)
            return f"{reason} ({inner} written as IPv6)" if reason else None
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (this includes cloud metadata)"),
        (address.is_multicast, "a multicast address"),
        (address.version == 4 and address in SHARED, "a shared (carrier-grade NAT) address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def verdict(target: Target, addresses: Iterable[Address], allow: AllowList) -> CheckedTarget:
    """The target with its addresses when every one is allowed; TargetRefused naming the first
    that is not (pure: the addresses come from the caller's resolver)."""
    found = tuple(dict.fromkeys(addresses))
    if not found:
        raise TargetUnresolved(f"{target.host} resolves to no address")
    if allow.names(target.host):
        return CheckedTarget(target, found)
    for address in found:
        reason = refusal(address)
        if reason and not allow.contains(address):
            shown = target.host if target.host == str(address) else f"{target.host} ({address})"
            raise TargetRefused(
                f"{shown} is {reason}; webhooks may only call public addresses unless "
                "MLOOP_WEBHOOK_ALLOW names the host or its network"
            )
    return CheckedTarget(target, found)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address `getaddrinfo` gives for the host (as a connection would resolve it)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


async def check(
    url: str, allow: AllowList, *, resolve: Resolver = system_resolver
) -> CheckedTarget:
    """Parse `url`, resolve its host and apply the policy to every address it resolves to."""
    target = parse(url)
    try:
        resolved = await resolve(target.host, target.port)
    except (OSError, UnicodeError) as error:
        raise TargetUnresolved(f"{target.host} does not resolve: {error}") from None
    addresses: list[Address] = []
    for text in resolved:
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))  # drop a zone id
        except ValueError:
            raise TargetRefused(f"{target.host} resolves to an unreadable address") from None
    return verdict(target, addresses, allow)


__all__ = [
    "MAX_URL_LENGTH",
    "AllowList",
    "CheckedTarget",
    "Target",
    "TargetRefused",
    "TargetUnresolved",
    "check",
    "parse",
    "refusal",
    "system_resolver",
    "verdict",
]
