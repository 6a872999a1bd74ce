"""Batch prediction benchmark: a 1,000,000-row CSV of 20 numeric features scored by the platform
against a pyarrow script doing the same in memory.

One stack (broker, embedded Postgres, gateway, trainer, scheduler, predictor); a 100-tree
LightGBM trained through the platform on 5,000 rows and promoted. The input CSV (`--rows`,
generated once, cached with `--keep-data`) is uploaded as a dataset version of the scenario
(timed, reported apart) and its background profile awaited. Then, in turn:

- **floor**: `bench.bare_batch` in a subprocess, timed inside itself after its imports: read
  with pyarrow, `predict_proba` of the same pipeline on the whole frame, write inputs plus
  `prediction` and `probability_<label>` with pyarrow's CSV writer;
- **platform**: `POST /api/scenarios/{id}/predictions/batch {"dataset_id"}` to the gateway,
  then `GET .../predictions/batch/{job_id}` every 0.1 s until it has succeeded; the time from
  just before the request to the answer that says so.

Rows per second of each and the ratio platform / floor (target, reported: at least 0.8). The
platform's output is then downloaded and compared with the floor's, row by row.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import pyarrow.csv as pa_csv
import typer
from rich.console import Console
from rich.table import Table

from bench import BenchmarkFailed
from bench.cpu import CpuWatch
from bench.options import DEFAULT_DATA_DIR, DataDir, KeepData
from bench.results import write_results
from bench.serving_data import batch_csv, request_records, training_frame
from bench.serving_platform import (
    REQUEST_TIMEOUT,
    Champion,
    Platform,
    deploy_champion,
    problem,
    start_platform,
)
from bench.stack import REPO_ROOT, BenchStack

TARGET_RATIO = 0.8
POLL = 0.1
PROBABILITY_TOLERANCE = 1e-9


def _upload(
    client: httpx.Client, platform: Platform, champion: Champion, csv: Path, timeout: float
) -> tuple[dict[str, Any], float, float]:
    """Upload the CSV as a dataset version; (version, upload seconds, profile seconds)."""
    gateway = platform.gateway
    started = time.perf_counter()
    with csv.open("rb") as stream:
        response = client.post(
            f"{champion.scenario_url}/data",
            files={"file": (csv.name, stream, "text/csv")},
            data={"path": csv.name},
        )
    if response.status_code not in (200, 201):
        raise problem(response, gateway, "uploading the batch input")
    uploaded = time.perf_counter() - started
    version = response.json()
    status, deadline = version["profile_status"], time.monotonic() + timeout
    started = time.perf_counter()
    while status == "pending" and time.monotonic() < deadline:
        time.sleep(0.25)
        answer = client.get(
            f"{champion.scenario_url}/data/{version['path']}/profile",
            params={"version": version["version"]},
        )
        if answer.status_code != 200:
            raise problem(answer, gateway, "reading the profile")
        status = answer.json()["status"]
    return version, uploaded, time.perf_counter() - started


def _floor(champion: Champion, csv: Path, output: Path, *, booster: bool = False) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.bare_batch", str(champion.artifact), str(csv)]
    command += [str(output), *(["--booster"] if booster else [])]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchmarkFailed(
            f"the floor script failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _platform(
    client: httpx.Client, platform: Platform, champion: Champion, dataset_id: str, timeout: float
) -> dict[str, Any]:
    gateway = platform.gateway
    batch_url = f"{champion.scenario_url}/predictions/batch"
    began, started = time.time(), time.perf_counter()
    response = client.post(batch_url, json={"dataset_id": dataset_id})
    if response.status_code != 202:
        raise problem(response, gateway, "requesting the batch prediction")
    job = response.json()
    job_url = f"{batch_url}/{job['job_id']}"
    deadline = time.monotonic() + timeout
    while job["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise BenchmarkFailed(f"batch job still {job['status']} after {timeout:.0f} s: {job}")
        time.sleep(POLL)
        platform.check_alive()
        answer = client.get(job_url)
        if answer.status_code != 200:
            raise problem(answer, gateway, "reading the batch job")
        job = answer.json()
    seconds = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise BenchmarkFailed(
            f"the batch job failed: {job.get('error')}\npredictor log tail:\n"
            f"{platform.predictor.log_tail()}"
        )

    def since(name: str) -> float | None:
        value = job.get(name)
        return (
            None if value is None else round(datetime.fromisoformat(value).timestamp() - began, 3)
        )

    return {
        "job_id": job["job_id"],
        "seconds": round(seconds, 3),
        "rows": job["rows_done"],
        "created": since("created_at"),
        "started": since("started_at"),
        "finished": since("finished_at"),
        "attempts": job["attempts"],
    }


def _download(client: httpx.Client, champion: Champion, job_id: str, target: Path) -> None:
    url = f"{champion.scenario_url}/predictions/batch/{job_id}/output"
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            response.read()
            raise BenchmarkFailed(f"downloading the output: {response.status_code} {response.text}")
        with target.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)


def compare_outputs(platform_csv: Path, floor_csv: Path) -> dict[str, Any]:
    """Row by row, for every column of the floor's output: the number of rows whose values
    differ (labels and other text), or the largest absolute difference (numbers), and whether
    all agree (probabilities within 1e-9)."""
    mine, floor = pa_csv.read_csv(platform_csv), pa_csv.read_csv(floor_csv)
    found: dict[str, Any] = {
        "rows": {"platform": mine.num_rows, "floor": floor.num_rows},
        "missing_columns": [name for name in floor.column_names if name not in mine.column_names],
        "differences": {},
    }
    same = mine.num_rows == floor.num_rows and not found["missing_columns"]
    if not same:
        found["same"] = False
        return found
    for name in floor.column_names:
        a = mine.column(name).to_numpy(zero_copy_only=False)
        b = floor.column(name).to_numpy(zero_copy_only=False)
        if name != "prediction" and a.dtype.kind == "f" and b.dtype.kind == "f":
            gap = float(np.nanmax(np.abs(a - b))) if len(a) else 0.0
            same = same and gap <= PROBABILITY_TOLERANCE
            found["differences"][name] = gap
        else:
            differing = int(np.sum(a.astype(str) != b.astype(str)))
            same = same and differing == 0
            found["differences"][name] = differing
    found["same"] = same
    return found


def _verdict(passed: bool) -> str:
    return "[green]PASS[/]" if passed else "[red]MISS[/]"


_FLOOR_STEPS = (
    ("load_model", "load the model (joblib)"),
    ("read", "read (pyarrow)"),
    ("convert", "to pandas"),
    ("predict", "predict_proba, labels"),
    ("write", "write (pyarrow)"),
)


def _report(
    console: Console,
    rows: int,
    floor: dict[str, Any],
    through: dict[str, Any],
    comparison: dict[str, Any] | None,
    reference: dict[str, Any] | None,
) -> dict[str, Any]:
    floor_rate = rows / floor["seconds"]["total"]
    platform_rate = rows / through["seconds"]
    ratio = platform_rate / floor_rate
    passed = {"ratio": ratio >= TARGET_RATIO}
    table = Table(title=f"Batch prediction of {rows:,} rows x 20 numeric columns")
    for name in ("figure", "floor (pyarrow)", "platform", "target", ""):
        table.add_column(name, justify="left" if name == "figure" else "right")
    table.add_row(
        "seconds, fastest try", f"{floor['seconds']['total']:.2f}", f"{through['seconds']:.2f}"
    )
    table.add_row("rows/s", f"{floor_rate:,.0f}", f"{platform_rate:,.0f}")
    table.add_row(
        "ratio platform / floor",
        "",
        f"{ratio:.2f}",
        f">= {TARGET_RATIO}",
        _verdict(passed["ratio"]),
    )
    for key, label in _FLOOR_STEPS:
        table.add_row(f"  floor: {label}", f"{floor['seconds'][key]:.2f}")
    for key in ("created", "started", "finished"):
        value = through[key]
        shown = "-" if value is None else f"{value:.2f}"
        table.add_row(f"  platform: job {key}, s after the request", "", shown)
    if reference is not None:
        reference_rate = rows / reference["seconds"]["total"]
        table.add_row(
            "reference: the floor with the raw booster, rows/s (one try)",
            f"{reference_rate:,.0f}",
            f"{platform_rate / reference_rate:.2f} of it",
        )
    if comparison is not None:
        passed["same_output"] = bool(comparison["same"])
        table.add_row(
            "same output row by row",
            "",
            "yes" if comparison["same"] else "no",
            "yes",
            _verdict(passed["same_output"]),
        )
    console.print(table)
    if comparison is not None and not comparison["same"]:
        console.print(f"[yellow]outputs differ[/]: {comparison}")
    return {
        "targets": {"ratio_at_least": TARGET_RATIO},
        "floor": {**floor, "rows_per_second": round(floor_rate)},
        "platform": {**through, "rows_per_second": round(platform_rate)},
        "ratio": round(ratio, 3),
        "booster_reference": reference,
        "comparison": comparison,
        "pass": passed,
    }


def run(
    rows: Annotated[int, typer.Option(min=1000, help="Rows of the input CSV.")] = 1_000_000,
    train_rows: Annotated[int, typer.Option(min=200, help="Rows the model is trained on.")] = 5000,
    trees: Annotated[int, typer.Option(min=1, help="LightGBM trees (n_estimators).")] = 100,
    repeat: Annotated[
        int, typer.Option(min=1, help="Tries of each, in turn; the fastest of each counts.")
    ] = 2,
    booster_reference: Annotated[
        bool,
        typer.Option(help="Also time the floor scoring with the raw booster (a reference)."),
    ] = True,
    verify: Annotated[
        bool, typer.Option(help="Download the platform's output and compare it with the floor's.")
    ] = True,
    keep_data: KeepData = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    job_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the batch job.")
    ] = 1800.0,
) -> None:
    """Score a large CSV through the platform's batch prediction and with a pyarrow script."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 110)
    with (
        batch_csv(rows, data_dir=data_dir.expanduser(), keep_data=keep_data) as csv,
        BenchStack() as stack,
    ):
        size_mb = csv.stat().st_size / 2**20
        console.print(f"CSV: {csv} ({size_mb:.0f} MB, {rows:,} rows)")
        platform = start_platform(stack)
        admin = {"Authorization": f"Bearer {stack.admin_key}"}
        with httpx.Client(timeout=REQUEST_TIMEOUT, headers=admin) as client:
            champion = deploy_champion(
                client,
                platform,
                training_frame(train_rows),
                trees=trees,
                workdir=stack.workdir,
                probe=request_records(1)[0],
            )
            console.print(f"model {champion.model_id} trained and promoted")
            version, upload_seconds, profile_seconds = _upload(
                client, platform, champion, csv, job_timeout
            )
            console.print(
                f"uploaded as dataset version {version['id']} in {upload_seconds:.1f} s "
                f"({size_mb / upload_seconds:.0f} MB/s); profile {profile_seconds:.1f} s"
            )
            floor_output = stack.workdir / "floor-output.csv"
            floors: list[dict[str, Any]] = []
            throughs: list[dict[str, Any]] = []
            for round_ in range(1, repeat + 1):
                with CpuWatch() as watch:
                    floors.append(_floor(champion, csv, floor_output))
                floors[-1]["foreign_cpu_seconds"] = round(watch.foreign, 2)
                with CpuWatch() as watch:
                    throughs.append(
                        _platform(client, platform, champion, version["id"], job_timeout)
                    )
                throughs[-1]["foreign_cpu_seconds"] = round(watch.foreign, 2)
                console.print(
                    f"round {round_}: floor {floors[-1]['seconds']['total']:.2f} s, "
                    f"platform {throughs[-1]['seconds']:.2f} s"
                )
            reference = None
            if booster_reference:
                with CpuWatch() as watch:
                    reference = _floor(
                        champion, csv, stack.workdir / "booster-output.csv", booster=True
                    )
                reference["foreign_cpu_seconds"] = round(watch.foreign, 2)
                (stack.workdir / "booster-output.csv").unlink(missing_ok=True)
            comparison = None
            if verify:
                platform_output = stack.workdir / "platform-output.csv"
                _download(client, champion, throughs[-1]["job_id"], platform_output)
                comparison = compare_outputs(platform_output, floor_output)
                platform_output.unlink()
            floor_output.unlink(missing_ok=True)

        floor = min(floors, key=lambda found: found["seconds"]["total"])
        through = min(throughs, key=lambda found: found["seconds"])
        results = _report(console, rows, floor, through, comparison, reference)
        results |= {
            "rows": rows,
            "csv_mb": round(size_mb, 1),
            "trees": trees,
            "model_id": champion.model_id,
            "upload_seconds": round(upload_seconds, 2),
            "profile_seconds": round(profile_seconds, 2),
            "floor_tries": floors,
            "platform_tries": throughs,
        }
        console.print(
            "CPU seconds other processes took, each try: floor "
            + ", ".join(f"{found['foreign_cpu_seconds']:.1f}" for found in floors)
            + "; platform "
            + ", ".join(f"{found['foreign_cpu_seconds']:.1f}" for found in throughs)
            + f". The upload of the input (apart) took {upload_seconds:.1f} s."
        )
        written = write_results("batch", results)
        console.print(f"figures written to {written}")
