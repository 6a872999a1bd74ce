"""The webhook address policy: which URLs may be called, with real `getaddrinfo` for numeric
tricks and a fake resolver for names (no DNS needed)."""

from __future__ import annotations

import ipaddress

import pytest
from mloop_common.webhook_targets import (
    MAX_URL_LENGTH,
    AllowList,
    TargetRefused,
    check,
    parse,
    refusal,
)

NOBODY = AllowList.parse([])


def fake(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "shared"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "address"),
        ("192.0.2.1", "address"),  # documentation range: not public
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://[::1]:8080/hook",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.0.10:9000/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0:8000/",
        "http://2130706433/",  # decimal 127.0.0.1
        "http://0x7f.1/",  # hex + short form
        "http://017700000001/",  # octal
        "http://127.1/",
        "http://0x7f000001/",
        "http://0xa9.0xfe.0xa9.0xfe/",  # hex 169.254.169.254
    ],
)
async def test_literal_and_numeric_tricks_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        await check(url, NOBODY)  # the real getaddrinfo reads the numeric forms
    assert "webhooks may only call public addresses" in str(refused.value)


async def test_a_name_is_refused_when_any_address_is_private() -> None:
    with pytest.raises(TargetRefused, match=r"hooks\.example\.com \(10\.0\.0\.7\) is a private"):
        await check("https://hooks.example.com/x", NOBODY, resolve=fake("8.8.8.8", "10.0.0.7"))


async def test_a_public_name_passes_with_every_address() -> None:
    checked = await check(
        "https://hooks.example.com/x?a=1", NOBODY, resolve=fake("8.8.8.8", "2606:4700::1111")
    )
    assert checked.target.host == "hooks.example.com"
    assert checked.target.port == 443
    assert [str(a) for a in checked.addresses] == ["8.8.8.8", "2606:4700::1111"]


async def test_an_unresolvable_host_is_refused() -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(TargetRefused, match="does not resolve"):
        await check("http://nowhere.invalid/", NOBODY, resolve=nxdomain)


def test_a_url_the_http_client_cannot_read_is_refused() -> None:
    with pytest.raises(TargetRefused, match="cannot be read"):
        parse("http://0251.0376.0251.0376/")  # dotted octal: httpx refuses it outright


async def test_the_allow_list_names_hosts_and_networks() -> None:
    allow = AllowList.parse(["127.0.0.1", "10.20.0.0/16", "Hooks.Internal", "[::1]"])
    assert (await check("http://127.0.0.1:9999/x", allow)).addresses == (
        ipaddress.ip_address("127.0.0.1"),
    )
    await check("http://[::1]:80/", allow)
    await check("http://10.20.3.4/", allow)
    await check("http://hooks.internal/", allow, resolve=fake("192.168.1.5"))
    await check("http://HOOKS.internal./", allow, resolve=fake("192.168.1.5"))
    with pytest.raises(TargetRefused):
        await check("http://10.21.0.1/", allow)
    with pytest.raises(TargetRefused):  # 127.0.0.2 is not 127.0.0.1
        await check("http://127.0.0.2/", allow)
    with pytest.raises(TargetRefused):  # the allowed name does not cover other names
        await check("http://other.internal/", allow, resolve=fake("192.168.1.5"))
    with pytest.raises(TargetRefused):  # an allowed address does not cover link-local
        await check("http://169.254.169.254/", allow)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://example.com/", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http://user:secret@example.com/", "credentials"),
        ("http://user@example.com/", "credentials"),
        ("http:///path", "no host"),
        ("http://exa mple.com/", "spaces or control"),
        ("http://example.com/\r\nX-Injected: 1", "spaces or control"),
        ("", "empty"),
        ("https://example.com/" + "a" * MAX_URL_LENGTH, "longer than"),
    ],
)
def test_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        parse(url)


def test_parse_keeps_the_name_and_defaults_the_port() -> None:
    assert parse("http://Example.com/a").port == 80
    assert parse("http://Example.com/a").host == "example.com"
    assert parse("https://[2606:4700::1111]:8443/").host == "2606:4700::1111"
    assert parse("https://[2606:4700::1111]:8443/").port == 8443
