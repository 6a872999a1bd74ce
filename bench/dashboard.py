"""Dashboard benchmark: every page of the dashboard on a big database, against the 1 s target.

One stack (broker, embedded Postgres, a gateway, a trainer for the template's one run). The
database is grown to `--scenarios` scenarios, `--runs` runs and `--predictions` logged
predictions by `bench.dashboard_seed` (one real scenario made through the API, the rest cloned
and generated in bulk SQL; the template scenario holds `--heavy-share` of the runs and
predictions and a week of monitoring windows, and the per-scenario pages are timed on it). The
trainer is stopped before timing, so only the gateway and Postgres are busy.

Then the benchmark signs in like a browser (POST /login with the admin key; the session cookie
rides on every request) and, for each page of `PAGES`, times the page shell (the HTML from the
page route) and each API call its script makes on load (a scenario page's frame adds the
scenario picker's two), one after the other with httpx: a page's load is the shell plus its
data calls. Each page is loaded once to warm up, then
`--repeats` times; the median and the worst load are printed against the 1 s target with the
slowest call of each page. Figures go to `bench/results/dashboard.json`; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from mloop_common.localstack.parts import stop_process
from rich.console import Console
from rich.table import Table

from bench import BenchmarkFailed
from bench.dashboard_seed import Template, seed, template
from bench.results import write_results
from bench.stack import BenchStack

TARGET_SECONDS = 1.0
TIMEOUT = httpx.Timeout(120.0, connect=10.0)


@dataclass(frozen=True)
class Page:
    """A dashboard page: its path and the API calls its script makes when it loads (paths
    with `{sid}` the heavy scenario, `{eid}` its experiment, `{rid}` / `{rid2}` two of its
    runs, `{mid}` its champion, `{since}` a day ago, `{since_week}` a week ago)."""

    name: str
    path: str
    calls: tuple[str, ...]


# What each page's script fetches on load (read from web/static/pages/*.js). `{path}` is the
# template's data path, `{did}` its dataset version; `{model_experiments}` the distinct
# experiments of the 50 newest models (the models page names them with one call).
PAGES: tuple[Page, ...] = (
    # web-core
    Page("home", "/", ("/api/overview",)),
    Page("scenarios", "/scenarios", ("/api/scenarios?limit=50",)),
    Page(
        "scenario",
        "/scenarios/{sid}",
        (
            "/api/scenarios/{sid}",
            "/api/scenarios/{sid}/deployments",
            "/api/scenarios/{sid}/data",
            "/api/scenarios/{sid}/experiments?limit=5",
        ),
    ),
    Page(
        "data",
        "/scenarios/{sid}/data",
        (
            "/api/scenarios/{sid}/data",
            "/api/scenarios/{sid}/data/{path}/versions",
            "/api/scenarios/{sid}/data/{path}/preview?rows=50",
            "/api/scenarios/{sid}/data/{path}/profile",
        ),
    ),
    Page(
        "feature sets",
        "/scenarios/{sid}/feature-sets",
        (
            "/api/scenarios/{sid}/data",
            "/api/scenarios/{sid}/data/{path}/versions",
            "/api/scenarios/{sid}/datasets/{did}/columns",
            "/api/scenarios/{sid}",
            "/api/scenarios/{sid}/feature-sets?limit=200",
        ),
    ),
    # web-training
    Page(
        "configs",
        "/scenarios/{sid}/configs",
        (
            "/api/scenarios/{sid}/model-configs",
            "/api/resource-profiles",
            "/api/scenarios/{sid}",
            "/api/algorithms",
        ),
    ),
    Page(
        "experiments",
        "/scenarios/{sid}/experiments",
        (
            "/api/scenarios/{sid}/experiments?limit=50",
            "/api/scenarios/{sid}/runs?limit=50",
            "/api/scenarios/{sid}/feature-sets",
            "/api/scenarios/{sid}/model-configs",
            "/api/resource-profiles",
        ),
    ),
    Page(
        "experiment",
        "/scenarios/{sid}/experiments/{eid}",
        (
            "/api/scenarios/{sid}/experiments/{eid}",
            "/api/scenarios/{sid}/experiments/{eid}/runs?limit=50",
        ),
    ),
    Page(
        "run",
        "/scenarios/{sid}/runs/{rid}",
        (
            "/api/scenarios/{sid}/runs/{rid}",
            "/api/scenarios/{sid}/runs/{rid}/logs?limit=5000",
            "/api/scenarios/{sid}/experiments/{eid}",
        ),
    ),
    Page(
        "compare",
        "/scenarios/{sid}/compare?runs={rid},{rid2}",
        (
            "/api/scenarios/{sid}/runs/{rid}",
            "/api/scenarios/{sid}/runs/{rid2}",
            "/api/scenarios/{sid}/experiments/{eid}",
        ),
    ),
    Page(
        "models",
        "/scenarios/{sid}/models",
        (
            "/api/scenarios/{sid}/deployments?history_limit=50",
            "/api/scenarios/{sid}/models?limit=50",
            "/api/scenarios/{sid}/experiments/compare?ids={model_experiments}",
            "/api/scenarios/{sid}/ab-tests?limit=10",
            "/api/scenarios/{sid}/deployments/decisions?limit=20",
        ),
    ),
    # web-monitoring
    Page(
        "monitoring",
        "/scenarios/{sid}/monitoring",
        (
            "/api/scenarios/{sid}/monitoring?since={since}&bucket=15m",
            "/api/scenarios/{sid}/monitoring/drift",
        ),
    ),
    Page(
        "monitoring (7 days)",
        "/scenarios/{sid}/monitoring?range=7d",
        (
            "/api/scenarios/{sid}/monitoring?since={since_week}&bucket=1h",
            "/api/scenarios/{sid}/monitoring/drift",
        ),
    ),
    Page(
        "triggers",
        "/scenarios/{sid}/triggers",
        ("/api/scenarios/{sid}/triggers", "/api/scenarios/{sid}/triggers/{tid}/firings?limit=20"),
    ),
    Page(
        "workflows",
        "/scenarios/{sid}/workflows",
        (
            "/api/scenarios/{sid}/workflows/train",
            "/api/scenarios/{sid}/workflows/train/runs?limit=20",
            "/api/scenarios/{sid}/workflow-runs/{wrid}",
        ),
    ),
)


# What every scenario page's frame fetches besides (mloop.js: the scenario picker).
FRAME_CALLS = ("/api/scenarios/{sid}", "/api/scenarios?limit=200")


def calls_of(page: Page) -> tuple[str, ...]:
    """The page's own calls, then the frame's on a scenario page."""
    return page.calls + (FRAME_CALLS if "{sid}" in page.path else ())


@dataclass
class Timing:
    page: str
    shell: list[float]
    calls: dict[str, list[float]]
    loads: list[float]
    errors: list[str]
    count: int = 0  # API calls a load makes


def sign_in(client: httpx.Client, key: str) -> None:
    """POST the key to /login as the form does; the session cookie stays in `client`."""
    form = client.get("/login")
    if form.status_code != 200:
        raise BenchmarkFailed(f"GET /login answered {form.status_code}")
    answer = client.post("/login", data={"key": key, "next": "/"}, follow_redirects=False)
    if answer.status_code not in (302, 303) or "mloop_session" not in client.cookies:
        raise BenchmarkFailed(f"sign-in failed: HTTP {answer.status_code} {answer.text[:300]}")


def _ids(client: httpx.Client, made: Template, key: str) -> dict[str, Any]:
    """The placeholders' values, read through the API."""
    sid = made.scenario_id
    headers = {"Authorization": f"Bearer {key}"}

    def get(path: str, **params: Any) -> Any:
        answer = client.get(path, params=params, headers=headers)
        if answer.status_code != 200:
            raise BenchmarkFailed(f"GET {path}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.json()

    runs = get(f"/api/scenarios/{sid}/runs", limit=2)["items"]
    models = get(f"/api/scenarios/{sid}/models", limit=50)["items"]
    experiments = list(dict.fromkeys(m["experiment_id"] for m in models if m["experiment_id"]))
    triggers = get(f"/api/scenarios/{sid}/triggers")["items"]
    workflow_runs = get(f"/api/scenarios/{sid}/workflows/train/runs", limit=1)["items"]
    now = time.time()
    return {
        "sid": sid,
        "eid": made.experiment_id,
        "rid": made.run_id,
        "rid2": runs[0]["id"] if runs else made.run_id,
        "mid": made.model_id,
        "did": made.dataset_id,
        "path": "data.csv",
        "model_experiments": ",".join(experiments),
        "tid": triggers[0]["id"] if triggers else "",
        "wrid": workflow_runs[0]["id"] if workflow_runs else "",
        "since": _iso(now - 86400),
        "since_week": _iso(now - 7 * 86400),
    }


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _timed(client: httpx.Client, path: str, *, page: bool) -> tuple[float, str | None]:
    started = time.perf_counter()
    try:
        answer = client.get(path, follow_redirects=False)
    except httpx.HTTPError as failure:
        return time.perf_counter() - started, f"{path}: {failure!r}"
    seconds = time.perf_counter() - started
    error = None
    if answer.status_code != 200:
        error = f"{path}: HTTP {answer.status_code}"
    elif page and "text/html" not in answer.headers.get("content-type", ""):
        error = f"{path}: not HTML"
    return seconds, error


def time_page(client: httpx.Client, page: Page, ids: dict[str, Any], repeats: int) -> Timing:
    path = page.path.format(**ids)
    templates = list(calls_of(page))
    calls = [call.format(**ids) for call in templates]
    timing = Timing(page.name, [], {call: [] for call in templates}, [], [])
    for round_ in range(repeats + 1):
        shell, error = _timed(client, path, page=True)
        errors = [error] if error else []
        total = shell
        spent: list[float] = []
        for call in calls:
            seconds, error = _timed(client, call, page=False)
            total += seconds
            spent.append(seconds)
            if error:
                errors.append(error)
        if round_ == 0:  # warm-up
            timing.errors = errors
            continue
        timing.shell.append(shell)
        per_template = dict.fromkeys(timing.calls, 0.0)  # a repeated call: its sum
        for template_, seconds in zip(templates, spent, strict=True):
            per_template[template_] += seconds
        for template_, seconds in per_template.items():
            timing.calls[template_].append(seconds)
        timing.loads.append(total)
    timing.count = len(calls)
    return timing


def run(
    scenarios: Annotated[int, typer.Option(min=2, help="Scenarios in the database.")] = 200,
    runs: Annotated[int, typer.Option(min=10, help="Training runs in the database.")] = 10_000,
    predictions: Annotated[
        int, typer.Option(min=1000, help="Logged predictions in the database.")
    ] = 1_000_000,
    labelled_share: Annotated[
        float, typer.Option(min=0, max=1, help="Share of the predictions with feedback.")
    ] = 0.2,
    heavy_share: Annotated[
        float,
        typer.Option(min=0, max=1, help="Share of runs and predictions in the timed scenario."),
    ] = 0.1,
    repeats: Annotated[int, typer.Option(min=1, help="Timed loads of each page.")] = 5,
) -> None:
    """Seed a big database, then time every dashboard page (shell + its API calls)."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    with BenchStack() as stack:
        gateway = stack.start_gateway()
        trainer = stack.start_trainer(concurrency=1)
        admin = {"Authorization": f"Bearer {stack.admin_key}"}
        with httpx.Client(base_url=gateway.url, timeout=TIMEOUT, headers=admin) as api:

            def alive() -> None:
                gateway.check_alive()
                trainer.check_alive()

            made = template(api, check=alive)
        stop_process(trainer.process)
        console.print(f"template scenario {made.scenario_id} made; seeding")
        started = time.perf_counter()
        counts = asyncio.run(
            seed(
                stack.env["MLOOP_DATABASE_URL"],
                made,
                scenarios=scenarios,
                runs=runs,
                predictions=predictions,
                labelled_share=labelled_share,
                heavy_share=heavy_share,
                log=lambda line: console.print(f"  {line}"),
            )
        )
        seeding = time.perf_counter() - started
        console.print(
            f"seeded in {seeding:.0f} s: "
            + ", ".join(f"{count:,} {table}" for table, count in counts.items())
        )
        with httpx.Client(base_url=gateway.url, timeout=TIMEOUT) as client:
            ids = _ids(client, made, stack.admin_key)
            sign_in(client, stack.admin_key)
            timings = []
            for page in PAGES:
                timings.append(time_page(client, page, ids, repeats))
                gateway.check_alive()
                if any("Error" in error for error in timings[-1].errors):
                    console.print(f"{page.name}: {timings[-1].errors}\n{gateway.log_tail(80)}")
    _report(console, timings, counts, seeding, repeats)


def _report(
    console: Console,
    timings: list[Timing],
    counts: dict[str, int],
    seeding: float,
    repeats: int,
) -> None:
    table = Table(title=f"Dashboard pages (median of {repeats} loads; target < {TARGET_SECONDS} s)")
    for column in ("page", "load", "worst", "shell", "calls", "slowest call", "verdict"):
        table.add_column(column)
    figures = []
    for timing in timings:
        if not timing.loads:
            continue
        load = statistics.median(timing.loads)
        medians = {call: statistics.median(values) for call, values in timing.calls.items()}
        slowest = max(medians.items(), key=lambda item: item[1], default=("", 0.0))
        verdict = (
            "[red]" + "; ".join(timing.errors) + "[/]"
            if timing.errors
            else ("ok" if load < TARGET_SECONDS else "[red]SLOW[/]")
        )
        table.add_row(
            timing.page,
            f"{load * 1000:.0f} ms",
            f"{max(timing.loads) * 1000:.0f} ms",
            f"{statistics.median(timing.shell) * 1000:.0f} ms",
            str(timing.count),
            f"{slowest[1] * 1000:.0f} ms {slowest[0]}" if slowest[0] else "",
            verdict,
        )
        figures.append(
            {
                "page": timing.page,
                "load_s": load,
                "worst_s": max(timing.loads),
                "shell_s": statistics.median(timing.shell),
                "calls": timing.count,
                "calls_s": medians,
                "errors": timing.errors,
                "under_target": load < TARGET_SECONDS and not timing.errors,
            }
        )
    console.print(table)
    path = write_results(
        "dashboard",
        {
            "rows": counts,
            "seed_seconds": seeding,
            "repeats": repeats,
            "target_s": TARGET_SECONDS,
            "pages": figures,
        },
    )
    console.print(f"results: {path}")
