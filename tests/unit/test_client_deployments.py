"""The deployment part of MLoopClient and of the `mloop` CLI, on `httpx.MockTransport`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mloop_client import MLoopClient, MLoopError

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

S = SCENARIO_ID
BASE = f"/api/scenarios/{S}"
M1, M2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
T1 = "33333333-3333-3333-3333-333333333333"


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def state(version: int = 2, champion: str | None = M2, **fields: Any) -> dict[str, Any]:
    return {
        "scenario_id": S,
        "version": version,
        "mode": "single",
        "champion": None
        if champion is None
        else {
            "model_id": champion,
            "since": "2025-01-02T03:04:05+00:00",
            "algorithm": "random_forest",
            "primary_metric": "f1_weighted",
            "primary_value": 0.9123,
            "experiment_id": "e1",
            "created_at": "2025-01-01T00:00:00+00:00",
        },
        "challenger": None,
        "challenger_share": 0.0,
        "sticky_column": None,
        "ab_test": None,
        "rollback_target": M1,
        "history": [
            {
                "id": 2,
                "version": 2,
                "alias": "champion",
                "action": "promote",
                "model_id": M2,
                "previous_model_id": M1,
                "reason": "manual",
                "requested_by": "k1",
                "requested_by_name": "alice",
                "at": "2025-01-02T03:04:05+00:00",
            }
        ],
        "history_next_cursor": None,
    } | fields


def accepted(model_id: str = M2, version: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "status": "accepted",
        "command_id": "c1",
        "scenario_id": S,
        "model_id": model_id,
        "previous_model_id": M1,
        "version": version,
    } | fields


def ab_test(status: str = "running", mode: str = "ab_test", **fields: Any) -> dict[str, Any]:
    return {
        "id": T1,
        "scenario_id": S,
        "mode": mode,
        "status": status,
        "champion_model_id": M1,
        "challenger_model_id": M2,
        "challenger_share": 0.25,
        "sticky_column": "user",
        "primary_metric": "accuracy",
        "min_samples": 100,
        "winner_model_id": None,
        "end_reason": None,
        "requested_by": "k1",
        "started_at": "2025-01-02T03:04:05+00:00",
        "ended_at": None,
        "arms": {
            "champion": {"model_id": M1, "arm": "champion", "predictions": 75},
            "challenger": {"model_id": M2, "arm": "challenger", "predictions": 25},
        },
        "results": {
            "status": "pending_feedback",
            "detail": "Per-arm metrics need feedback.",
            "primary_metric": "accuracy",
            "min_samples": 100,
        },
    } | fields


CALLS: list[tuple[Callable[[MLoopClient], Any], str, Any]] = [
    (lambda c: c.promote(S, "m1"), f"POST {BASE}/models/m1/promote", {}),
    (
        lambda c: c.promote(S, "m1", reason="policy"),
        f"POST {BASE}/models/m1/promote",
        {"reason": "policy"},
    ),
    (lambda c: c.rollback(S), f"POST {BASE}/models/rollback", {}),
    (lambda c: c.deployments(S), f"GET {BASE}/deployments", None),
    (
        lambda c: c.deployments(S, history_limit=5),
        f"GET {BASE}/deployments?history_limit=5",
        None,
    ),
    (
        lambda c: c.deployment_history(S, limit=10, cursor="41"),
        f"GET {BASE}/deployments/history?limit=10&cursor=41",
        None,
    ),
    (
        lambda c: c.start_ab_test(S, "m2", challenger_share=0.2, sticky_column="user"),
        f"POST {BASE}/ab-tests",
        {
            "challenger_model_id": "m2",
            "mode": "ab_test",
            "challenger_share": 0.2,
            "sticky_column": "user",
        },
    ),
    (
        lambda c: c.start_ab_test(
            S, "m2", mode="shadow", champion_model_id="m1", primary_metric="f1", min_samples=5
        ),
        f"POST {BASE}/ab-tests",
        {
            "challenger_model_id": "m2",
            "mode": "shadow",
            "champion_model_id": "m1",
            "primary_metric": "f1",
            "min_samples": 5,
        },
    ),
    (lambda c: c.ab_tests(S, status="running"), f"GET {BASE}/ab-tests?status=running", None),
    (lambda c: c.ab_test(S, "t 1"), f"GET {BASE}/ab-tests/t%201", None),
    (
        lambda c: c.end_ab_test(S, "t1"),
        f"POST {BASE}/ab-tests/t1/end",
        {"promote_challenger": False},
    ),
    (
        lambda c: c.end_ab_test(S, "t1", promote_challenger=True, reason="policy"),
        f"POST {BASE}/ab-tests/t1/end",
        {"promote_challenger": True, "reason": "policy"},
    ),
]


@pytest.mark.parametrize(("call", "line", "sent"), CALLS, ids=[line for _, line, _ in CALLS])
def test_each_method_sends_the_right_request(
    call: Callable[[MLoopClient], Any], line: str, sent: Any
) -> None:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"id": "x"})

    call(MLoopClient("http://gateway.test", "k", transport=httpx.MockTransport(answer)))

    (request,) = requests
    assert f"{request.method} {request.url.raw_path.decode()}" == line
    assert body(request) == sent
    # Every change carries an Idempotency-Key, so a retried request sends one command only.
    assert bool(request.headers.get("Idempotency-Key")) == (request.method == "POST")


def test_history_iterator_follows_pages() -> None:
    pages = {
        None: {"items": [{"id": 3}, {"id": 2}], "next_cursor": "2"},
        "2": {"items": [{"id": 1}], "next_cursor": None},
    }
    gateway = FakeGateway()
    gateway.on(
        "GET",
        f"{BASE}/deployments/history",
        lambda r: httpx.Response(200, json=pages[r.url.params.get("cursor")]),
    )

    found = [entry["id"] for entry in gateway.client().iter_deployment_history(S)]

    assert found == [3, 2, 1]


def test_wait_for_deployment_polls_until_the_champion_and_version_show() -> None:
    answers = iter([state(1, M1), state(1, M1), state(2, M2)])
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/deployments", lambda r: httpx.Response(200, json=next(answers)))

    reached = gateway.client().wait_for_deployment(S, champion=M2, version_at_least=2, poll=0)

    assert reached["version"] == 2 and len(gateway.requests) == 3
    assert gateway.requests[0].url.params["history_limit"] == "0"


def test_wait_for_deployment_times_out_saying_what_it_saw() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/deployments", httpx.Response(200, json=state(1, M1)))

    with pytest.raises(TimeoutError, match=f"champion {M1}, version 1"):
        gateway.client().wait_for_deployment(S, champion=M2, timeout=0.05, poll=0.01)


def test_wait_for_ab_test_treats_404_as_not_started_yet_and_raises_other_errors() -> None:
    answers = iter([problem(404, "Not found"), httpx.Response(200, json=ab_test())])
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/ab-tests/{T1}", lambda r: next(answers))

    assert gateway.client().wait_for_ab_test(S, T1, poll=0)["status"] == "running"

    gateway.on("GET", f"{BASE}/ab-tests/{T1}", problem(403, "Forbidden"))
    with pytest.raises(MLoopError) as caught:
        gateway.client().wait_for_ab_test(S, T1, poll=0)
    assert caught.value.status == 403


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_deployments_shows_champion_and_history() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/deployments", httpx.Response(200, json=state()))
    cli = Cli(gateway)

    shown = cli("deployments", S, "--history", "5")
    as_json = cli("--json", "deployments", S)

    assert shown.exit_code == 0, shown.output
    for text in (M2, "random_forest", "f1_weighted 0.9123", "History", "promote", "alice", M1):
        assert text in shown.stdout, text
    assert gateway.requests[0].url.params["history_limit"] == "5"
    assert json.loads(as_json.stdout) == state()


def test_cli_deployments_without_a_champion_says_how_to_get_one() -> None:
    gateway = FakeGateway()
    empty = state(0, None, rollback_target=None, history=[])
    gateway.on("GET", f"{BASE}/deployments", httpx.Response(200, json=empty))

    shown = Cli(gateway)("deployments", S)

    assert shown.exit_code == 0 and "mloop models promote" in shown.stdout


def test_cli_models_promote_and_rollback_without_and_with_wait() -> None:
    gateway = FakeGateway()
    gateway.on("POST", f"{BASE}/models/{M2}/promote", httpx.Response(202, json=accepted()))
    gateway.on("POST", f"{BASE}/models/rollback", httpx.Response(202, json=accepted(M1, 2)))
    answers = iter([state(1, M1), state(2, M2), state(3, M1)])
    gateway.on("GET", f"{BASE}/deployments", lambda r: httpx.Response(200, json=next(answers)))
    cli = Cli(gateway)

    promoted = cli("models", "promote", S, M2, "--reason", "policy")
    waited = cli("--json", "models", "promote", S, M2, "--wait")
    rolled = cli("--json", "models", "rollback", S, "--wait")

    assert promoted.exit_code == 0, promoted.output
    assert f"model {M2} will be the champion" in promoted.stdout
    assert body(gateway.requests[0]) == {"reason": "policy"}
    assert waited.exit_code == 0 and json.loads(waited.stdout)["champion"]["model_id"] == M2
    assert rolled.exit_code == 0 and json.loads(rolled.stdout)["champion"]["model_id"] == M1


def test_cli_promote_conflict_exits_1_with_the_problem() -> None:
    gateway = FakeGateway()
    gateway.on(
        "POST",
        f"{BASE}/models/{M2}/promote",
        problem(409, "Already the champion", f"Model {M2} is the champion already."),
    )

    result = Cli(gateway)("models", "promote", S, M2)

    assert result.exit_code == 1
    assert "Already the champion (409)" in result.stderr and "champion already" in result.stderr


def test_cli_ab_test_start_list_show_end() -> None:
    gateway = FakeGateway()
    started = {"status": "accepted", "test_id": T1, "mode": "shadow", "version": 1}
    gateway.on("POST", f"{BASE}/ab-tests", httpx.Response(202, json=started))
    gateway.on(
        "GET",
        f"{BASE}/ab-tests",
        httpx.Response(200, json={"items": [ab_test()], "next_cursor": None}),
    )
    gateway.on("GET", f"{BASE}/ab-tests/{T1}", httpx.Response(200, json=ab_test()))
    gateway.on("POST", f"{BASE}/ab-tests/{T1}/end", httpx.Response(202, json=accepted(M2, 2)))
    cli = Cli(gateway)

    start = cli("ab-test", "start", S, M2, "--shadow", "--metric", "accuracy")
    listed = cli("ab-test", "list", S, "--status", "running")
    shown = cli("ab-test", "show", S, T1)
    ended = cli("ab-test", "end", S, T1, "--promote")

    assert start.exit_code == 0, start.output
    assert f"A/B test {T1} (shadow)" in start.stdout
    assert body(gateway.requests[0]) == {
        "challenger_model_id": M2,
        "mode": "shadow",
        "primary_metric": "accuracy",
    }
    assert listed.exit_code == 0 and "A/B tests (1)" in listed.stdout
    assert gateway.requests[1].url.params["status"] == "running"
    assert shown.exit_code == 0, shown.output
    for text in ("Arms", "75", "25", "pending_feedback", "user"):
        assert text in shown.stdout, text
    assert ended.exit_code == 0 and body(gateway.requests[3]) == {"promote_challenger": True}


def test_cli_ab_test_start_with_wait_shows_the_running_test() -> None:
    gateway = FakeGateway()
    started = {"status": "accepted", "test_id": T1, "mode": "ab_test", "version": 1}
    gateway.on("POST", f"{BASE}/ab-tests", httpx.Response(202, json=started))
    answers = iter([problem(404, "Not found"), httpx.Response(200, json=ab_test())])
    gateway.on("GET", f"{BASE}/ab-tests/{T1}", lambda r: next(answers))

    result = Cli(gateway)("--json", "ab-test", "start", S, M2, "--share", "0.25", "--wait")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "running"
    assert body(gateway.requests[0])["challenger_share"] == 0.25
