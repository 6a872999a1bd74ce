"""What the serving benchmarks set up on the platform: the services (gateway, trainer, scheduler,
predictor, optionally the monitor) on a `BenchStack`, and a champion to serve: a scenario, the
training CSV uploaded, a LightGBM experiment run, its model promoted and answering at the
predictor, a `predictor` key, and the model's artifact downloaded for the in-process figures."""

from __future__ import annotations

import io
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from mloop_common.localstack.parts import free_port

from bench import BenchmarkFailed
from bench.serving_data import FEATURES, TARGET
from bench.stack import BenchStack, Server

REQUEST_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
POLL = 0.2


@dataclass
class Platform:
    gateway: Server
    trainer: Server
    scheduler: Server
    predictor: Server
    monitor: Server | None

    @property
    def servers(self) -> list[Server]:
        found = [self.gateway, self.trainer, self.scheduler, self.predictor, self.monitor]
        return [server for server in found if server is not None]

    def check_alive(self) -> None:
        for server in self.servers:
            server.check_alive()


@dataclass
class Champion:
    scenario_id: str
    scenario_url: str  # on the gateway
    model_id: str
    model: dict[str, Any]  # the registry's view (GET .../models/{id})
    predictor_key: str
    artifact: Path  # the joblib file
    train_seconds: float
    promote_seconds: float


def start_platform(stack: BenchStack, *, monitor: bool = False) -> Platform:
    """The gateway (knowing the predictor's port), a trainer, the scheduler, the predictor."""
    predictor_port = free_port()
    stack.env["MLOOP_PREDICTOR_HOST"] = "127.0.0.1"
    stack.env["MLOOP_PREDICTOR_PORT"] = str(predictor_port)
    gateway = stack.start_gateway()
    trainer = stack.start_trainer(concurrency=1)
    scheduler_port = free_port()
    stack.env["MLOOP_SCHEDULER_PORT"] = str(scheduler_port)
    scheduler = stack.start_server(
        "scheduler", [sys.executable, "-m", "mloop_scheduler"], port=scheduler_port
    )
    predictor = stack.start_server(
        "predictor", [sys.executable, "-m", "mloop_predictor"], port=predictor_port
    )
    watcher = None
    if monitor:
        monitor_port = free_port()
        stack.env["MLOOP_MONITOR_PORT"] = str(monitor_port)
        watcher = stack.start_server(
            "monitor", [sys.executable, "-m", "mloop_monitor"], port=monitor_port
        )
    return Platform(gateway, trainer, scheduler, predictor, watcher)


def problem(response: httpx.Response, server: Server, what: str) -> BenchmarkFailed:
    return BenchmarkFailed(
        f"{what}: HTTP {response.status_code}\nbody: {response.text[:2000]}\n"
        f"{server.name} log tail:\n{server.log_tail()}"
    )


def _expect(response: httpx.Response, codes: tuple[int, ...], server: Server, what: str) -> Any:
    if response.status_code not in codes:
        raise problem(response, server, what)
    return response.json() if response.content else None


def deploy_champion(
    client: httpx.Client,
    platform: Platform,
    frame: pd.DataFrame,
    *,
    trees: int,
    workdir: Path,
    probe: dict[str, float],
    timeout: float = 600.0,
) -> Champion:
    """Train LightGBM (`trees` trees) on `frame` through the platform, promote the model and
    wait until the predictor answers with it; `client` carries the admin key."""
    gateway = platform.gateway
    url = gateway.url
    body = {
        "name": f"bench-serving-{uuid.uuid4().hex[:8]}",
        "task_type": "classification",
        "deployment_policy": "manual",  # promoted below, timed
    }
    created = _expect(
        client.post(f"{url}/api/scenarios", json=body), (201,), gateway, "creating the scenario"
    )
    sid = created["id"]
    scenario = f"{url}/api/scenarios/{sid}"
    buffer = io.BytesIO(frame.to_csv(index=False).encode())
    version = _expect(
        client.post(
            f"{scenario}/data",
            files={"file": ("train.csv", buffer, "text/csv")},
            data={"path": "train.csv", "target": TARGET},
        ),
        (200, 201),
        gateway,
        "uploading the training CSV",
    )
    experiment = _expect(
        client.post(
            f"{scenario}/experiments",
            json={
                "name": "lightgbm",
                "dataset_id": version["id"],
                "target": TARGET,
                "features": list(FEATURES),
                "model": {"algorithm": "lightgbm", "parameters": {"n_estimators": trees}},
            },
        ),
        (201,),
        gateway,
        "creating the experiment",
    )
    started = time.monotonic()
    run = _expect(
        client.post(f"{scenario}/experiments/{experiment['id']}/runs"),
        (202,),
        gateway,
        "starting the run",
    )
    run = _wait(
        lambda: client.get(f"{scenario}/runs/{run['id']}").json(),
        lambda found: found["status"] in ("completed", "failed"),
        timeout,
        f"run {run['id']} did not finish",
    )
    if run["status"] != "completed":
        raise BenchmarkFailed(f"the run failed: {run.get('error')}\n{platform.trainer.log_tail()}")
    train_seconds = time.monotonic() - started
    models = _expect(
        client.get(f"{scenario}/models", params={"experiment_id": experiment["id"]}),
        (200,),
        gateway,
        "listing the models",
    )
    if not models["items"]:
        raise BenchmarkFailed(f"run {run['id']} completed without a model")
    model_id = models["items"][0]["id"]
    model = _expect(client.get(f"{scenario}/models/{model_id}"), (200,), gateway, "the model")

    key = _expect(
        client.post(
            f"{url}/api/keys",
            json={"name": f"bench-predictor-{sid[:8]}", "role": "predictor", "scenarios": [sid]},
        ),
        (201,),
        gateway,
        "creating the predictor key",
    )["key"]
    started = time.monotonic()
    _expect(
        client.post(f"{scenario}/models/{model_id}/promote", json={"reason": "manual"}),
        (202,),
        gateway,
        "promoting the model",
    )
    predict_url = f"{platform.predictor.url}/api/scenarios/{sid}/predict"
    headers = {"Authorization": f"Bearer {key}"}

    def answer() -> httpx.Response:
        platform.check_alive()
        return client.post(predict_url, json={"records": [probe]}, headers=headers)

    served = _wait(
        answer,
        lambda response: response.status_code == 200 and response.json()["model_id"] == model_id,
        timeout,
        f"the predictor did not answer with model {model_id} after promotion",
        platform.predictor,
    )
    promote_seconds = time.monotonic() - started
    del served

    artifact = workdir / f"model-{model_id}.joblib"
    with client.stream("GET", f"{scenario}/models/{model_id}/artifact") as response:
        if response.status_code != 200:
            response.read()
            raise problem(response, gateway, "downloading the model artifact")
        with artifact.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    return Champion(
        scenario_id=sid,
        scenario_url=scenario,
        model_id=model_id,
        model=model,
        predictor_key=key,
        artifact=artifact,
        train_seconds=train_seconds,
        promote_seconds=promote_seconds,
    )


def _wait(look: Any, done: Any, timeout: float, what: str, server: Server | None = None) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = look()
        if done(last):
            return last
        time.sleep(POLL)
    shown = last.text[:500] if isinstance(last, httpx.Response) else str(last)[:500]
    tail = f"\n{server.name} log tail:\n{server.log_tail()}" if server else ""
    raise BenchmarkFailed(f"{what} after {timeout:.0f} s (last: {shown}){tail}")
