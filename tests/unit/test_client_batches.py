"""The batch and prediction-history part of MLoopClient and of the `mloop` CLI, on
`httpx.MockTransport`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from mloop_client import MLoopError

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

BASE = f"/api/scenarios/{SCENARIO_ID}"
BATCH = f"{BASE}/predictions/batch"
JOB = "5d0c8a2e-6b1f-4f7a-9a3e-2c4b6d8e0f12"
MODEL = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def job(status: str = "queued", **fields: Any) -> dict[str, Any]:
    return {
        "job_id": JOB,
        "scenario_id": SCENARIO_ID,
        "status": status,
        "input": "dataset",
        "dataset_id": "d1",
        "model_id": MODEL if status != "queued" else None,
        "progress": {"queued": 0.0, "running": 0.5}.get(status, 1.0),
        "rows_done": {"queued": 0, "running": 500}.get(status, 1000),
        "attempts": 1,
        "error": "column 'x': 1 value(s) not a number" if status == "failed" else None,
        "output_url": f"{BATCH}/{JOB}/output" if status == "succeeded" else None,
        "created_at": "2025-01-02T03:04:05+00:00",
        "started_at": None,
        "finished_at": None,
    } | fields


def prediction(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "prediction_id": f"p{number}",
        "scenario_id": SCENARIO_ID,
        "predicted_at": "2025-01-02T03:04:05+00:00",
        "model_id": MODEL,
        "arm": "champion",
        "inputs": {"age": 30 + number},
        "output": {"prediction": "yes"},
        "latency_ms": 0.3,
    } | fields


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def polled(*states: dict[str, Any]) -> Any:
    answers = iter(states)
    return lambda request: httpx.Response(200, json=next(answers))


# -- the client ----------------------------------------------------------------------------------


def test_request_batch_sends_json_for_a_dataset_and_a_form_for_a_file(tmp_path: Path) -> None:
    gateway = FakeGateway()
    gateway.on("POST", BATCH, httpx.Response(202, json=job()))
    c = gateway.client()
    file = tmp_path / "score.csv"
    file.write_bytes(b"age;plan\n31;pro\n")

    c.request_batch(SCENARIO_ID, dataset_id="d1")
    c.request_batch(SCENARIO_ID, dataset_id="d1", model_id=MODEL)
    sent: list[tuple[int, int]] = []
    c.request_batch(
        SCENARIO_ID,
        file=file,
        model_id=MODEL,
        delimiter=";",
        on_progress=lambda done, total: sent.append((done, total)),
    )
    with pytest.raises(ValueError, match="exactly one"):
        c.request_batch(SCENARIO_ID)
    with pytest.raises(ValueError, match="exactly one"):
        c.request_batch(SCENARIO_ID, dataset_id="d1", file=file)

    plain, named, upload = gateway.requests
    assert body(plain) == {"dataset_id": "d1"} and body(named)["model_id"] == MODEL
    assert all(r.headers["Idempotency-Key"] for r in gateway.requests)
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"; filename="score.csv"' in upload.content
    assert b"age;plan\n31;pro\n" in upload.content
    assert f'name="model_id"\r\n\r\n{MODEL}\r\n'.encode() in upload.content
    assert b'name="delimiter"\r\n\r\n;\r\n' in upload.content
    assert b'name="encoding"' not in upload.content
    assert sent[-1] == (file.stat().st_size, file.stat().st_size)


def test_wait_for_batch_polls_until_it_ends_and_reports_each_state() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BATCH}/{JOB}", polled(job(), job("running"), job("succeeded")))
    seen: list[str] = []

    done = gateway.client().wait_for_batch(
        SCENARIO_ID, JOB, poll=0, on_update=lambda state: seen.append(state["status"])
    )

    assert done["status"] == "succeeded" and seen == ["queued", "running", "succeeded"]


def test_wait_for_batch_gives_up_after_its_timeout() -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BATCH}/{JOB}", httpx.Response(200, json=job("running")))
    with pytest.raises(TimeoutError, match="still running"):
        gateway.client().wait_for_batch(SCENARIO_ID, JOB, timeout=0.05, poll=0.01)


def test_download_batch_streams_the_output_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    data = b"age,prediction\n" + b"31,yes\n" * 200_000
    gateway = FakeGateway()
    gateway.on("GET", f"{BATCH}/{JOB}/output", httpx.Response(200, content=data))
    gateway.on("GET", f"{BATCH}/j2/output", problem(409, "No output", "Batch job j2 is running."))
    c = gateway.client()

    into_dir = c.download_batch(SCENARIO_ID, JOB, tmp_path)
    named = c.download_batch(SCENARIO_ID, JOB, tmp_path / "out.csv")
    with pytest.raises(MLoopError) as refused:
        c.download_batch(SCENARIO_ID, "j2", tmp_path / "never.csv")

    assert into_dir == tmp_path / f"{JOB}.csv" and into_dir.read_bytes() == data
    assert named.read_bytes() == data
    assert refused.value.status == 409
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{JOB}.csv", "out.csv"]


def test_prediction_history_calls() -> None:
    pages = {
        None: {"items": [prediction(1), prediction(2)], "next_cursor": "c1"},
        "c1": {"items": [prediction(3)], "next_cursor": None},
    }
    gateway = FakeGateway()
    gateway.on(
        "GET",
        f"{BASE}/predictions",
        lambda request: httpx.Response(200, json=pages[request.url.params.get("cursor")]),
    )
    gateway.on("GET", f"{BASE}/predictions/p1", httpx.Response(200, json=prediction(1)))
    cut = {"older_than": "2025-01-01T00:00:00+00:00"}
    gateway.on("POST", f"{BASE}/predictions/cleanup", httpx.Response(202, json=cut))
    c = gateway.client()
    since = datetime(2025, 1, 1, tzinfo=UTC)

    found = list(c.iter_predictions(SCENARIO_ID, since=since, model_id=MODEL, arm="shadow"))
    shown = c.get_prediction(SCENARIO_ID, "p1")
    c.cleanup_predictions(SCENARIO_ID, older_than_days=30)
    c.cleanup_predictions(SCENARIO_ID, older_than=since)

    assert [p["prediction_id"] for p in found] == ["p1", "p2", "p3"]
    first = gateway.requests[0].url.params
    assert (first["since"], first["model_id"], first["arm"]) == (since.isoformat(), MODEL, "shadow")
    assert shown["inputs"] == {"age": 31}
    assert body(gateway.requests[-2]) == {"older_than_days": 30}
    assert body(gateway.requests[-1]) == {"older_than": since.isoformat()}


# -- the CLI -------------------------------------------------------------------------------------


def test_cli_batch_queues_a_job_and_shows_it() -> None:
    gateway = FakeGateway()
    gateway.on("POST", BATCH, httpx.Response(202, json=job()))

    result = Cli(gateway)("batch", SCENARIO_ID, "--dataset", "d1", "--model", MODEL)

    assert result.exit_code == 0, result.output
    assert body(gateway.requests[0]) == {"dataset_id": "d1", "model_id": MODEL}
    assert JOB in result.stdout and "queued" in result.stdout


def test_cli_batch_wait_follows_the_job_and_saves_its_output(tmp_path: Path) -> None:
    gateway = FakeGateway()
    file = tmp_path / "score.csv"
    file.write_bytes(b"age\n31\n")
    gateway.on("POST", BATCH, httpx.Response(202, json=job(input="upload")))
    gateway.on("GET", f"{BATCH}/{JOB}", polled(job("running"), job("succeeded")))
    gateway.on("GET", f"{BATCH}/{JOB}/output", httpx.Response(200, content=b"age,prediction\n"))
    target = tmp_path / "predictions.csv"

    result = Cli(gateway)(
        "--json", "batch", SCENARIO_ID, "--file", str(file), "--wait", "--output", str(target)
    )

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["status"] == "succeeded" and shown["saved_to"] == str(target)
    assert target.read_bytes() == b"age,prediction\n"


def test_cli_batch_wait_exits_1_with_the_reason_when_the_job_fails() -> None:
    gateway = FakeGateway()
    gateway.on("POST", BATCH, httpx.Response(202, json=job()))
    gateway.on("GET", f"{BATCH}/{JOB}", httpx.Response(200, json=job("failed")))

    result = Cli(gateway)("batch", SCENARIO_ID, "--dataset", "d1", "--wait")

    assert result.exit_code == 1
    assert "not a number" in result.stderr


def test_cli_batch_needs_exactly_one_input() -> None:
    result = Cli(FakeGateway())("batch", SCENARIO_ID)
    assert result.exit_code == 2 and "exactly one" in result.output


def test_cli_batch_status_list_and_download(tmp_path: Path) -> None:
    gateway = FakeGateway()
    gateway.on("GET", f"{BATCH}/{JOB}", httpx.Response(200, json=job("running")))
    gateway.on("GET", BATCH, httpx.Response(200, json={"items": [job()], "next_cursor": None}))
    gateway.on("GET", f"{BATCH}/{JOB}/output", httpx.Response(200, content=b"a,prediction\n"))
    cli = Cli(gateway)

    status = cli("batch", "status", SCENARIO_ID, JOB)
    listed = cli("batch", "list", SCENARIO_ID)
    saved = cli("batch", "download", SCENARIO_ID, JOB, "--output", str(tmp_path))

    assert status.exit_code == 0 and "50%" in status.stdout
    assert listed.exit_code == 0 and "Batch jobs (1)" in listed.stdout
    assert saved.exit_code == 0, saved.output
    assert (tmp_path / f"{JOB}.csv").read_bytes() == b"a,prediction\n"


def test_cli_predictions_list_show_and_cleanup() -> None:
    gateway = FakeGateway()
    gateway.on(
        "GET",
        f"{BASE}/predictions",
        httpx.Response(200, json={"items": [prediction(1)], "next_cursor": "more"}),
    )
    shadowed = prediction(1, shadow={"model_id": "m2", "output": {"prediction": "no"}})
    gateway.on("GET", f"{BASE}/predictions/p1", httpx.Response(200, json=shadowed))
    cut = {"older_than": "2025-01-01T00:00:00+00:00"}
    gateway.on("POST", f"{BASE}/predictions/cleanup", httpx.Response(202, json=cut))
    cli = Cli(gateway)

    listed = cli("predictions", "list", SCENARIO_ID, "--limit", "1", "--arm", "champion")
    shown = cli("predictions", "show", SCENARIO_ID, "p1")
    cleaned = cli("predictions", "cleanup", SCENARIO_ID, "--older-than-days", "7")
    refused = cli("predictions", "cleanup", SCENARIO_ID)

    assert listed.exit_code == 0 and "Predictions (1)" in listed.stdout
    assert gateway.requests[0].url.params["limit"] == "1"
    assert shown.exit_code == 0 and "Shadow" in shown.stdout and "m2" in shown.stdout
    assert cleaned.exit_code == 0 and "2025-01-01" in cleaned.stdout
    assert body(gateway.requests[-1]) == {"older_than_days": 7.0}
    assert refused.exit_code == 2
