"""The installed `mloop` console script against a real gateway process on the real local stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mloop_client import MLoopClient, MLoopError

from tests.fixtures.services import UPLOAD_MAX_BYTES
from tests.fixtures.training import RunningTrainer

MLOOP = shutil.which("mloop", path=str(Path(sys.executable).parent)) or shutil.which("mloop")

CSV = "age,plan,churned\n31,basic,true\n45,pro,false\n22,basic,\n58,pro,false\n"


@dataclass
class Mloop:
    """Runs `mloop` as a user would, with MLOOP_URL and MLOOP_API_KEY in its environment."""

    url: str
    key: str

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert MLOOP, "the `mloop` console script is not installed in this environment"
        env = {**os.environ, "MLOOP_URL": self.url, "MLOOP_API_KEY": self.key, "COLUMNS": "200"}
        return subprocess.run(
            [MLOOP, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, f"mloop {' '.join(args)}:\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("--json", *args).stdout)

    def fails(self, status: int, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 1, f"mloop {' '.join(args)}: {result.stdout}{result.stderr}"
        assert f"({status})" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        return result


@pytest.fixture(scope="module")
def admin(gateway_url: str, admin_key: str) -> Mloop:
    return Mloop(gateway_url, admin_key)


@pytest.fixture(scope="module")
def editor(admin: Mloop) -> Mloop:
    created = admin.json("keys", "create", f"cli-editor-{uuid.uuid4().hex[:6]}", "--role", "editor")
    return Mloop(admin.url, created["key"])


@pytest.fixture
def scenario_id(editor: Mloop) -> str:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    return editor.json("scenario", "create", name, "--task-type", "classification")["id"]


def test_keys_create_list_and_revoke(admin: Mloop) -> None:
    name = f"cli-key-{uuid.uuid4().hex[:6]}"
    made = admin.run("keys", "create", name, "--role", "viewer")
    assert made.returncode == 0, made.stderr
    assert "will not be shown again" in made.stderr
    secret = re.search(r"Secret: (\S+)", made.stdout)
    assert secret, made.stdout

    listed = admin.json("keys", "list")
    (key,) = [item for item in listed["items"] if item["name"] == name]
    assert key["role"] == "viewer" and "key" not in key
    assert name in admin.ok("keys", "list").stdout

    admin.ok("keys", "revoke", key["id"])
    Mloop(admin.url, secret.group(1)).fails(401, "scenario", "list")


def test_scenario_create_list_show_delete(editor: Mloop) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    created = editor.json(
        "scenario", "create", f"churn-{tag}", "--task-type", "classification",
        "--description", "Who leaves", "--tag", tag, "--tag", "cli",
    )  # fmt: skip
    assert created["name"] == f"churn-{tag}"
    assert created["description"] == "Who leaves"
    assert sorted(created["tags"]) == sorted([tag, "cli"])
    other = editor.json("scenario", "create", f"other-{tag}", "--task-type", "regression")

    listed = editor.json("scenario", "list", "--tag", tag)
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert listed["next_cursor"] is None
    everything = editor.json("scenario", "list")
    assert {created["id"], other["id"]} <= {item["id"] for item in everything["items"]}
    assert f"churn-{tag}" in editor.ok("scenario", "list", "--tag", tag).stdout

    assert editor.json("scenario", "show", created["id"]) == created
    assert "Who leaves" in editor.ok("scenario", "show", created["id"]).stdout

    deleted = editor.ok("--json", "scenario", "delete", created["id"], "--yes")
    assert deleted.stdout == ""
    gone = editor.fails(404, "scenario", "show", created["id"])
    assert gone.stdout == ""
    editor.ok("scenario", "delete", other["id"], "--yes")


def test_scenario_list_follows_pages(editor: Mloop) -> None:
    tag = f"p{uuid.uuid4().hex[:8]}"
    ids = {
        editor.json("scenario", "create", f"page-{n}", "--task-type", "regression", "--tag", tag)[
            "id"
        ]
        for n in range(3)
    }

    assert {item["id"] for item in editor.json("scenario", "list", "--tag", tag)["items"]} == ids
    first_two = editor.json("scenario", "list", "--tag", tag, "--limit", "2")
    assert len(first_two["items"]) == 2
    assert first_two["next_cursor"]


def test_upload_show_and_preview(editor: Mloop, scenario_id: str, tmp_path: Path) -> None:
    file = tmp_path / "train.csv"
    file.write_text(CSV)

    version = editor.json("data", "upload", scenario_id, str(file), "--target", "churned")
    assert version["path"] == "train.csv"
    assert version["version"] == 1
    assert version["rows"] == 4
    assert [column["name"] for column in version["columns"]] == ["age", "plan", "churned"]

    again = editor.json("data", "upload", scenario_id, str(file))
    assert (again["id"], again["version"]) == (version["id"], 1), "same bytes, same version"
    human = editor.ok("data", "upload", scenario_id, str(file), "--path", "copies/train.csv")
    assert "copies/train.csv" in human.stdout

    sample = editor.json("data", "preview", scenario_id, "train.csv", "--rows", "2")
    assert sample["columns"] == ["age", "plan", "churned"]
    assert sample["rows"] == [["31", "basic", "true"], ["45", "pro", "false"]]
    assert "basic" in editor.ok("data", "preview", scenario_id, "train.csv").stdout

    files = editor.json("data", "list", scenario_id)
    assert sorted(item["path"] for item in files["items"]) == ["copies/train.csv", "train.csv"]
    shown = editor.json("data", "show", scenario_id, "copies/train.csv")
    assert shown["file"]["versions"] == 1
    assert [v["version"] for v in shown["versions"]] == [1]
    assert "churned" in editor.ok("data", "show", scenario_id, "train.csv").stdout


def test_a_bad_upload_exits_1_with_the_problem_title(
    editor: Mloop, scenario_id: str, tmp_path: Path
) -> None:
    file = tmp_path / "broken.csv"
    file.write_bytes(b"\x00\xff\xfe" * 1000)
    with MLoopClient(editor.url, editor.key) as client, pytest.raises(MLoopError) as caught:
        client.upload_data(scenario_id, file, path="direct.csv")
    assert caught.value.status in (413, 415, 422), caught.value

    result = editor.fails(caught.value.status, "data", "upload", scenario_id, str(file))
    assert f"Error: {caught.value.title}" in result.stderr
    assert result.stdout == ""

    missing_target = tmp_path / "ok.csv"
    missing_target.write_text(CSV)
    wrong = editor.run("data", "upload", scenario_id, str(missing_target), "--target", "nope")
    assert wrong.returncode == 1, wrong.stdout
    assert "Error: " in wrong.stderr


def test_a_file_over_the_limit_is_refused_with_413(
    editor: Mloop, scenario_id: str, tmp_path: Path
) -> None:
    file = tmp_path / "huge.csv"
    line = b"1,2,3,some text here\n"
    with file.open("wb") as out:
        out.write(b"a,b,c,d\n")
        out.write(line * (UPLOAD_MAX_BYTES // len(line) + 1000))

    result = editor.fails(413, "data", "upload", scenario_id, str(file))

    assert "Error: Upload too large" in result.stderr


def test_a_viewer_may_read_but_not_create(admin: Mloop, scenario_id: str) -> None:
    viewer = Mloop(admin.url, admin.json("keys", "create", "cli-viewer", "--role", "viewer")["key"])

    assert viewer.json("scenario", "show", scenario_id)["id"] == scenario_id
    refused = viewer.fails(403, "scenario", "create", "nope", "--task-type", "classification")
    assert refused.stdout == ""


def test_the_client_replays_a_create_sent_twice_with_one_idempotency_key(editor: Mloop) -> None:
    key = str(uuid.uuid4())
    with MLoopClient(editor.url, editor.key) as client:
        first = client.create_scenario("replayed", "regression", idempotency_key=key)
        second = client.create_scenario("replayed", "regression", idempotency_key=key)

    assert second == first


def test_an_unreachable_gateway_is_a_message() -> None:
    nowhere = Mloop("http://127.0.0.1:9", "whatever")

    result = nowhere.run("scenario", "list")

    assert result.returncode == 1
    assert "Gateway unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_experiment_run_watch_compare_and_best_model(
    editor: Mloop, tmp_path: Path, trainers: list[RunningTrainer]
) -> None:
    scenario = editor.json("scenario", "create", "cli-train", "--task-type", "regression")["id"]
    rows = "\n".join(f"{x},{x % 3},{2 * x + x % 3}" for x in range(60))
    data = tmp_path / "line.csv"
    data.write_text("x,bucket,y\n" + rows + "\n")
    dataset = editor.json("data", "upload", scenario, str(data))["id"]
    made = [
        editor.json(
            "experiment",
            "create",
            scenario,
            "--name",
            name,
            "--dataset",
            dataset,
            "--target",
            "y",
            "--algorithm",
            "linear_regression",
            *extra,
        )
        for name, extra in (("all", []), ("only-bucket", ["--feature", "bucket"]))
    ]
    watched = editor.run("experiment", "run", scenario, made[0]["id"], "--watch")
    assert watched.returncode == 0, watched.stderr
    assert "completed" in watched.stdout
    run = editor.json("experiment", "run", scenario, made[1]["id"])
    watch = editor.run("run", "watch", scenario, run["id"])
    assert watch.returncode == 0, watch.stderr
    logs = editor.ok("run", "logs", scenario, run["id"]).stdout
    assert "read 60 rows" in logs
    compared = editor.ok("experiment", "compare", scenario, made[0]["id"], made[1]["id"]).stdout
    assert "rmse" in compared and "all" in compared and "only-bucket" in compared
    best = editor.json("models", "best", scenario)
    first = editor.json("run", "show", scenario, watched_run_id(editor, scenario, made[0]["id"]))
    assert best["id"] == first["model_id"]  # x explains y best
    listed = editor.json("models", "list", scenario)
    assert len(listed["items"]) == 2


def watched_run_id(cli: Mloop, scenario: str, experiment_id: str) -> str:
    with MLoopClient(cli.url, cli.key) as client:
        return client.list_runs(scenario, experiment_id=experiment_id)["items"][0]["id"]
