"""The trigger part of MLoopClient and of the `mloop triggers` CLI, on `httpx.MockTransport`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mloop_client import MLoopClient

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

S = SCENARIO_ID
BASE = f"/api/scenarios/{S}/triggers"
T1 = "33333333-3333-3333-3333-333333333333"
R1 = "44444444-4444-4444-4444-444444444444"


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def firing(outcome: str = "started", **fields: Any) -> dict[str, Any]:
    return {
        "id": "55555555-5555-5555-5555-555555555555",
        "trigger_id": T1,
        "scenario_id": S,
        "at": "2025-01-02T03:04:05+00:00",
        "kind": "drift",
        "reason": "drift in age, income (share 0.4 ≥ 0.3)",
        "outcome": outcome,
        "dedup_key": "event:e1",
        "run_id": R1 if outcome == "started" else None,
        "workflow_run_id": None,
        "detail": {} if outcome == "started" else {"note": "in cooldown until 03:05"},
    } | fields


def trigger(**fields: Any) -> dict[str, Any]:
    return {
        "id": T1,
        "scenario_id": S,
        "name": "on-drift",
        "kind": "drift",
        "config": {"min_share": 0.3},
        "cooldown_seconds": 3600.0,
        "enabled": True,
        "created_by": None,
        "created_at": "2025-01-01T00:00:00+00:00",
        "last_fired_at": None,
        "next_fire_at": None,
        "last_firing": firing(),
    } | fields


CALLS: list[tuple[Callable[[MLoopClient], Any], str, Any]] = [
    (lambda c: c.list_triggers(S), f"GET {BASE}", None),
    (
        lambda c: c.create_trigger(S, "nightly", "schedule", {"cron": "0 3 * * *"}),
        f"POST {BASE}",
        {"name": "nightly", "kind": "schedule", "config": {"cron": "0 3 * * *"}},
    ),
    (
        lambda c: c.create_trigger(S, "new", "new_data", cooldown_seconds=0, enabled=False),
        f"POST {BASE}",
        {"name": "new", "kind": "new_data", "config": {}, "cooldown_seconds": 0, "enabled": False},
    ),
    (lambda c: c.get_trigger(S, "t 1"), f"GET {BASE}/t%201", None),
    (lambda c: c.delete_trigger(S, "t1"), f"DELETE {BASE}/t1", None),
    (
        lambda c: c.update_trigger(S, "t1", config={"min_share": 0.5}, cooldown_seconds=0),
        f"PUT {BASE}/t1",
        {"config": {"min_share": 0.5}, "cooldown_seconds": 0},
    ),
    (lambda c: c.update_trigger(S, "t1", name="renamed"), f"PUT {BASE}/t1", {"name": "renamed"}),
    (lambda c: c.enable_trigger(S, "t1"), f"PUT {BASE}/t1", {"enabled": True}),
    (lambda c: c.disable_trigger(S, "t1"), f"PUT {BASE}/t1", {"enabled": False}),
    (
        lambda c: c.list_firings(S, "t1", limit=5, cursor="c"),
        f"GET {BASE}/t1/firings?limit=5&cursor=c",
        None,
    ),
]


@pytest.mark.parametrize(("call", "line", "sent"), CALLS, ids=[line for _, line, _ in CALLS])
def test_each_method_sends_the_right_request(
    call: Callable[[MLoopClient], Any], line: str, sent: Any
) -> None:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"id": "x"})

    call(MLoopClient("http://gateway.test", "k", transport=httpx.MockTransport(answer)))

    (request,) = requests
    assert f"{request.method} {request.url.raw_path.decode()}" == line
    assert body(request) == sent
    assert bool(request.headers.get("Idempotency-Key")) == (request.method == "POST")


def test_firings_iterator_follows_pages() -> None:
    pages = {
        None: {"items": [firing(), firing("cooldown")], "next_cursor": "c1"},
        "c1": {"items": [firing("capped")], "next_cursor": None},
    }
    gateway = FakeGateway()
    gateway.on(
        "GET",
        f"{BASE}/{T1}/firings",
        lambda r: httpx.Response(200, json=pages[r.url.params.get("cursor")]),
    )

    found = [item["outcome"] for item in gateway.client().iter_firings(S, T1)]

    assert found == ["started", "cooldown", "capped"]


def test_cli_create_builds_the_config_from_the_kinds_options() -> None:
    gateway = FakeGateway()
    gateway.on("POST", BASE, lambda r: httpx.Response(201, json=trigger(**body(r))))
    cli = Cli(gateway)

    result = cli(
        "triggers", "create", S, "on-drift", "--kind", "drift",
        "--feature", "age", "--feature", "income", "--min-share", "0.3", "--cooldown", "60",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert body(gateway.requests[0]) == {
        "name": "on-drift",
        "kind": "drift",
        "config": {"features": ["age", "income"], "min_share": 0.3},
        "cooldown_seconds": 60.0,
    }
    assert "Trigger created" in result.output and "on-drift" in result.output


def test_cli_create_takes_a_whole_config_as_json_and_refuses_bad_json() -> None:
    gateway = FakeGateway()
    gateway.on("POST", BASE, lambda r: httpx.Response(201, json=trigger(**body(r))))
    cli = Cli(gateway)

    config = '{"cron": "*/2 * * * * *", "timezone": "Europe/Berlin"}'
    result = cli(
        "--json", "triggers", "create", S, "tick", "--kind", "schedule", "--config", config
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"] == json.loads(config)

    bad = cli("triggers", "create", S, "tick", "--kind", "schedule", "--config", "{oops")
    assert bad.exit_code != 0 and "not JSON" in bad.output
    assert len(gateway.requests) == 1


def test_cli_reports_the_gateways_422_with_the_field() -> None:
    gateway = FakeGateway()
    errors = [{"loc": ["body", "config", "timezone"], "msg": "unknown time zone 'Mars/Base'"}]
    gateway.on("POST", BASE, problem(422, "Invalid trigger", "unknown tz", errors=errors))

    result = Cli(gateway)(
        "triggers", "create", S, "x", "--kind", "schedule", "--cron", "0 3 * * *",
        "--timezone", "Mars/Base",
    )  # fmt: skip

    assert result.exit_code == 1
    assert "body.config.timezone: unknown time zone 'Mars/Base'" in result.output


def test_cli_list_firings_and_delete() -> None:
    gateway = FakeGateway()
    gateway.on("GET", BASE, httpx.Response(200, json={"items": [trigger()], "next_cursor": None}))
    gateway.on(
        "GET",
        f"{BASE}/{T1}/firings",
        httpx.Response(200, json={"items": [firing(), firing("cooldown")], "next_cursor": None}),
    )
    gateway.on("DELETE", f"{BASE}/{T1}", httpx.Response(204))
    cli = Cli(gateway)

    listed = cli("triggers", "list", S)
    assert listed.exit_code == 0, listed.output
    assert "on-drift" in listed.output and "started" in listed.output

    fired = cli("triggers", "firings", S, T1, "--limit", "5")
    assert fired.exit_code == 0, fired.output
    assert "cooldown" in fired.output and "in cooldown until" in fired.output
    assert gateway.requests[-1].url.params["limit"] == "5"

    deleted = cli("triggers", "delete", S, T1)
    assert deleted.exit_code == 0 and f"Deleted trigger {T1}" in deleted.output


def test_cli_update_changes_the_given_config_fields_and_keeps_the_others() -> None:
    gateway = FakeGateway()
    current = trigger(kind="schedule", config={"cron": "0 3 * * *", "timezone": "UTC"})
    gateway.on("GET", f"{BASE}/{T1}", httpx.Response(200, json=current))
    gateway.on("PUT", f"{BASE}/{T1}", lambda r: httpx.Response(200, json=current | body(r)))
    cli = Cli(gateway)

    result = cli("triggers", "update", S, T1, "--timezone", "Europe/Berlin", "--disable")

    assert result.exit_code == 0, result.output
    put = gateway.requests[-1]
    assert put.method == "PUT"
    assert body(put) == {
        "config": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"},
        "enabled": False,
    }
    assert "Trigger updated" in result.output

    renamed = cli("triggers", "update", S, T1, "--name", "nightly", "--cooldown", "30")
    assert renamed.exit_code == 0, renamed.output
    assert gateway.requests[-1].method == "PUT"  # no config option: the trigger is not read
    assert body(gateway.requests[-1]) == {"name": "nightly", "cooldown_seconds": 30.0}

    whole = cli("triggers", "update", S, T1, "--config", '{"cron": "0 4 * * *"}')
    assert whole.exit_code == 0, whole.output
    assert body(gateway.requests[-1]) == {"config": {"cron": "0 4 * * *"}}


def test_cli_enable_and_disable() -> None:
    gateway = FakeGateway()
    gateway.on("PUT", f"{BASE}/{T1}", lambda r: httpx.Response(200, json=trigger(**body(r))))
    cli = Cli(gateway)

    off = cli("triggers", "disable", S, T1)
    assert off.exit_code == 0, off.output
    assert body(gateway.requests[-1]) == {"enabled": False} and "disabled" in off.output
    on = cli("--json", "triggers", "enable", S, T1)
    assert on.exit_code == 0, on.output
    assert json.loads(on.output)["enabled"] is True


def test_cli_update_reports_an_unknown_feature() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/{T1}", httpx.Response(200, json=trigger()))
    msg = "'agee' is not a feature of the scenario (known: age, city, income)"
    errors = [{"loc": ["body", "config", "features", "0"], "msg": msg}]
    gateway.on("PUT", f"{BASE}/{T1}", problem(422, "Invalid trigger", msg, errors=errors))

    result = Cli(gateway)("triggers", "update", S, T1, "--feature", "agee")

    assert result.exit_code == 1
    assert body(gateway.requests[-1]) == {"config": {"min_share": 0.3, "features": ["agee"]}}
    assert "body.config.features.0" in result.output and "'agee'" in result.output
