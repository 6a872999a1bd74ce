"""MLoopClient and the `mloop` CLI against `httpx.MockTransport`: no gateway, no network."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from mloop_client import GatewayUnreachable, MLoopClient, MLoopError
from mloop_client.cli import app as cli_app
from mloop_client.cli import build_app
from typer.testing import CliRunner

URL = "http://gateway.test"
SCENARIO_ID = "6f1c1d8e-3b7a-4c55-9d1e-0f2a9b8c7d61"
DATASET_ID = "0b7e4c1a-2d3f-4e5a-8b9c-1d2e3f4a5b6c"
PROBLEM = "application/problem+json"


def scenario(number: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{number:012d}",
        "name": f"churn-{number}",
        "task_type": "classification",
        "description": None,
        "tags": ["prod"],
        "default_data_path": None,
        "default_target": None,
        "created_at": "2025-01-02T03:04:05.678+00:00",
        "updated_at": "2025-01-02T03:04:05.678+00:00",
    } | fields


def dataset_version(**fields: Any) -> dict[str, Any]:
    return {
        "id": DATASET_ID,
        "scenario_id": SCENARIO_ID,
        "path": "train.csv",
        "version": 1,
        "rows": 3,
        "size": 42,
        "sha256": "ab" * 32,
        "encoding": "utf-8",
        "delimiter": ",",
        "columns": [
            {
                "name": "age",
                "type": "numeric",
                "missing_share": 0.0,
                "distinct": 3,
                "distinct_approximate": False,
            },
            {
                "name": "churned",
                "type": "boolean",
                "missing_share": 0.25,
                "distinct": 2,
                "distinct_approximate": False,
            },
        ],
        "profile_status": "pending",
        "created_at": "2025-01-02T03:04:05+00:00",
    } | fields


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status} | extra
    if detail:
        body["detail"] = detail
    return httpx.Response(status, json=body, headers={"Content-Type": PROBLEM})


class FakeGateway:
    """Answers by `(method, path)`; records every request (its body read, as a server would)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(
        self,
        method: str,
        path: str,
        answer: httpx.Response | Callable[[httpx.Request], httpx.Response],
    ) -> None:
        self.routes[(method, path)] = answer if callable(answer) else (lambda request: answer)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return problem(404, "Not found", f"No fake route for {request.method} {request.url}")
        return route(request)

    def client(self, url: str | None = None, api_key: str | None = "k") -> MLoopClient:
        return MLoopClient(url or URL, api_key, transport=httpx.MockTransport(self))


# -- the client ----------------------------------------------------------------------------------


def test_problem_json_becomes_mloop_error_with_every_field() -> None:
    gateway = FakeGateway()
    errors = [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}]
    gateway.on(
        "POST",
        "/api/scenarios",
        problem(422, "Invalid request", "Does not match its schema.", errors=errors),
    )

    with pytest.raises(MLoopError) as caught:
        gateway.client().create_scenario("", "classification")

    error = caught.value
    assert (error.status, error.title, error.detail) == (
        422,
        "Invalid request",
        "Does not match its schema.",
    )
    assert error.errors == errors
    assert error.type == "about:blank"


def test_an_error_without_a_problem_body_still_raises_with_its_status() -> None:
    gateway = FakeGateway()
    gateway.on("GET", "/api/scenarios", httpx.Response(502, text="<html>Bad gateway</html>"))

    with pytest.raises(MLoopError) as caught:
        gateway.client().list_scenarios()

    assert caught.value.status == 502
    assert caught.value.title == "Bad Gateway"
    assert "Bad gateway" in (caught.value.detail or "")


def test_no_answer_raises_gateway_unreachable_naming_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client = MLoopClient(URL, "k", transport=httpx.MockTransport(refuse))

    with pytest.raises(GatewayUnreachable) as caught:
        client.get_scenario(SCENARIO_ID)

    assert caught.value.status is None
    assert URL in (caught.value.detail or "")
    assert isinstance(caught.value, MLoopError)


def test_url_and_key_come_from_the_environment_unless_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    transport = httpx.MockTransport(record)
    monkeypatch.setenv("MLOOP_URL", "http://from-env:9000/")
    monkeypatch.setenv("MLOOP_API_KEY", "env-secret")
    MLoopClient(transport=transport).list_keys()
    MLoopClient("http://given:1", "given-secret", transport=transport).list_keys()
    monkeypatch.delenv("MLOOP_URL")
    monkeypatch.delenv("MLOOP_API_KEY")
    MLoopClient(transport=transport).list_keys()

    assert [str(r.url) for r in seen] == [
        "http://from-env:9000/api/keys",
        "http://given:1/api/keys",
        "http://127.0.0.1:8000/api/keys",
    ]
    assert seen[0].headers["Authorization"] == "Bearer env-secret"
    assert seen[1].headers["Authorization"] == "Bearer given-secret"
    assert "Authorization" not in seen[2].headers


def test_iter_scenarios_follows_next_cursor_and_repeats_tags() -> None:
    pages = {
        None: {"items": [scenario(1), scenario(2)], "next_cursor": "c1"},
        "c1": {"items": [scenario(3)], "next_cursor": "c2"},
        "c2": {"items": [scenario(4)], "next_cursor": None},
    }
    gateway = FakeGateway()
    gateway.on(
        "GET",
        "/api/scenarios",
        lambda request: httpx.Response(200, json=pages[request.url.params.get("cursor")]),
    )

    names = [item["name"] for item in gateway.client().iter_scenarios(tags=["prod", "eu"])]

    assert names == ["churn-1", "churn-2", "churn-3", "churn-4"]
    assert [r.url.params.get("cursor") for r in gateway.requests] == [None, "c1", "c2"]
    assert all(r.url.params.get_list("tag") == ["prod", "eu"] for r in gateway.requests)


def test_iter_pages_with_max_items_shrinks_the_last_page_and_stops() -> None:
    def page(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        start = int(request.url.params.get("cursor") or 0)
        items = [scenario(n) for n in range(start, start + limit)]
        return httpx.Response(200, json={"items": items, "next_cursor": str(start + limit)})

    gateway = FakeGateway()
    gateway.on("GET", "/api/scenarios", page)
    client = gateway.client()

    pages = list(client.iter_pages(client.list_scenarios, page_size=2, max_items=5))

    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [r.url.params["limit"] for r in gateway.requests] == ["2", "2", "1"]
    assert pages[-1]["next_cursor"] == "5"


def test_creating_posts_carry_an_idempotency_key_kept_across_one_retry() -> None:
    attempts: list[httpx.Request] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx.ConnectError("Connection reset", request=request)
        return httpx.Response(201, json=scenario())

    client = MLoopClient(URL, "k", transport=httpx.MockTransport(flaky))

    assert client.create_scenario("churn-1", "classification")["name"] == "churn-1"
    client.create_scenario("churn-2", "classification")

    keys = [request.headers["Idempotency-Key"] for request in attempts]
    assert len(keys) == 3
    assert keys[0] == keys[1], "the retry replays the same key"
    assert keys[2] != keys[0], "each new call gets a fresh key"


def test_a_creating_post_is_retried_once_only() -> None:
    attempts: list[httpx.Request] = []

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ReadError("Connection reset by peer", request=request)

    client = MLoopClient(URL, "k", transport=httpx.MockTransport(down))

    with pytest.raises(GatewayUnreachable):
        client.create_key("ci", "editor")
    assert len(attempts) == 2


def test_updates_and_deletes_are_not_retried_and_carry_no_idempotency_key() -> None:
    attempts: list[httpx.Request] = []

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("Connection refused", request=request)

    client = MLoopClient(URL, "k", transport=httpx.MockTransport(down))

    with pytest.raises(GatewayUnreachable):
        client.update_scenario(SCENARIO_ID, name="renamed")
    with pytest.raises(GatewayUnreachable):
        client.delete_scenario(SCENARIO_ID, force=True)
    assert [r.method for r in attempts] == ["PUT", "DELETE"]
    assert not any("Idempotency-Key" in r.headers for r in attempts)


def test_requests_match_the_contract() -> None:
    gateway = FakeGateway()
    gateway.on("DELETE", f"/api/scenarios/{SCENARIO_ID}", httpx.Response(204))
    gateway.on("PUT", f"/api/scenarios/{SCENARIO_ID}", httpx.Response(200, json=scenario()))
    gateway.on(
        "GET",
        f"/api/scenarios/{SCENARIO_ID}/data/raw/2025 jan.csv/preview",
        httpx.Response(200, json={"dataset_id": DATASET_ID, "columns": [], "rows": []}),
    )
    gateway.on(
        "POST", f"/api/scenarios/{SCENARIO_ID}/feature-sets", httpx.Response(201, json={"id": "f"})
    )
    gateway.on("POST", "/api/keys", httpx.Response(201, json={"id": "k", "key": "secret"}))
    client = gateway.client()

    assert client.delete_scenario(SCENARIO_ID, force=True) is None
    client.update_scenario(SCENARIO_ID, default_target="churned", description=None)
    client.preview_data(SCENARIO_ID, "raw/2025 jan.csv", rows=5)
    client.create_feature_set(
        SCENARIO_ID, "base", dataset_id=DATASET_ID, features=["age"], target="churned"
    )
    client.create_key("ci", "viewer", scenarios=[SCENARIO_ID])

    delete, put, preview, feature_set, key = gateway.requests
    assert delete.url.params["force"] == "true"
    assert json.loads(put.content) == {"default_target": "churned", "description": None}
    assert preview.url.raw_path.decode().endswith("/data/raw/2025%20jan.csv/preview?rows=5")
    assert json.loads(feature_set.content) == {
        "name": "base",
        "dataset_id": DATASET_ID,
        "target": "churned",
        "features": ["age"],
    }
    assert json.loads(key.content) == {"name": "ci", "role": "viewer", "scenarios": [SCENARIO_ID]}
    assert all(r.headers["Authorization"] == "Bearer k" for r in gateway.requests)


def big_csv(tmp_path: Path, megabytes: int = 3) -> Path:
    file = tmp_path / "big.csv"
    line = b"1,2,3,hello world,0.5\n"
    with file.open("wb") as out:
        out.write(b"a,b,c,text,score\n")
        for _ in range(megabytes * 1024 * 1024 // len(line)):
            out.write(line)
    return file


def test_upload_streams_the_file_reporting_progress_chunk_by_chunk(tmp_path: Path) -> None:
    file = big_csv(tmp_path)
    total = file.stat().st_size
    gateway = FakeGateway()
    gateway.on(
        "POST",
        f"/api/scenarios/{SCENARIO_ID}/data",
        httpx.Response(201, json=dataset_version(path="train/big.csv")),
    )
    progress: list[tuple[int, int]] = []

    answer = gateway.client().upload_data(
        SCENARIO_ID,
        file,
        path="train/big.csv",
        target="score",
        on_progress=lambda sent, size: progress.append((sent, size)),
    )

    assert answer["path"] == "train/big.csv"
    assert len(progress) >= 10, "several increments for a multi-MB file"
    assert all(size == total for _, size in progress)
    sent = [s for s, _ in progress]
    assert sent == sorted(sent) and sent[-1] == total
    assert max(b - a for a, b in pairwise([0, *sent])) <= 1024 * 1024
    (request,) = gateway.requests
    assert request.headers["Content-Length"] == str(len(request.content)), "not chunked"
    assert request.headers["Idempotency-Key"]
    body = request.content
    assert b'name="file"; filename="big.csv"' in body
    assert b'name="path"\r\n\r\ntrain/big.csv\r\n' in body
    assert b'name="target"\r\n\r\nscore\r\n' in body
    assert file.read_bytes() in body


class DropsFirstUpload(httpx.BaseTransport):
    """Reads part of the first request body, then loses the connection; answers the second."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        chunks = iter(request.stream)
        if not self.bodies:
            partial = b""
            while len(partial) < 200_000:
                partial += next(chunks)
            self.bodies.append(partial)
            raise httpx.ReadError("Connection reset by peer", request=request)
        self.bodies.append(b"".join(chunks))
        return httpx.Response(201, json=dataset_version())


def test_an_upload_retried_after_a_dropped_connection_sends_the_whole_file_again(
    tmp_path: Path,
) -> None:
    file = big_csv(tmp_path, megabytes=1)
    transport = DropsFirstUpload()
    client = MLoopClient(URL, "k", transport=transport)
    progress: list[int] = []

    client.upload_data(SCENARIO_ID, file, on_progress=lambda sent, total: progress.append(sent))

    first, second = transport.bodies
    assert len(first) < file.stat().st_size
    assert file.read_bytes() in second
    assert progress[-1] == file.stat().st_size
    assert any(b < a for a, b in pairwise(progress)), "the count restarts on retry"


def test_upload_accepts_an_open_binary_file(tmp_path: Path) -> None:
    file = tmp_path / "small.csv"
    file.write_bytes(b"x,y\n1,2\n")
    gateway = FakeGateway()
    gateway.on("POST", f"/api/scenarios/{SCENARIO_ID}/data", httpx.Response(200, json={}))

    with file.open("rb") as handle:
        gateway.client().upload_data(SCENARIO_ID, handle)

    (request,) = gateway.requests
    assert b'filename="small.csv"' in request.content
    assert b'name="path"' not in request.content


# -- the CLI -------------------------------------------------------------------------------------


class Cli:
    """Runs `mloop` in-process with a client on the fake gateway."""

    def __init__(self, gateway: FakeGateway | httpx.MockTransport) -> None:
        self.transport = gateway if isinstance(gateway, httpx.MockTransport) else None
        self.gateway = gateway
        self.factory_calls: list[tuple[str | None, str | None]] = []

    def make_client(self, url: str | None, api_key: str | None) -> MLoopClient:
        self.factory_calls.append((url, api_key))
        transport = self.transport or httpx.MockTransport(self.gateway)
        return MLoopClient(url or URL, api_key, transport=transport)

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None) -> Any:
        runner = CliRunner(env={"COLUMNS": "160", **(env or {})})
        return runner.invoke(build_app(self.make_client), list(args), input=input)


def test_cli_scenario_list_prints_a_table_from_every_page() -> None:
    pages = {
        None: {"items": [scenario(1)], "next_cursor": "c1"},
        "c1": {"items": [scenario(2, tags=["prod", "eu"])], "next_cursor": None},
    }
    gateway = FakeGateway()
    gateway.on(
        "GET",
        "/api/scenarios",
        lambda request: httpx.Response(200, json=pages[request.url.params.get("cursor")]),
    )

    result = Cli(gateway)("scenario", "list", "--tag", "prod")

    assert result.exit_code == 0, result.output
    assert "Scenarios (2)" in result.stdout
    assert "churn-1" in result.stdout and "churn-2" in result.stdout
    assert scenario(2)["id"] in result.stdout
    assert "prod, eu" in result.stdout
    assert all(r.url.params.get_list("tag") == ["prod"] for r in gateway.requests)


def test_cli_json_prints_only_the_api_json() -> None:
    gateway = FakeGateway()
    gateway.on(
        "GET",
        "/api/scenarios",
        httpx.Response(200, json={"items": [scenario(1), scenario(2)], "next_cursor": "more"}),
    )
    gateway.on("GET", f"/api/scenarios/{SCENARIO_ID}", httpx.Response(200, json=scenario(7)))
    cli = Cli(gateway)

    listed = cli("--json", "scenario", "list", "--limit", "2")
    shown = cli("--json", "scenario", "show", SCENARIO_ID)

    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == {
        "items": [scenario(1), scenario(2)],
        "next_cursor": "more",
    }
    assert gateway.requests[0].url.params["limit"] == "2"
    assert json.loads(shown.stdout) == scenario(7)


def test_cli_scenario_create_sends_tags_and_description() -> None:
    gateway = FakeGateway()
    gateway.on(
        "POST",
        "/api/scenarios",
        lambda request: httpx.Response(201, json=scenario(1) | json.loads(request.content)),
    )

    result = Cli(gateway)(
        "scenario", "create", "churn", "--task-type", "classification",
        "--description", "Who leaves", "--tag", "a", "--tag", "b",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(gateway.requests[0].content) == {
        "name": "churn",
        "task_type": "classification",
        "description": "Who leaves",
        "tags": ["a", "b"],
    }
    assert "Scenario created" in result.stdout and "Who leaves" in result.stdout


def test_cli_api_error_prints_title_detail_and_errors_then_exits_1() -> None:
    errors = [
        {"loc": ["body", "task_type"], "msg": "Input should be 'classification'", "type": "enum"},
        {"loc": ["body", "name"], "msg": "String should have at least 1 character", "type": "x"},
    ]
    gateway = FakeGateway()
    gateway.on(
        "POST",
        "/api/scenarios",
        problem(422, "Invalid request", "The request does not match its schema.", errors=errors),
    )

    result = Cli(gateway)("--json", "scenario", "create", "", "--task-type", "nope")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Invalid request (422)" in result.stderr
    assert "The request does not match its schema." in result.stderr
    assert "body.task_type: Input should be 'classification'" in result.stderr
    assert "body.name: String should have at least 1 character" in result.stderr
    assert "Traceback" not in result.output


def test_cli_not_found_and_unauthorized() -> None:
    gateway = FakeGateway()
    gateway.on(
        "GET", f"/api/scenarios/{SCENARIO_ID}", problem(404, "Not found", "No such scenario.")
    )
    gateway.on("GET", "/api/keys", problem(401, "Unauthorized", "Missing API key."))
    cli = Cli(gateway)

    missing = cli("scenario", "show", SCENARIO_ID)
    anonymous = cli("keys", "list", env={"MLOOP_API_KEY": ""})

    assert missing.exit_code == 1
    assert "Not found (404)" in missing.stderr and "No such scenario." in missing.stderr
    assert anonymous.exit_code == 1
    assert "Unauthorized (401)" in anonymous.stderr
    assert "MLOOP_API_KEY" in anonymous.stderr


def test_cli_connection_refused_is_a_message_not_a_traceback() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = Cli(httpx.MockTransport(refuse))("scenario", "list")

    assert result.exit_code == 1
    assert "Gateway unreachable" in result.stderr
    assert "Connection refused" in result.stderr
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, MLoopError)


def test_cli_usage_errors_exit_2() -> None:
    cli = Cli(FakeGateway())

    assert cli("scenario", "create", "churn").exit_code == 2  # no --task-type
    assert cli("scenario", "list", "--limit", "0").exit_code == 2
    assert cli("data", "upload", SCENARIO_ID, "/no/such/file.csv").exit_code == 2


def test_cli_global_options_and_environment_reach_the_client() -> None:
    gateway = FakeGateway()
    gateway.on("GET", "/api/keys", httpx.Response(200, json={"items": [], "next_cursor": None}))
    cli = Cli(gateway)

    cli("--url", "http://flag:1", "--api-key", "flag-key", "keys", "list")
    cli("keys", "list", env={"MLOOP_URL": "http://env:2", "MLOOP_API_KEY": "env-key"})

    assert cli.factory_calls == [("http://flag:1", "flag-key"), ("http://env:2", "env-key")]
    assert gateway.requests[1].headers["Authorization"] == "Bearer env-key"


def test_cli_scenario_delete_asks_unless_yes() -> None:
    gateway = FakeGateway()
    gateway.on("DELETE", f"/api/scenarios/{SCENARIO_ID}", httpx.Response(204))
    cli = Cli(gateway)

    declined = cli("scenario", "delete", SCENARIO_ID, input="n\n")
    assert declined.exit_code == 1
    assert gateway.requests == []

    confirmed = cli("scenario", "delete", SCENARIO_ID, "--force", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Deleted scenario" in confirmed.stdout

    quiet = cli("--json", "scenario", "delete", SCENARIO_ID, "--yes")
    assert quiet.exit_code == 0 and quiet.stdout == ""

    assert [r.url.params["force"] for r in gateway.requests] == ["true", "false"]


def test_cli_data_upload_json_and_table(tmp_path: Path) -> None:
    file = tmp_path / "train.csv"
    file.write_text("age,churned\n31,true\n45,false\n22,\n")
    gateway = FakeGateway()
    gateway.on(
        "POST", f"/api/scenarios/{SCENARIO_ID}/data", httpx.Response(201, json=dataset_version())
    )
    cli = Cli(gateway)

    as_json = cli("--json", "data", "upload", SCENARIO_ID, str(file), "--target", "churned")
    as_table = cli("data", "upload", SCENARIO_ID, str(file), "--path", "in/train.csv")

    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == dataset_version()
    assert as_json.stderr == "", "no progress bar with --json"
    assert as_table.exit_code == 0, as_table.output
    assert "train.csv version 1" in as_table.stdout
    assert "churned" in as_table.stdout and "25.0%" in as_table.stdout
    assert "Uploading train.csv" in as_table.stderr
    assert b'name="target"\r\n\r\nchurned' in gateway.requests[0].content
    assert b'name="path"\r\n\r\nin/train.csv' in gateway.requests[1].content


def test_cli_data_list_show_and_preview() -> None:
    base = f"/api/scenarios/{SCENARIO_ID}/data"
    data_file = {"path": "train.csv", "versions": 2, "latest": dataset_version(version=2)}
    versions = [dataset_version(version=2, id="v2"), dataset_version(version=1, id="v1")]
    sample = {"dataset_id": DATASET_ID, "columns": ["age", "churned"], "rows": [["31", None]]}
    gateway = FakeGateway()
    gateway.on("GET", base, httpx.Response(200, json={"items": [data_file], "next_cursor": None}))
    gateway.on("GET", f"{base}/train.csv", httpx.Response(200, json=data_file))
    gateway.on(
        "GET",
        f"{base}/train.csv/versions",
        httpx.Response(200, json={"items": versions, "next_cursor": None}),
    )
    gateway.on("GET", f"{base}/train.csv/preview", httpx.Response(200, json=sample))
    cli = Cli(gateway)

    listed = cli("data", "list", SCENARIO_ID)
    shown = cli("data", "show", SCENARIO_ID, "train.csv")
    shown_json = cli("--json", "data", "show", SCENARIO_ID, "train.csv")
    previewed = cli("data", "preview", SCENARIO_ID, "train.csv", "--rows", "5")
    previewed_json = cli("--json", "data", "preview", SCENARIO_ID, "train.csv")

    assert listed.exit_code == 0, listed.output
    assert "train.csv" in listed.stdout and "42 B" in listed.stdout
    assert shown.exit_code == 0, shown.output
    assert "2 version(s)" in shown.stdout and "v1" in shown.stdout and "v2" in shown.stdout
    assert "Columns of version 2" in shown.stdout and "boolean" in shown.stdout
    assert json.loads(shown_json.stdout) == {"file": data_file, "versions": versions}
    assert previewed.exit_code == 0, previewed.output
    assert "age" in previewed.stdout and "31" in previewed.stdout
    assert gateway.requests[-2].url.params["rows"] == "5"
    assert json.loads(previewed_json.stdout) == sample


def test_cli_keys_create_prints_the_secret_once_with_a_warning() -> None:
    created = {
        "id": "k1",
        "name": "ci",
        "role": "viewer",
        "scenarios": [SCENARIO_ID],
        "prefix": "ml_abc",
        "created_at": "2025-01-02T03:04:05+00:00",
        "revoked_at": None,
        "key": "ml_abc.s3cr3t",
    }
    gateway = FakeGateway()
    gateway.on("POST", "/api/keys", httpx.Response(201, json=created))
    gateway.on(
        "GET",
        "/api/keys",
        httpx.Response(
            200,
            json={"items": [{k: v for k, v in created.items() if k != "key"}], "next_cursor": None},
        ),
    )
    gateway.on("DELETE", "/api/keys/k1", httpx.Response(204))
    cli = Cli(gateway)

    made = cli("keys", "create", "ci", "--role", "viewer", "--scenario", SCENARIO_ID)
    made_json = cli("--json", "keys", "create", "ci", "--role", "viewer")
    listed = cli("keys", "list")
    revoked = cli("keys", "revoke", "k1")

    assert made.exit_code == 0, made.output
    assert "ml_abc.s3cr3t" in made.stdout
    assert "will not be shown again" in made.stderr
    assert json.loads(made_json.stdout) == created
    assert "will not be shown again" in made_json.stderr
    assert json.loads(gateway.requests[0].content)["scenarios"] == [SCENARIO_ID]
    assert "scenarios" not in json.loads(gateway.requests[1].content)
    assert "ml_abc" in listed.stdout and "s3cr3t" not in listed.stdout
    assert revoked.exit_code == 0 and "Revoked key k1" in revoked.stdout


def test_cli_up_execs_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, list[str]]] = []

    def fake_execv(path: str, argv: list[str]) -> None:
        calls.append((path, argv))
        raise SystemExit(0)

    monkeypatch.setattr(cli_app, "_importable", lambda module: True)
    monkeypatch.setattr(cli_app.os, "execv", fake_execv)

    result = Cli(FakeGateway())("up")

    assert result.exit_code == 0
    assert calls == [(sys.executable, [sys.executable, "-m", "mloop_common.localstack"])]


def test_cli_up_without_the_server_packages_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "_importable", lambda module: False)

    result = Cli(FakeGateway())("up")

    assert result.exit_code == 1
    assert "needs the MLoop server packages" in result.stderr
    assert "make run" in result.stderr


def test_importable_tells_missing_packages_apart() -> None:
    assert cli_app._importable("mloop_client.cli")
    assert not cli_app._importable("no_such_package_xyz.localstack")
