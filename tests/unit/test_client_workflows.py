"""The workflow part of MLoopClient and of the `mloop` CLI, on `httpx.MockTransport`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mloop_client import MLoopClient

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

S = SCENARIO_ID
BASE = f"/api/scenarios/{S}/workflows"
RUN = "77777777-7777-7777-7777-777777777777"
YAML = "steps:\n  - {name: t, type: model_training}\n"


def stored(**fields: Any) -> dict[str, Any]:
    return {
        "id": "88888888-8888-8888-8888-888888888888",
        "scenario_id": S,
        "kind": "train",
        "version": 2,
        "steps": [{"name": "t", "type": "model_training", "needs": []}],
        "created_by": None,
        "created_at": "2025-01-02T03:04:05+00:00",
        "source": YAML,
        "spec": {"steps": []},
    } | fields


def run(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": RUN,
        "scenario_id": S,
        "workflow_id": "88888888-8888-8888-8888-888888888888",
        "kind": "train",
        "status": status,
        "trigger": "manual",
        "reason": "",
        "started_at": "2025-01-02T03:04:05+00:00",
        "finished_at": None,
        "steps": [
            {
                "name": "t",
                "type": "model_training",
                "needs": [],
                "status": "succeeded" if status == "succeeded" else "running",
                "attempts": 1,
                "error": None,
                "output": {"model_id": "m-1"},
            }
        ],
    } | fields


CALLS: list[tuple[Callable[[MLoopClient], Any], str]] = [
    (lambda c: c.workflow(S, "train"), f"GET {BASE}/train"),
    (lambda c: c.workflow(S, "predict", version=3), f"GET {BASE}/predict?version=3"),
    (lambda c: c.workflow_versions(S, "train"), f"GET {BASE}/train/versions"),
    (lambda c: c.run_workflow(S), f"POST {BASE}/train/runs"),
    (lambda c: c.run_workflow(S, "predict"), f"POST {BASE}/predict/runs"),
    (lambda c: c.list_workflow_runs(S), f"GET {BASE}/train/runs"),
    (
        lambda c: c.list_workflow_runs(S, status="failed", limit=5, cursor="c"),
        f"GET {BASE}/train/runs?limit=5&cursor=c&status=failed",
    ),
    (lambda c: c.workflow_run(S, RUN), f"GET /api/scenarios/{S}/workflow-runs/{RUN}"),
]


@pytest.mark.parametrize(("call", "line"), CALLS, ids=[line for _, line in CALLS])
def test_each_method_sends_the_right_request(call: Callable[[MLoopClient], Any], line: str) -> None:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"id": "x", "items": []})

    call(MLoopClient("http://gateway.test", "k", transport=httpx.MockTransport(answer)))
    (request,) = requests
    assert f"{request.method} {request.url.raw_path.decode()}" == line
    assert bool(request.headers.get("Idempotency-Key")) == (request.method == "POST")


def test_put_sends_the_yaml_as_the_body(tmp_path: Path) -> None:
    gateway = FakeGateway()
    gateway.on("POST", f"{BASE}/train", httpx.Response(201, json=stored()))
    client = gateway.client()
    assert client.put_workflow(S, "train", YAML)["version"] == 2
    file = tmp_path / "wf.yaml"
    file.write_text(YAML, encoding="utf-8")
    client.put_workflow(S, "train", file, idempotency_key="once")
    for request in gateway.requests:
        assert request.headers["Content-Type"] == "application/yaml"
        assert request.content.decode() == YAML
    assert gateway.requests[1].headers["Idempotency-Key"] == "once"
    with pytest.raises(ValueError, match="train or predict"):
        client.put_workflow(S, "deploy", YAML)


def test_wait_for_a_run_waits_out_the_404_then_the_running_state() -> None:
    answers = iter(
        [
            problem(404, "Not found", "No workflow run"),
            httpx.Response(200, json=run("running")),
            httpx.Response(200, json=run("succeeded")),
        ]
    )
    gateway = FakeGateway()
    gateway.on("GET", f"/api/scenarios/{S}/workflow-runs/{RUN}", lambda r: next(answers))
    seen: list[Any] = []
    done = gateway.client().wait_for_workflow_run(S, RUN, poll=0, on_poll=seen.append)
    assert done["status"] == "succeeded"
    assert [item and item["status"] for item in seen] == [None, "running", "succeeded"]


def test_wait_gives_up_after_its_timeout() -> None:
    gateway = FakeGateway()
    gateway.on(
        "GET",
        f"/api/scenarios/{S}/workflow-runs/{RUN}",
        httpx.Response(200, json=run("running")),
    )
    with pytest.raises(TimeoutError, match="still running"):
        gateway.client().wait_for_workflow_run(S, RUN, timeout=0, poll=0)


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_put_shows_the_steps(tmp_path: Path) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text(YAML, encoding="utf-8")
    gateway = FakeGateway()
    gateway.on("POST", f"{BASE}/train", httpx.Response(201, json=stored()))
    result = Cli(gateway)("workflow", "put", S, "train", str(file))
    assert result.exit_code == 0, result.output
    assert "model_training" in result.output and "Version" in result.output


def test_cli_put_lists_faults_like_a_compiler(tmp_path: Path) -> None:
    file = tmp_path / "wf.yaml"
    file.write_text(YAML, encoding="utf-8")
    gateway = FakeGateway()
    errors = [
        {"path": "steps[0].type", "line": 2, "column": 28, "message": "unknown step type 'x'"},
        {"path": "", "line": 1, "column": 1, "message": "YAML syntax error"},
    ]
    gateway.on(
        "POST", f"{BASE}/train", problem(422, "Invalid workflow", "2 problems", errors=errors)
    )
    result = Cli(gateway)("workflow", "put", S, "train", str(file))
    assert result.exit_code == 1
    assert f"{file}:2:28: steps[0].type: unknown step type 'x'" in result.output
    assert f"{file}:1:1: workflow: YAML syntax error" in result.output


def test_cli_show_source_prints_the_yaml() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/predict", httpx.Response(200, json=stored(kind="predict")))
    result = Cli(gateway)("workflow", "show", S, "predict", "--source")
    assert result.exit_code == 0, result.output
    assert result.output == YAML
    as_json = Cli(gateway)("--json", "workflow", "show", S, "predict")
    assert json.loads(as_json.output)["kind"] == "predict"


def test_cli_run_wait_exits_1_when_the_run_failed() -> None:
    gateway = FakeGateway()
    gateway.on("POST", f"{BASE}/train/runs", httpx.Response(202, json={"id": RUN}))
    failed = run("failed")
    failed["steps"][0] |= {"status": "failed", "error": "training: boom"}
    gateway.on("GET", f"/api/scenarios/{S}/workflow-runs/{RUN}", httpx.Response(200, json=failed))
    result = Cli(gateway)("workflow", "run", S, "--wait")
    assert result.exit_code == 1
    assert "training: boom" in result.output
    accepted = Cli(gateway)("workflow", "run", S)
    assert accepted.exit_code == 0 and RUN in accepted.output


def test_cli_runs_lists_them() -> None:
    gateway = FakeGateway()
    page = {"items": [run("succeeded")], "next_cursor": None}
    gateway.on("GET", f"{BASE}/train/runs", httpx.Response(200, json=page))
    result = Cli(gateway)("workflow", "runs", S)
    assert result.exit_code == 0, result.output
    assert RUN in result.output and "succeeded" in result.output
    bad = Cli(gateway)("workflow", "runs", S, "deploy")
    assert bad.exit_code != 0
