"""Test layers: tests/unit (pure and in-memory), tests/integration (real local broker, Postgres,
moto's S3 server), tests/browser (the dashboard in headless Chromium against the local test
stack), tests/e2e (the real `make run` path). The summary prints time per layer."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

pytest_plugins = [
    "tests.fixtures.s3",
    "tests.fixtures.stack",
    "tests.fixtures.services",
    "tests.fixtures.training",
    "tests.fixtures.serving",
]

_layer_seconds: dict[str, float] = defaultdict(float)
_layer_counts: dict[str, int] = defaultdict(int)


def _layer(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = _layer(item.nodeid)
        if layer in ("integration", "browser", "e2e"):
            item.add_marker(getattr(pytest.mark, layer))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _layer_seconds[_layer(report.nodeid)] += report.duration
    if report.when == "call":
        _layer_counts[_layer(report.nodeid)] += 1


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.section("time per layer")
    for layer in ("unit", "integration", "browser", "e2e", "other"):
        if _layer_counts.get(layer):
            terminalreporter.write_line(
                f"{layer:<12} {_layer_counts[layer]:>4} tests {_layer_seconds[layer]:>8.1f} s"
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    """Keep each phase's report on the item (`item.rep_call`), for fixtures that add
    diagnostics when the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> object:
    """Set up session fixtures outside the sync Playwright of the browser tests.

    Playwright's sync API keeps its event loop marked as running in this thread between calls,
    so a session fixture first needed by a browser test (the stack's `asyncio.run`) would find
    it and refuse to start. Session fixtures never touch Playwright; hide its loop meanwhile.
    """
    running = asyncio.events._get_running_loop()
    if running is None or fixturedef.scope != "session":
        return (yield)
    asyncio.events._set_running_loop(None)
    try:
        return (yield)
    finally:
        asyncio.events._set_running_loop(running)
