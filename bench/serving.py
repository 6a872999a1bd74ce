"""Online serving benchmark: single-record predictions of a 100-tree LightGBM on 20 numeric
features, at 16 concurrent connections, against the floor and the peer.

In one run, on one stack (broker, embedded Postgres, gateway, trainer, scheduler, predictor):
the model is trained through the platform, promoted, and served; then wrk (`-t2 -c16`, a
warm-up, then `--duration` seconds) POSTs single-record bodies, cycling through 100 records, to

1. the predictor: `POST /api/scenarios/{id}/predict` with a `predictor` key;
2. the gateway: the same path and key (the gateway forwards to the predictor);
3. a bare FastAPI endpoint (`bench.bare_serving`) that parses the same body and answers a
   constant, under uvicorn with the services' server options;
5. MLflow's scoring server (`mlflow models serve --env-manager local`, from the peers'
   environment `bench/.peers-venv`) on the same trees: the pipeline's LightGBM estimator saved
   with MLflow's `lightgbm` flavour, body `{"dataframe_records": [record]}`;

and (4) the in-process predict of the same artifact, one record per call in one thread
(`bench.serving_inprocess`). Targets (reported, not asserted): (1) at least half of (3)'s
req/s with at most twice its p99; (2) at least half of (1)'s req/s; (1) at least 25x (5)'s.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import joblib
import pandas as pd
import psutil
import typer
from mloop_common.localstack.parts import free_port
from rich.console import Console
from rich.table import Table

from bench import BenchmarkFailed, peers
from bench.cpu import CpuWatch
from bench.results import write_results
from bench.serving_data import request_records, training_frame
from bench.serving_load import LoadResult, WrkError, lua_script, run_wrk, wrk_binary
from bench.serving_platform import (
    REQUEST_TIMEOUT,
    Champion,
    Platform,
    deploy_champion,
    start_platform,
)
from bench.stack import REPO_ROOT, BenchStack, Server

TARGET_BARE_SHARE = 0.5  # (1) req/s >= this x (3)
TARGET_P99_FACTOR = 2.0  # (1) p99 <= this x (3)
TARGET_GATEWAY_SHARE = 0.5  # (2) req/s >= this x (1)
TARGET_MLFLOW_FACTOR = 25.0  # (1) req/s >= this x (5)


@dataclass
class Target:
    """An HTTP server under load: where to POST what."""

    key: str
    label: str
    server: Server
    path: str
    body_field: str  # "records" or "dataframe_records"
    headers: dict[str, str]

    def bodies(self, records: list[dict[str, float]]) -> list[str]:
        return [json.dumps({self.body_field: [record]}) for record in records]


@dataclass
class Measured:
    label: str
    load: LoadResult
    warm_up: LoadResult
    foreign_cpu: float

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            **self.load.as_json(),
            "warm_up_requests": self.warm_up.requests,
            "foreign_cpu_seconds": round(self.foreign_cpu, 2),
        }


# --- servers ---------------------------------------------------------------------------------


def _start_bare(stack: BenchStack) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_serving", "--port", str(port)]
    return stack.start_server("bare", command, port=port)


@contextlib.contextmanager
def _peers_path(stack: BenchStack) -> Iterator[None]:
    """`mlflow models serve` starts `uvicorn` from PATH: the peers' one, while it starts."""
    saved = {name: stack.env.get(name) for name in ("PATH", "VIRTUAL_ENV")}
    stack.env["PATH"] = f"{peers.python().parent}:{saved['PATH'] or ''}"
    stack.env["VIRTUAL_ENV"] = str(peers.PEERS_VENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                stack.env.pop(name, None)
            else:
                stack.env[name] = value


def _start_mlflow(stack: BenchStack, champion: Champion, records: list[dict[str, float]]) -> Server:
    """Save the pipeline's LightGBM estimator as an MLflow model and serve it."""
    peers.ensure()
    estimator = stack.workdir / "estimator.joblib"
    joblib.dump(joblib.load(champion.artifact).named_steps["model"], estimator)
    sample = stack.workdir / "mlflow-sample.json"
    sample.write_text(json.dumps(records))
    model_dir = stack.workdir / "mlflow-model"
    script = REPO_ROOT / "bench" / "serving_mlflow.py"
    done = subprocess.run(
        [str(peers.python()), str(script), str(estimator), str(sample), str(model_dir)],
        capture_output=True,
        text=True,
        cwd=stack.workdir,
    )
    if done.returncode != 0:
        raise BenchmarkFailed(f"saving the MLflow model failed:\n{done.stderr[-3000:]}")
    port = free_port()
    command = [str(peers.mlflow()), "models", "serve", "--env-manager", "local"]
    command += ["-m", str(model_dir), "-p", str(port), "-h", "127.0.0.1"]
    with _peers_path(stack):
        return stack.start_server("mlflow", command, port=port, health_path="/ping")


def _stop_tree(server: Server) -> None:
    """Stop a server and whatever it started (MLflow runs uvicorn as a child)."""
    with contextlib.suppress(psutil.Error):
        children = psutil.Process(server.pid).children(recursive=True)
        server.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(10)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        psutil.wait_procs(children, timeout=10)


def _targets(
    platform: Platform, bare: Server, mlflow: Server | None, champion: Champion
) -> list[Target]:
    """The servers in the order they are loaded: the floor first, the peer last."""
    path = f"/api/scenarios/{champion.scenario_id}/predict"
    plain = {"Content-Type": "application/json"}
    keyed = {**plain, "Authorization": f"Bearer {champion.predictor_key}"}
    targets = [
        Target("bare", "(3) bare FastAPI", bare, path, "records", plain),
        Target("predictor", "(1) predictor", platform.predictor, path, "records", keyed),
        Target("gateway", "(2) gateway", platform.gateway, path, "records", keyed),
    ]
    if mlflow is not None:
        targets.append(
            Target("mlflow", "(5) MLflow", mlflow, "/invocations", "dataframe_records", plain)
        )
    return targets


# --- checks before loading -------------------------------------------------------------------


def _answers(
    client: httpx.Client, target: Target, records: list[dict[str, float]]
) -> dict[str, Any]:
    """One request with every record: the server must answer 200 (its body is returned)."""
    response = client.post(
        target.server.url + target.path, json={target.body_field: records}, headers=target.headers
    )
    if response.status_code != 200:
        raise BenchmarkFailed(
            f"{target.label} answered {response.status_code}: {response.text[:1000]}\n"
            f"log tail:\n{target.server.log_tail()}"
        )
    return response.json()


def _labels(body: dict[str, Any]) -> list[Any]:
    """The labels of an answer: ours (`{"predictions": [{"prediction": ...}]}`) or MLflow's
    (`{"predictions": [...]}`)."""
    if not isinstance(body.get("predictions"), list):
        raise BenchmarkFailed(f"unexpected answer: {str(body)[:500]}")
    return [item["prediction"] if isinstance(item, dict) else item for item in body["predictions"]]


# --- measuring -------------------------------------------------------------------------------


def _measure(
    target: Target,
    records: list[dict[str, float]],
    workdir: Path,
    *,
    duration: float,
    warm_up: float,
    connections: int,
    threads: int,
    console: Console,
) -> Measured:
    script = workdir / f"{target.key}.lua"
    script.write_text(lua_script(target.path, target.bodies(records), target.headers))
    options = {"connections": connections, "threads": threads}
    try:
        warm = run_wrk(target.server.url, script, seconds=warm_up, **options)
        target.server.check_alive()
        with CpuWatch() as watch:
            load = run_wrk(target.server.url, script, seconds=duration, **options)
    except WrkError as error:
        raise BenchmarkFailed(f"{target.label}: {error}") from error
    target.server.check_alive()
    if load.requests == 0:
        raise BenchmarkFailed(f"{target.label}: no request answered\n{target.server.log_tail()}")
    measured = Measured(target.label, load, warm, watch.foreign)
    note = f", [red]{load.failed} failed[/]" if load.failed else ""
    console.print(
        f"{target.label}: {load.requests_per_second:,.0f} req/s, p50 {load.latency_ms['p50']:.2f} "
        f"ms, p99 {load.latency_ms['p99']:.2f} ms{note}"
    )
    return measured


def _in_process(
    champion: Champion, records_file: Path, signature_file: Path, seconds: float
) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.serving_inprocess", str(champion.artifact)]
    command += [str(records_file), "--seconds", str(seconds), "--signature", str(signature_file)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchmarkFailed(f"the in-process script failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report ----------------------------------------------------------------------------------


def _verdict(passed: bool) -> str:
    return "[green]PASS[/]" if passed else "[red]MISS[/]"


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("inf")


def _report(
    console: Console,
    title: str,
    measured: dict[str, Measured],
    in_process: dict[str, Any],
) -> dict[str, Any]:
    table = Table(title=title)
    for name in ("", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "failed", "CPU s others"):
        table.add_column(name, justify="left" if not name else "right")
    for key in ("predictor", "gateway", "bare"):
        if key in measured:
            _row(table, measured[key])
    for way, figures in in_process.items():
        if "calls" not in figures:
            table.add_row(f"(4) in-process {way}", figures.get("unavailable", "-"))
            continue
        latency = figures["latency_ms"]
        table.add_row(
            f"(4) in-process {way}",
            f"{figures['calls_per_second']:,.0f}",
            f"{latency['p50']:.3f}",
            f"{latency['p90']:.3f}",
            f"{latency['p99']:.3f}",
            f"{latency['max']:.2f}",
        )
    if "mlflow" in measured:
        _row(table, measured["mlflow"])
    console.print(table)
    scorer = in_process.get("predictor scorer", {})
    if "fast_path" in scorer:
        console.print(f"predictor scorer: {scorer['fast_path']}")

    ratios: dict[str, float] = {}
    passed: dict[str, bool] = {}
    checks = Table(title="Ratios")
    for name in ("ratio", "value", "target", ""):
        checks.add_column(name, justify="left" if name == "ratio" else "right")
    predictor = measured.get("predictor")
    bare = measured.get("bare")
    gateway = measured.get("gateway")
    mlflow = measured.get("mlflow")

    def check(key: str, label: str, value: float, target: str, ok: bool) -> None:
        ratios[key], passed[key] = round(value, 3), ok
        checks.add_row(label, f"{value:.3f}", target, _verdict(ok))

    if predictor and bare:
        rps = _ratio(predictor.load.requests_per_second, bare.load.requests_per_second)
        check(
            "predictor_over_bare_rps",
            "(1)/(3) req/s",
            rps,
            f">= {TARGET_BARE_SHARE}",
            rps >= TARGET_BARE_SHARE,
        )
        p99 = _ratio(predictor.load.latency_ms["p99"], bare.load.latency_ms["p99"])
        check(
            "predictor_over_bare_p99",
            "(1)/(3) p99",
            p99,
            f"<= {TARGET_P99_FACTOR}",
            p99 <= TARGET_P99_FACTOR,
        )
    if predictor and gateway:
        rps = _ratio(gateway.load.requests_per_second, predictor.load.requests_per_second)
        check(
            "gateway_over_predictor_rps",
            "(2)/(1) req/s",
            rps,
            f">= {TARGET_GATEWAY_SHARE}",
            rps >= TARGET_GATEWAY_SHARE,
        )
    if predictor and mlflow:
        rps = _ratio(predictor.load.requests_per_second, mlflow.load.requests_per_second)
        check(
            "predictor_over_mlflow_rps",
            "(1)/(5) req/s",
            rps,
            f">= {TARGET_MLFLOW_FACTOR:.0f}",
            rps >= TARGET_MLFLOW_FACTOR,
        )
    console.print(checks)
    return {
        "targets": {
            "predictor_over_bare_rps_at_least": TARGET_BARE_SHARE,
            "predictor_over_bare_p99_at_most": TARGET_P99_FACTOR,
            "gateway_over_predictor_rps_at_least": TARGET_GATEWAY_SHARE,
            "predictor_over_mlflow_rps_at_least": TARGET_MLFLOW_FACTOR,
        },
        "servers": {key: value.as_json() for key, value in measured.items()},
        "in_process": in_process,
        "ratios": ratios,
        "pass": passed,
    }


def _row(table: Table, measured: Measured) -> None:
    load, latency = measured.load, measured.load.latency_ms
    table.add_row(
        measured.label,
        f"{load.requests_per_second:,.0f}",
        f"{latency['p50']:.2f}",
        f"{latency['p90']:.2f}",
        f"{latency['p99']:.2f}",
        f"{latency['max']:.1f}",
        f"{load.failed}",
        f"{measured.foreign_cpu:.1f}",
    )


# --- the command -----------------------------------------------------------------------------


def run(
    duration: Annotated[
        float, typer.Option(min=1, help="Seconds of load on each server (after the warm-up).")
    ] = 10.0,
    warm_up: Annotated[float, typer.Option(min=1, help="Seconds of load before each.")] = 3.0,
    connections: Annotated[int, typer.Option(min=1, help="Concurrent connections.")] = 16,
    threads: Annotated[int, typer.Option(min=1, help="wrk threads.")] = 2,
    rows: Annotated[int, typer.Option(min=200, help="Rows the model is trained on.")] = 5000,
    trees: Annotated[int, typer.Option(min=1, help="LightGBM trees (n_estimators).")] = 100,
    records: Annotated[
        int, typer.Option(min=1, help="Distinct records the requests cycle through.")
    ] = 100,
    rounds: Annotated[
        int, typer.Option(min=1, help="Rounds over every server; each one's best round counts.")
    ] = 1,
    in_process_seconds: Annotated[
        float, typer.Option(min=0.5, help="Seconds of calls for each in-process way.")
    ] = 5.0,
    mlflow: Annotated[
        bool, typer.Option(help="Also measure MLflow's scoring server (the peers' venv).")
    ] = True,
    monitor: Annotated[
        bool, typer.Option(help="Also run the monitor (it stores the logged predictions).")
    ] = False,
) -> None:
    """Single-record predictions: predictor, gateway, bare FastAPI, in-process, MLflow."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    try:
        wrk_binary()
    except WrkError as error:
        raise BenchmarkFailed(str(error)) from error
    if mlflow:
        peers.ensure()
    requests = request_records(records)
    with BenchStack() as stack:
        records_file = stack.workdir / "records.json"
        records_file.write_text(json.dumps(requests))
        platform = start_platform(stack, monitor=monitor)
        bare_server = _start_bare(stack)
        admin = {"Authorization": f"Bearer {stack.admin_key}"}
        with httpx.Client(timeout=REQUEST_TIMEOUT, headers=admin) as client:
            champion = deploy_champion(
                client,
                platform,
                training_frame(rows),
                trees=trees,
                workdir=stack.workdir,
                probe=requests[0],
            )
            console.print(
                f"model {champion.model_id}: trained in {champion.train_seconds:.1f} s, "
                f"served {champion.promote_seconds:.1f} s after the promotion request"
            )
            mlflow_server = _start_mlflow(stack, champion, requests) if mlflow else None
            targets = _targets(platform, bare_server, mlflow_server, champion)
            labels = {
                t.key: _labels(_answers(client, t, requests)) for t in targets if t.key != "bare"
            }
        pipeline = joblib.load(champion.artifact)
        pipeline_labels = [str(v) for v in pipeline.predict(pd.DataFrame(requests)).tolist()]
        agree = {key: [str(v) for v in found] == pipeline_labels for key, found in labels.items()}
        for key, same in agree.items():
            if not same:
                console.print(f"[yellow]warning[/]: {key}'s labels differ from the pipeline's")

        signature_file = stack.workdir / "signature.json"
        signature_file.write_text(json.dumps(champion.model["signature"]))
        tries: dict[str, list[Measured]] = {target.key: [] for target in targets}
        for round_ in range(1, rounds + 1):
            if rounds > 1:
                console.print(f"round {round_}")
            for target in targets:
                tries[target.key].append(
                    _measure(
                        target,
                        requests,
                        stack.workdir,
                        duration=duration,
                        warm_up=warm_up,
                        connections=connections,
                        threads=threads,
                        console=console,
                    )
                )
        if mlflow_server is not None:
            _stop_tree(mlflow_server)
        measured = {
            key: max(found, key=lambda m: m.load.requests_per_second)
            for key, found in tries.items()
        }
        in_process = _in_process(champion, records_file, signature_file, in_process_seconds)
        title = (
            f"Single-record predictions, {trees}-tree LightGBM on 20 numeric features: "
            f"{connections} connections, {threads} wrk threads, {duration:.0f} s each"
        )
        results = _report(console, title, measured, in_process)
        results |= {
            "options": {
                "duration": duration,
                "warm_up": warm_up,
                "connections": connections,
                "threads": threads,
                "rows": rows,
                "trees": trees,
                "records": records,
                "rounds": rounds,
            },
            "model_id": champion.model_id,
            "train_seconds": round(champion.train_seconds, 2),
            "promote_to_served_seconds": round(champion.promote_seconds, 2),
            "same_labels_as_pipeline": agree,
            "tries": {key: [m.as_json() for m in found] for key, found in tries.items()},
        }
        written = write_results("serving", results)
        console.print(f"figures written to {written}")
