"""The training part of MLoopClient and of the `mloop` CLI, on `httpx.MockTransport`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mloop_client import MLoopClient, MLoopError
from mloop_client.training import parse_sse

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

BASE = f"/api/scenarios/{SCENARIO_ID}"
PAGE: dict[str, Any] = {"items": [], "next_cursor": None}


def run(status: str = "completed", **fields: Any) -> dict[str, Any]:
    return {
        "id": "r1",
        "scenario_id": SCENARIO_ID,
        "experiment_id": "e1",
        "status": status,
        "progress": 1.0 if status == "completed" else 0.5,
        "message": None,
        "metrics": {"accuracy": 0.91234, "f1": 0.8} if status == "completed" else {},
        "model_id": "m1" if status == "completed" else None,
        "error": None,
        "resources": {"peak_memory_mb": 812.5, "cpu_seconds": 12.0, "wall_seconds": 7.25},
    } | fields


def experiment(number: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"e{number}",
        "scenario_id": SCENARIO_ID,
        "name": "churn-gb",
        "version": f"1.{number - 1}.0",
        "algorithm": "gradient_boosting",
        "status": "completed",
        "runs": 1,
        "tags": [],
    } | fields


def model(**fields: Any) -> dict[str, Any]:
    return {
        "id": "m1",
        "scenario_id": SCENARIO_ID,
        "run_id": "r1",
        "experiment_id": "e1",
        "algorithm": "random_forest",
        "parameters": {"n_estimators": 300},
        "task_type": "classification",
        "metrics": {"accuracy": 0.93, "roc_auc": 0.97},
        "primary_metric": "roc_auc",
        "primary_value": 0.97,
        "feature_importances": {"age": 0.6, "plan": 0.4},
        "size": 2048,
        "sha256": "ab" * 32,
        "created_at": "2025-01-02T03:04:05+00:00",
    } | fields


def sse(*blocks: str) -> httpx.Response:
    body = "".join(blocks).encode()
    # Split mid-line to show that lines are put together across chunks.
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    return httpx.Response(200, content=iter(chunks), headers={"Content-Type": "text/event-stream"})


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


# -- the client ----------------------------------------------------------------------------------


S = SCENARIO_ID
PROFILE = {"name": "small", "cpu_cores": 2, "memory_gb": 2, "gpus": 0, "gpu_memory_gb": 0}
CALLS: list[tuple[Callable[[MLoopClient], Any], str, Any]] = [
    (lambda c: c.algorithms(), "GET /api/algorithms", None),
    (
        lambda c: c.create_model_config(S, name="rf", algorithm="rf", parameters={"max_depth": 3}),
        f"POST {BASE}/model-configs",
        {"name": "rf", "algorithm": "rf", "parameters": {"max_depth": 3}},
    ),
    (
        lambda c: c.create_model_config(S, name="gb", algorithm="gb"),
        f"POST {BASE}/model-configs",
        {"name": "gb", "algorithm": "gb"},
    ),
    (
        lambda c: c.list_model_configs(S, name="gb", limit=5),
        f"GET {BASE}/model-configs?limit=5&name=gb",
        None,
    ),
    (lambda c: c.get_model_config(S, "mc 1"), f"GET {BASE}/model-configs/mc%201", None),
    (
        lambda c: c.create_resource_profile(name="small", cpu_cores=2, max_hours=0.5),
        "POST /api/resource-profiles",
        PROFILE | {"max_hours": 0.5},
    ),
    (
        lambda c: c.list_resource_profiles(name="small"),
        "GET /api/resource-profiles?name=small",
        None,
    ),
    (lambda c: c.get_resource_profile("rp1"), "GET /api/resource-profiles/rp1", None),
    (
        lambda c: c.create_experiment(
            S, name="x", feature_set_id="fs1", model_config_id="mc1", resource_profile_id=None
        ),
        f"POST {BASE}/experiments",
        {"name": "x", "feature_set_id": "fs1", "model_config_id": "mc1"},
    ),
    (
        lambda c: c.list_experiments(S, status="completed", cursor="c1"),
        f"GET {BASE}/experiments?cursor=c1&status=completed",
        None,
    ),
    (lambda c: c.get_experiment(S, "e1"), f"GET {BASE}/experiments/e1", None),
    (
        lambda c: c.compare_experiments(S, ["e1", "e2"]),
        f"GET {BASE}/experiments/compare?ids=e1%2Ce2",
        None,
    ),
    (lambda c: c.start_run(S, "e1"), f"POST {BASE}/experiments/e1/runs", None),
    (lambda c: c.train(S), f"POST {BASE}/train", {}),
    (lambda c: c.train(S, time_budget=60), f"POST {BASE}/train", {"time_budget": 60}),
    (
        lambda c: c.list_runs(S, status="failed", experiment_id="e1"),
        f"GET {BASE}/runs?status=failed&experiment_id=e1",
        None,
    ),
    (lambda c: c.get_run(S, "r1"), f"GET {BASE}/runs/r1", None),
    (
        lambda c: c.run_logs(S, "r1", after=41, limit=10),
        f"GET {BASE}/runs/r1/logs?after=41&limit=10",
        None,
    ),
    (lambda c: c.list_models(S, experiment_id="e1"), f"GET {BASE}/models?experiment_id=e1", None),
    (lambda c: c.get_model(S, "m1"), f"GET {BASE}/models/m1", None),
    (lambda c: c.model_metrics(S, "m1"), f"GET {BASE}/models/m1/metrics", None),
    (lambda c: c.best_model(S), f"GET {BASE}/models/best-model", None),
    (lambda c: c.cleanup_models(S, keep=2), f"POST {BASE}/models/cleanup", {"keep": 2}),
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
    creating = request.method == "POST" and not line.endswith("/cleanup")
    assert bool(request.headers.get("Idempotency-Key")) == creating


def test_creating_calls_take_a_given_idempotency_key() -> None:
    gateway = FakeGateway()
    gateway.on("POST", f"{BASE}/experiments/e1/runs", httpx.Response(202, json=run("queued")))

    gateway.client().start_run(S, "e1", idempotency_key="start-1")

    assert gateway.requests[0].headers["Idempotency-Key"] == "start-1"


def test_iterators_follow_pages() -> None:
    pages = {None: {"items": [run(id="r1")], "next_cursor": "c"}, "c": PAGE}
    logs = {
        None: {"items": [{"id": 1, "line": "a"}, {"id": 2, "line": "b"}], "next_cursor": "2"},
        "2": {"items": [{"id": 3, "line": "c"}], "next_cursor": "3"},
        "3": PAGE,
    }
    gateway = FakeGateway()
    gateway.on(
        "GET", f"{BASE}/runs", lambda r: httpx.Response(200, json=pages[r.url.params.get("cursor")])
    )
    gateway.on(
        "GET",
        f"{BASE}/runs/r1/logs",
        lambda r: httpx.Response(200, json=logs[r.url.params.get("after")]),
    )
    c = gateway.client()

    assert [r["id"] for r in c.iter_runs(SCENARIO_ID, status="running")] == ["r1"]
    assert [line["line"] for line in c.iter_run_logs(SCENARIO_ID, "r1")] == ["a", "b", "c"]
    assert gateway.requests[1].url.params["status"] == "running"


def test_parse_sse_handles_multiline_data_comments_and_defaults() -> None:
    lines = [
        ": ping", "", "event: log", 'data: {"id": 1,', 'data:  "line": "x"}', "id: 7", "",
        "retry: 10", "", "data: plain", "", "event: end", 'data:{"status": "failed"}',
    ]  # fmt: skip

    assert list(parse_sse(lines)) == [
        ("log", '{"id": 1,\n "line": "x"}'),
        ("message", "plain"),
        ("end", '{"status": "failed"}'),
    ]


def test_follow_run_streams_events_until_end_without_a_read_timeout() -> None:
    stream = sse(
        ": keep-alive\n\n",
        event("progress", {"status": "running", "progress": 0.1, "message": "loading"}),
        'event: log\ndata: {"id": 1, "at": "2025-01-02T03:04:05+00:00",\ndata: "line": "fit"}\n\n',
        ": ping\n\n",
        event("end", run("completed")),
        event("log", {"id": 99, "line": "after the end"}),
    )
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/runs/r1/logs", stream)
    c = gateway.client()

    events = list(c.follow_run(SCENARIO_ID, "r1"))

    assert [name for name, _ in events] == ["progress", "log", "end"]
    assert events[1][1] == {"id": 1, "at": "2025-01-02T03:04:05+00:00", "line": "fit"}
    assert events[2][1]["model_id"] == "m1"
    (request,) = gateway.requests
    assert request.url.params["follow"] == "true"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.extensions["timeout"]["read"] is None
    assert request.extensions["timeout"]["connect"] is not None


def test_follow_run_raises_the_problem_and_an_early_close() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/runs/nope/logs", problem(404, "Not found", "No such run."))
    gateway.on("GET", f"{BASE}/runs/r1/logs", lambda r: sse(event("log", {"id": 1, "line": "x"})))
    gateway.on("GET", f"{BASE}/runs/r1", httpx.Response(200, json=run("running")))
    c = gateway.client()

    with pytest.raises(MLoopError) as missing:
        list(c.follow_run(SCENARIO_ID, "nope"))
    with pytest.raises(MLoopError) as cut:
        list(c.follow_run(SCENARIO_ID, "r1"))

    assert (missing.value.status, missing.value.detail) == (404, "No such run.")
    assert cut.value.title == "Log stream interrupted"


def test_wait_for_run_polls_until_failed_and_times_out() -> None:
    states = iter(["queued", "running", "failed"])
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/runs/r1", lambda r: httpx.Response(200, json=run(next(states))))
    gateway.on("GET", f"{BASE}/runs/r2", httpx.Response(200, json=run("running", id="r2")))
    c = gateway.client()

    assert c.wait_for_run(SCENARIO_ID, "r1", poll=0)["status"] == "failed"
    assert len(gateway.requests) == 3
    with pytest.raises(TimeoutError, match="still running"):
        c.wait_for_run(SCENARIO_ID, "r2", timeout=0.05, poll=0.01)


def test_download_model_streams_to_a_file_and_checks_the_hash(tmp_path: Path) -> None:
    artifact = b"joblib" * 300_000
    good = {"X-Content-SHA256": hashlib.sha256(artifact).hexdigest()}
    gateway = FakeGateway()
    gateway.on(
        "GET", f"{BASE}/models/m1/artifact", httpx.Response(200, content=artifact, headers=good)
    )
    gateway.on("GET", f"{BASE}/models/m2/artifact", httpx.Response(200, content=b"x", headers=good))
    c = gateway.client()

    into_dir = c.download_model(SCENARIO_ID, "m1", tmp_path)
    named = c.download_model(SCENARIO_ID, "m1", tmp_path / "model.joblib")
    with pytest.raises(MLoopError, match="Corrupt download"):
        c.download_model(SCENARIO_ID, "m2", tmp_path / "bad.joblib")

    assert into_dir == tmp_path / "m1.joblib" and into_dir.read_bytes() == artifact
    assert named.read_bytes() == artifact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1.joblib", "model.joblib"]


# -- the CLI -------------------------------------------------------------------------------------


def test_cli_experiment_create_inline_builds_the_body_and_runs() -> None:
    gateway = FakeGateway()
    gateway.on("POST", f"{BASE}/experiments", httpx.Response(201, json=experiment()))
    gateway.on("POST", f"{BASE}/experiments/e1/runs", httpx.Response(202, json=run("queued")))

    result = Cli(gateway)(
        "experiment", "create", SCENARIO_ID, "--name", "churn-gb", "--dataset", "d1",
        "--target", "churned", "--feature", "age", "--feature", "plan",
        "--algorithm", "gradient_boosting", "--param", "n_estimators=200",
        "--param", "learning_rate=0.05", "--param", "criterion=gini", "--param", "early=true",
        "--param", "layers=[64, 32]", "--param", "note=a=b", "--cores", "2", "--max-hours", "0.5",
        "--tag", "baseline", "--cv-folds", "5", "--run",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert body(gateway.requests[0]) == {
        "name": "churn-gb",
        "dataset_id": "d1",
        "target": "churned",
        "features": ["age", "plan"],
        "model": {
            "algorithm": "gradient_boosting",
            "parameters": {
                "n_estimators": 200,
                "learning_rate": 0.05,
                "criterion": "gini",
                "early": True,
                "layers": [64, 32],
                "note": "a=b",
            },
        },
        "resources": {"cpu_cores": 2, "max_hours": 0.5},
        "tags": ["baseline"],
        "evaluation": {"cv_folds": 5},
    }
    assert gateway.requests[1].url.path == f"{BASE}/experiments/e1/runs"
    assert "churn-gb 1.0.0" in result.stdout and "Run r1 queued" in result.stdout


def test_cli_experiment_create_by_ids_and_usage_errors() -> None:
    gateway = FakeGateway()
    gateway.on("POST", f"{BASE}/experiments", httpx.Response(201, json=experiment()))
    cli = Cli(gateway)

    by_ids = cli(
        "--json", "experiment", "create", SCENARIO_ID, "--name", "x",
        "--feature-set", "fs1", "--model-config", "mc1", "--resource-profile", "rp1",
    )  # fmt: skip
    mixed = cli("experiment", "create", SCENARIO_ID, "--name", "x", "--feature-set", "fs1",
                "--dataset", "d1")  # fmt: skip
    half = cli("experiment", "create", SCENARIO_ID, "--name", "x", "--dataset", "d1")
    bad_param = cli("experiment", "create", SCENARIO_ID, "--name", "x", "--dataset", "d1",
                    "--target", "y", "--algorithm", "a", "--param", "oops")  # fmt: skip

    assert by_ids.exit_code == 0, by_ids.output
    assert json.loads(by_ids.stdout) == experiment()
    assert body(gateway.requests[0]) == {
        "name": "x",
        "feature_set_id": "fs1",
        "model_config_id": "mc1",
        "resource_profile_id": "rp1",
    }
    inline_profile = cli(
        "--json", "experiment", "create", SCENARIO_ID, "--name", "x", "--dataset", "d1",
        "--algorithm", "isolation_forest", "--resource-profile", "rp1",
    )  # fmt: skip
    both_limits = cli("experiment", "create", SCENARIO_ID, "--name", "x", "--dataset", "d1",
                      "--algorithm", "a", "--resource-profile", "rp1", "--cores", "2")  # fmt: skip
    assert (mixed.exit_code, half.exit_code, bad_param.exit_code) == (2, 2, 2)
    assert "--algorithm" in half.output and "key=value" in bad_param.output
    assert inline_profile.exit_code == 0, inline_profile.output
    assert body(gateway.requests[1]) == {
        "name": "x",
        "dataset_id": "d1",
        "model": {"algorithm": "isolation_forest", "parameters": {}},
        "resource_profile_id": "rp1",
    }
    assert both_limits.exit_code == 2 and "not both" in both_limits.output
    assert len(gateway.requests) == 2


def test_cli_experiment_compare_renders_metrics_and_resources_side_by_side() -> None:
    comparison = {
        "metrics": ["accuracy", "f1"],
        "items": [
            {
                "experiment": experiment(1),
                "run": run(),
                "model_id": "m1",
                "metrics": {"accuracy": 0.91234, "f1": 0.8},
                "resources": {"peak_memory_mb": 812.5, "cpu_seconds": 12.0, "wall_seconds": 7.25},
            },
            {
                "experiment": experiment(2, algorithm="random_forest"),
                "run": None,
                "model_id": None,
                "metrics": {},
                "resources": {},
            },
        ],
    }
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/experiments/compare", httpx.Response(200, json=comparison))

    result = Cli(gateway)("experiment", "compare", SCENARIO_ID, "e1", "e2")

    assert result.exit_code == 0, result.output
    assert gateway.requests[0].url.params["ids"] == "e1,e2"
    out = result.stdout
    assert "churn-gb v1.0.0" in out and "churn-gb v1.1.0" in out
    assert "0.9123" in out and "812.5" in out and "no run" in out
    assert "gradient_boosting" in out and "random_forest" in out
    accuracy_row = next(line for line in out.splitlines() if "accuracy" in line)
    assert "0.9123" in accuracy_row


def test_cli_run_watch_exits_1_on_a_failed_run_printing_the_error() -> None:
    gateway = FakeGateway()
    gateway.on(
        "GET",
        f"{BASE}/runs/r1/logs",
        lambda r: sse(
            event("progress", {"status": "running", "progress": 0.4, "message": "fitting"}),
            event("log", {"id": 1, "at": "2025-01-02T03:04:05+00:00", "line": "epoch 1 loss 0.7"}),
            event("end", run("failed", error="MemoryError: the 2 GB limit was exceeded")),
        ),
    )
    cli = Cli(gateway)

    result = cli("run", "watch", SCENARIO_ID, "r1")
    as_json = cli("--json", "run", "watch", SCENARIO_ID, "r1")

    assert result.exit_code == 1, result.output
    assert "epoch 1 loss 0.7" in result.stdout
    assert "MemoryError: the 2 GB limit was exceeded" in result.stderr
    assert "Traceback" not in result.output
    assert as_json.exit_code == 1
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["progress", "log", "end"]


def test_cli_run_watch_and_logs_on_a_completed_run() -> None:
    stream = [
        event("log", {"id": 1, "at": "2025-01-02T03:04:05+00:00", "line": "fit done"}),
        event("end", run("completed")),
    ]
    gateway = FakeGateway()
    gateway.on(
        "GET",
        f"{BASE}/runs/r1/logs",
        lambda r: sse(*stream) if r.url.params.get("follow") else httpx.Response(200, json=PAGE),
    )
    gateway.on("GET", f"{BASE}/runs/r1", httpx.Response(200, json=run()))
    cli = Cli(gateway)

    watched = cli("run", "watch", SCENARIO_ID, "r1")
    followed = cli("run", "logs", SCENARIO_ID, "r1", "--follow")
    shown = cli("run", "show", SCENARIO_ID, "r1")

    assert watched.exit_code == 0, watched.output
    assert (
        "fit done" in watched.stdout and "completed" in watched.stdout and "100%" in watched.stdout
    )
    assert followed.exit_code == 0 and "fit done" in followed.stdout
    assert shown.exit_code == 0 and "0.9123" in shown.stdout and "812.5" in shown.stdout


def test_cli_models_best_prints_the_model_and_list() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/models/best-model", httpx.Response(200, json=model()))
    gateway.on(
        "GET", f"{BASE}/models", httpx.Response(200, json={"items": [model()], "next_cursor": None})
    )
    cli = Cli(gateway)

    best = cli("models", "best", SCENARIO_ID)
    listed = cli("models", "list", SCENARIO_ID, "--experiment", "e1")
    as_json = cli("--json", "models", "best", SCENARIO_ID)

    assert best.exit_code == 0, best.output
    for text in ("Best model", "m1", "random_forest", "roc_auc", "0.97", "n_estimators", "age"):
        assert text in best.stdout
    assert listed.exit_code == 0 and "Models (1)" in listed.stdout and "2.0 KB" in listed.stdout
    assert gateway.requests[1].url.params["experiment_id"] == "e1"
    assert json.loads(as_json.stdout) == model()


def test_cli_models_best_when_none_exits_1() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BASE}/models/best-model", problem(404, "Not found", "No model yet."))

    result = Cli(gateway)("models", "best", SCENARIO_ID)

    assert result.exit_code == 1
    assert "Not found (404)" in result.stderr and "No model yet." in result.stderr
