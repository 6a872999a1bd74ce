"""What the training tests share: a scenario with data, experiments, and waiting on runs."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pandas as pd

from tests.integration.training_data import csv

FINISHED = ("completed", "failed")


def scenario_with_data(
    client: httpx.Client,
    task_type: str,
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    policy: str = "manual",
) -> tuple[str, dict[str, Any]]:
    """A new scenario and the dataset version of `frame` uploaded to it. Its deployment policy
    is `manual` unless told otherwise, so tests promote models themselves (under `auto`, the
    scheduler promotes the first model it hears of)."""
    scenario = client.post(
        "/api/scenarios",
        json={"name": f"t-{task_type}", "task_type": task_type, "deployment_policy": policy},
    )
    assert scenario.status_code == 201, scenario.text
    sid = scenario.json()["id"]
    form = {"path": "train.csv", **({"target": target} if target else {})}
    upload = client.post(
        f"/api/scenarios/{sid}/data", files={"file": ("train.csv", csv(frame))}, data=form
    )
    assert upload.status_code in (200, 201), upload.text
    return sid, upload.json()


def experiment(
    client: httpx.Client,
    sid: str,
    dataset: dict[str, Any],
    *,
    name: str,
    target: str | None,
    algorithm: str,
    parameters: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "name": name,
        "dataset_id": dataset["id"],
        "target": target,
        "model": {"algorithm": algorithm, "parameters": parameters or {}},
        **extra,
    }
    created = client.post(f"/api/scenarios/{sid}/experiments", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def start(client: httpx.Client, sid: str, experiment_id: str) -> dict[str, Any]:
    started = client.post(f"/api/scenarios/{sid}/experiments/{experiment_id}/runs")
    assert started.status_code == 202, started.text
    return started.json()


def wait_for(
    client: httpx.Client, sid: str, run_id: str, *, timeout: float = 120, until: tuple = FINISHED
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/scenarios/{sid}/runs/{run_id}").json()
        if run["status"] in until:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s: {run}")
        time.sleep(0.3)


def logs(client: httpx.Client, sid: str, run_id: str) -> list[str]:
    page = client.get(f"/api/scenarios/{sid}/runs/{run_id}/logs", params={"limit": 5000})
    return [line["line"] for line in page.json()["items"]]
