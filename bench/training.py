"""Training benchmark: a LightGBM run through the platform against the bare fit and score.

The same CSV (100,000 rows, 20 feature columns, a binary `label` by default) is trained on in
turn by the floor, `bench.bare_training` in a subprocess timed inside itself after its imports,
and by the platform: `POST /api/scenarios/{id}/experiments/{eid}/runs` to the gateway, with one
trainer (concurrency 1, its run process warm) executing the run. The platform's figure is the
wall time from just before that request to the moment a consumer, subscribed beforehand from the
latest offset, reads the run's `ModelTrained`. Target (reported, not asserted): the platform
takes at most max(1 s, 10 % of the floor) longer than the floor, best try against best try.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import pandas as pd
import psutil
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from mloop_common.topics import MODEL_TRAINED
from rich.console import Console
from rich.table import Table

from bench import BenchmarkFailed
from bench.cpu import CpuWatch, machine_busy
from bench.options import DEFAULT_DATA_DIR, S3, DataDir, KeepData
from bench.results import write_results
from bench.stack import REPO_ROOT, BenchStack, Server
from bench.training_data import TARGET, training_csv

TARGET_OVERHEAD_SECONDS = 1.0
TARGET_OVERHEAD_SHARE = 0.10
METRIC_TOLERANCE = 1e-6
REQUEST_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
FETCH_WAIT_MS = 100  # the benchmark's consumer: longest a fetch waits on the broker
STATUS_EVERY = 2.0  # seconds without the event between looks at the run's status
QUIET_WINDOW = 1.0  # the machine counts as idle when, over this many seconds, ...
QUIET_CPU = 0.2  # ... all its processes together used less than this share of one core
RETRIES = 2  # a disturbed try is done again up to this many times
Attempt = TypeVar("Attempt", "BareAttempt", "PlatformAttempt")
FIT_LINE = re.compile(r"^fitted \S+ on \d+ rows in ([0-9.]+) s")


# --- the floor ------------------------------------------------------------------------------


@dataclass
class BareAttempt:
    total: float
    seconds: dict[str, float]
    metrics: dict[str, float]
    columns: dict[str, str]
    peak_rss_mb: float
    platform_steps: dict[str, float]
    foreign_cpu: float = 0.0
    tries: int = 1


def _bare(csv: Path, cores: int) -> BareAttempt:
    command = [sys.executable, "-m", "bench.bare_training", str(csv), "--target", TARGET]
    command += ["--cores", str(cores), "--platform-steps"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchmarkFailed(f"the bare script failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return BareAttempt(
        total=result["seconds"]["total"],
        seconds=result["seconds"],
        metrics=result["metrics"],
        columns=result["columns"],
        peak_rss_mb=result["peak_rss_mb"],
        platform_steps=result["platform_steps"]["seconds"],
    )


# --- the platform ---------------------------------------------------------------------------


@dataclass
class PlatformAttempt:
    run_id: str
    total: float  # command to ModelTrained read by the benchmark's consumer
    produced: float  # command to the record's timestamp (when the outbox relay sent it)
    request: float  # the POST, until its answer
    wall_seconds: float
    cpu_seconds: float
    peak_memory_mb: float
    metrics: dict[str, float]
    segments: dict[str, float] = field(default_factory=dict)
    child: dict[str, float | None] = field(default_factory=dict)
    foreign_cpu: float = 0.0
    tries: int = 1


@dataclass
class Scenario:
    url: str
    experiment_url: str
    columns: dict[str, str]


def _problem(response: httpx.Response, server: Server, what: str) -> BenchmarkFailed:
    return BenchmarkFailed(
        f"{what}: HTTP {response.status_code}\nbody: {response.text[:2000]}\n"
        f"{server.name} log tail:\n{server.log_tail()}"
    )


def _scenario(
    client: httpx.Client, gateway: Server, csv: Path, features: list[str], cores: int
) -> Scenario:
    """A classification scenario with the CSV uploaded (its profile done) and an experiment
    training `lightgbm` with default parameters on every feature."""
    name = f"bench-training-{uuid.uuid4().hex[:8]}"
    response = client.post(
        f"{gateway.url}/api/scenarios", json={"name": name, "task_type": "classification"}
    )
    if response.status_code != 201:
        raise _problem(response, gateway, "creating the scenario failed")
    url = f"{gateway.url}/api/scenarios/{response.json()['id']}"
    with csv.open("rb") as stream:
        response = client.post(
            f"{url}/data",
            files={"file": (csv.name, stream, "text/csv")},
            data={"path": csv.name, "target": TARGET},
        )
    if response.status_code not in (200, 201):
        raise _problem(response, gateway, "uploading the CSV failed")
    version = response.json()
    status, deadline = version["profile_status"], time.monotonic() + 600
    while status == "pending" and time.monotonic() < deadline:
        time.sleep(0.25)
        answer = client.get(
            f"{url}/data/{version['path']}/profile", params={"version": version["version"]}
        )
        if answer.status_code != 200:
            raise _problem(answer, gateway, "reading the profile failed")
        status = answer.json()["status"]
    response = client.post(
        f"{url}/experiments",
        json={
            "name": "lightgbm",
            "dataset_id": version["id"],
            "target": TARGET,
            "features": features,
            "model": {"algorithm": "lightgbm", "parameters": {}},
            "resources": {"cpu_cores": cores},
        },
    )
    if response.status_code != 201:
        raise _problem(response, gateway, "creating the experiment failed")
    return Scenario(
        url=url,
        experiment_url=f"{url}/experiments/{response.json()['id']}",
        columns={column["name"]: column["type"] for column in version["columns"]},
    )


async def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    """A consumer of ModelTrained without a group, positioned at the end of every partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="mloop-bench",
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_WAIT_MS,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(MODEL_TRAINED) or set()
        if not partitions:
            raise BenchmarkFailed(f"the broker has no topic {MODEL_TRAINED}")
        assigned = [TopicPartition(MODEL_TRAINED, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        for partition in assigned:
            await consumer.position(partition)
    except BaseException:
        await consumer.stop()
        raise
    return consumer


async def _command_to_event(
    bootstrap: str, headers: dict[str, str], scenario: Scenario, server: Server, timeout: float
) -> tuple[str, float, float, float, float]:
    """Request a run; (run id, wall clock just before the request, seconds until its answer,
    wall clock when ModelTrained was read, wall clock the record carries)."""
    consumer = await _consumer(bootstrap)
    try:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, headers=headers) as client:
            began, started = time.time(), time.perf_counter()
            response = await client.post(f"{scenario.experiment_url}/runs")
            request = time.perf_counter() - started
            if response.status_code != 202:
                raise _problem(response, server, "requesting the run failed")
            run_id = response.json()["id"]
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=int(STATUS_EVERY * 1000))
                read = time.time()
                for records in batch.values():
                    for record in records:
                        if json.loads(record.value).get("run_id") == run_id:
                            return run_id, began, request, read, record.timestamp / 1000
                if not batch:
                    run = (await client.get(f"{scenario.url}/runs/{run_id}")).json()
                    if run.get("status") == "failed":
                        raise BenchmarkFailed(
                            f"run {run_id} failed: {run.get('error')}\n"
                            f"trainer log tail:\n{server.log_tail()}"
                        )
        raise BenchmarkFailed(f"no ModelTrained for run {run_id} after {timeout:.0f} s")
    finally:
        await consumer.stop()


def _instant(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _child_marks(lines: list[dict[str, Any]], started: float) -> dict[str, float | None]:
    """From the run's log lines: the fit time it reports, and when the read and the store were
    logged (lines reach Postgres every 0.5 s, so those two are that coarse)."""
    marks: dict[str, float | None] = {"fit_logged": None, "read_by": None, "stored_by": None}
    for line in lines:
        text, at = line["line"], _instant(line["at"]) - started
        if text.startswith("read ") and marks["read_by"] is None:
            marks["read_by"] = round(at, 2)
        elif text.startswith("stored the model"):
            marks["stored_by"] = round(at, 2)
        elif found := FIT_LINE.match(text):
            marks["fit_logged"] = float(found.group(1))
    return marks


def _platform(
    client: httpx.Client,
    stack: BenchStack,
    scenario: Scenario,
    trainer: Server,
    timeout: float,
) -> PlatformAttempt:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    run_id, began, request, read, produced = asyncio.run(
        _command_to_event(stack.env["MLOOP_KAFKA_BOOTSTRAP"], headers, scenario, trainer, timeout)
    )
    run = client.get(f"{scenario.url}/runs/{run_id}").json()
    lines = client.get(f"{scenario.url}/runs/{run_id}/logs", params={"limit": 5000}).json()
    started, finished = _instant(run["started_at"]), _instant(run["finished_at"])
    usage = run["resources"]
    wall = usage["wall_seconds"]
    return PlatformAttempt(
        run_id=run_id,
        total=round(read - began, 3),
        produced=round(produced - began, 3),
        request=round(request, 3),
        wall_seconds=wall,
        cpu_seconds=usage["cpu_seconds"],
        peak_memory_mb=usage["peak_memory_mb"],
        metrics=run["metrics"],
        segments={
            "to_start": round(started - began, 3),
            "child": round(wall, 3),
            "around_child": round(finished - started - wall, 3),
            "to_event": round(read - finished, 3),
        },
        child=_child_marks(lines["items"], started),
    )


def _settle(servers: list[Server], timeout: float) -> float:
    """Wait until the machine is idle: the trainer's next run process has finished its imports,
    nothing left over from the last try still works, and no other job keeps the CPUs busy.
    Returns the seconds waited; carries on (the try will say it was disturbed) after `timeout`."""
    started = time.monotonic()
    before = machine_busy()
    while time.monotonic() - started < timeout:
        for server in servers:
            server.check_alive()
        time.sleep(QUIET_WINDOW)
        now = machine_busy()
        if now - before < QUIET_CPU * QUIET_WINDOW and _has_run_process(servers[-1]):
            break
        before = now
    return time.monotonic() - started


def _has_run_process(trainer: Server) -> bool:
    with contextlib.suppress(psutil.Error):
        return bool(psutil.Process(trainer.pid).children())
    return False


def _measure(
    what: str,
    measure: Callable[[], Attempt],
    servers: list[Server],
    console: Console,
    settle_timeout: float,
) -> Attempt:
    """One try on an idle machine; done again (up to RETRIES times) when other processes took
    CPU meanwhile. The attempt records the CPU they took and how many tries it needed."""
    for tries in range(1, RETRIES + 2):
        _settle(servers, settle_timeout)
        with CpuWatch() as watch:
            attempt = measure()
        attempt.foreign_cpu, attempt.tries = round(watch.foreign, 2), tries
        if not watch.disturbed:
            break
        console.print(
            f"[yellow]{what}: other processes used {watch.foreign:.1f} CPU s during the "
            f"{watch.seconds:.1f} s try[/]" + ("; trying again" if tries <= RETRIES else "")
        )
    return attempt


# --- report ---------------------------------------------------------------------------------


def _verdict(passed: bool) -> str:
    return "[green]PASS[/]" if passed else "[red]MISS[/]"


def _each(values: list[float | None], digits: int = 2) -> str:
    return ", ".join("-" if v is None else f"{v:.{digits}f}" for v in values)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _metric_gap(bare: dict[str, float], platform: dict[str, float]) -> float:
    """Largest absolute difference over the metrics; infinite when the names differ."""
    if set(bare) != set(platform):
        return float("inf")
    return max((abs(bare[name] - platform[name]) for name in bare), default=0.0)


def _report(
    console: Console,
    title: str,
    bare: list[BareAttempt],
    platform: list[PlatformAttempt],
    type_mismatch: dict[str, tuple[str, str]],
) -> dict[str, object]:
    bare_best = min(a.total for a in bare)
    bare_median = statistics.median(a.total for a in bare)
    best = min(a.total for a in platform)
    median = statistics.median(a.total for a in platform)
    overhead = best - bare_best
    allowed = max(TARGET_OVERHEAD_SECONDS, TARGET_OVERHEAD_SHARE * bare_best)
    gap = max(_metric_gap(bare[0].metrics, a.metrics) for a in [*bare, *platform])
    passed = {"overhead": overhead <= allowed, "same_metrics": gap <= METRIC_TOLERANCE}

    table = Table(title=title)
    for name, justify in (("figure", "left"), ("bare", "right"), ("platform", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    table.add_row(
        "seconds, each try",
        _each([a.total for a in bare]),
        _each([a.total for a in platform]),
    )
    table.add_row(
        "best / median seconds",
        f"{bare_best:.2f} / {bare_median:.2f}",
        f"{best:.2f} / {median:.2f}",
    )
    table.add_row(
        "overhead s (best - best)",
        "",
        f"{overhead:.2f} ({overhead / bare_best:.0%})",
        f"<= {allowed:.2f}",
        _verdict(passed["overhead"]),
    )
    table.add_row("overhead s (median - median)", "", f"{median - bare_median:.2f}")
    table.add_row(
        "largest metric difference",
        "",
        f"{gap:.1e}",
        f"<= {METRIC_TOLERANCE:.0e}",
        _verdict(passed["same_metrics"]),
    )
    table.add_row("run wall s (child), each", "", _each([a.wall_seconds for a in platform]))
    table.add_row("run CPU s, each", "", _each([a.cpu_seconds for a in platform], 1))
    table.add_row(
        "peak memory MB, each",
        _each([a.peak_rss_mb for a in bare], 0),
        _each([a.peak_memory_mb for a in platform], 0),
    )
    table.add_row(
        "CPU s other processes took, each",
        _each([a.foreign_cpu for a in bare], 1),
        _each([a.foreign_cpu for a in platform], 1),
    )
    table.add_row(
        "tries needed, each",
        _each([a.tries for a in bare], 0),
        _each([a.tries for a in platform], 0),
    )
    console.print(table)
    breakdown = _breakdown(console, bare, platform)
    for name, (platform_type, bare_type) in type_mismatch.items():
        console.print(
            f"[yellow]warning[/]: column {name!r} is {platform_type} for the platform and "
            f"{bare_type} for the bare script"
        )
    return {
        "targets": {
            "overhead_seconds_at_most": f"max({TARGET_OVERHEAD_SECONDS}, "
            f"{TARGET_OVERHEAD_SHARE} * bare best)",
            "metric_difference_at_most": METRIC_TOLERANCE,
        },
        "bare": {
            "best": bare_best,
            "median": bare_median,
            "attempts": [asdict(a) for a in bare],
        },
        "platform": {"best": best, "median": median, "attempts": [asdict(a) for a in platform]},
        "overhead_seconds": round(overhead, 3),
        "overhead_share": round(overhead / bare_best, 4),
        "overhead_allowed_seconds": round(allowed, 3),
        "largest_metric_difference": gap,
        "column_type_mismatches": {k: list(v) for k, v in type_mismatch.items()},
        "breakdown_median_seconds": breakdown,
        "pass": passed,
    }


_SEGMENTS = (
    ("to_start", "command -> run started (gateway, outbox, broker, trainer queue and claim)"),
    ("child", "run process: job handed over -> process gone (the run's wall seconds)"),
    ("around_child", "lease, log writes, recording the model (started/finished minus child)"),
    ("to_event", "model recorded -> ModelTrained read (commit, outbox relay, broker)"),
)
_STEPS = (
    ("read_frame", "read the CSV (read_frame; bare: pandas.read_csv)", "read"),
    ("prepare_and_split", "check the data, split", "split"),
    ("fit", "fit", "fit"),
    ("evaluate", "evaluate the holdout", "score"),
    ("describe", "signature, reference profile, importances, sample", None),
    ("dump", "joblib.dump", None),
    ("store_write", "artifact write (local folder, fsync)", None),
)


def _breakdown(
    console: Console, bare: list[BareAttempt], platform: list[PlatformAttempt]
) -> dict[str, object]:
    """Where the platform's time goes: its segments per try, and the run process's own steps
    as the bare script measured them in-process (median of its tries)."""
    table = Table(title="Where the platform's time goes (seconds)")
    table.add_column("segment")
    table.add_column("each try", justify="right")
    table.add_column("median", justify="right")
    table.add_column("bare, median", justify="right")
    figures: dict[str, object] = {}
    for key, label in _SEGMENTS:
        values = [a.segments[key] for a in platform]
        figures[key] = _median(values)
        table.add_row(label, _each(values), f"{_median(values):.2f}")
        if key == "to_start":
            request = [a.request for a in platform]
            table.add_row(
                "  of which the POST, until answered", _each(request), f"{_median(request):.2f}"
            )
        if key != "child":
            continue
        steps_total = 0.0
        for step, step_label, bare_key in _STEPS:
            value = _median([a.platform_steps[step] for a in bare])
            steps_total += value or 0.0
            figures[f"child.{step}"] = value
            floor = _median([a.seconds[bare_key] for a in bare]) if bare_key else None
            table.add_row(
                f"  {step_label} (in-process)",
                "",
                f"{value:.2f}",
                "" if floor is None else f"{floor:.2f}",
            )
        rest = [a.segments["child"] - steps_total for a in platform]
        figures["child.rest"] = _median(rest)
        table.add_row(
            "  rest: hand-over, progress/log lines, exit, CPU taken by the next run process",
            _each(rest),
            f"{_median(rest):.2f}",
        )
        fit = [a.child.get("fit_logged") for a in platform]
        table.add_row("  fit as the run logged it", _each(fit), f"{_median(fit) or 0:.2f}")
    produced = [a.produced for a in platform]
    table.add_row(
        "command -> ModelTrained's record timestamp", _each(produced), f"{_median(produced):.2f}"
    )
    read_by = [a.child.get("read_by") for a in platform]
    stored_by = [a.child.get("stored_by") for a in platform]
    table.add_row("run started -> 'read' logged (0.5 s steps)", _each(read_by), "")
    table.add_row("run started -> 'stored' logged (0.5 s steps)", _each(stored_by), "")
    console.print(table)
    return figures


# --- the command ----------------------------------------------------------------------------


def run(
    rows: Annotated[int, typer.Option(min=100, help="Rows of the generated CSV.")] = 100_000,
    columns: Annotated[int, typer.Option(min=4, help="Feature columns (and a label).")] = 20,
    repeat: Annotated[int, typer.Option(min=1, help="Tries of each; best and median kept.")] = 3,
    cores: Annotated[int, typer.Option(min=1, help="CPU cores of the run (and the floor).")] = 2,
    s3: S3 = False,
    keep_data: KeepData = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    run_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for one run's ModelTrained.")
    ] = 600.0,
    settle_timeout: Annotated[
        float,
        typer.Option(min=0, help="Seconds to wait, before each try, for an idle machine."),
    ] = 600.0,
) -> None:
    """Train LightGBM on a generated CSV through the platform and with a bare script."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    store = "s3 (moto)" if s3 else "local folder"
    with (
        training_csv(rows, columns, data_dir=data_dir.expanduser(), keep_data=keep_data) as csv,
        BenchStack(s3=s3) as stack,
    ):
        console.print(f"CSV: {csv} ({csv.stat().st_size / 2**20:.1f} MB)")
        gateway = stack.start_gateway()
        trainer = stack.start_trainer(concurrency=1)
        headers = {"Authorization": f"Bearer {stack.admin_key}"}
        features = [name for name in pd.read_csv(csv, nrows=0).columns if name != TARGET]
        servers = [gateway, trainer]
        with httpx.Client(timeout=REQUEST_TIMEOUT, headers=headers) as client:
            scenario = _scenario(client, gateway, csv, features, cores)

            def through_platform() -> PlatformAttempt:
                return _platform(client, stack, scenario, trainer, run_timeout)

            warm = _measure("warm-up", through_platform, servers, console, settle_timeout)
            console.print(f"warm-up run: {warm.total:.2f} s to ModelTrained")
            bare: list[BareAttempt] = []
            platform: list[PlatformAttempt] = []
            for round_ in range(1, repeat + 1):
                bare.append(
                    _measure(
                        f"round {round_}, bare",
                        lambda: _bare(csv, cores),
                        servers,
                        console,
                        settle_timeout,
                    )
                )
                platform.append(
                    _measure(
                        f"round {round_}, platform",
                        through_platform,
                        servers,
                        console,
                        settle_timeout,
                    )
                )
                console.print(
                    f"round {round_}: bare {bare[-1].total:.2f} s, "
                    f"platform {platform[-1].total:.2f} s"
                )
        mismatch = {
            name: (scenario.columns.get(name, "?"), kind)
            for name, kind in bare[0].columns.items()
            if scenario.columns.get(name) != kind
        }
        title = (
            f"LightGBM on {rows:,} rows x {columns} columns, {cores} cores "
            f"(store: {store}): command -> ModelTrained vs bare fit and score"
        )
        results = _report(console, title, bare, platform, mismatch)
        results |= {
            "rows": rows,
            "columns": columns,
            "cores": cores,
            "store": store,
            "warm_up": asdict(warm),
        }
        path = write_results("training-s3" if s3 else "training", results)
        console.print(f"figures written to {path}")
