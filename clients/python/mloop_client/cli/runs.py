"""`mloop run ...`: a training run's state, its logs, and a live view while it trains."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from mloop_client.cli import render
from mloop_client.cli.session import Session, session

app = typer.Typer(
    help="Show a training run, print its logs or watch it live.", no_args_is_help=True
)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]
RunId = Annotated[str, typer.Argument(help="The run's id.")]

RUN_FIELDS = [
    ("Run id", "id"),
    ("Experiment", "experiment_id"),
    ("Status", "status"),
    ("Progress", "progress"),
    ("Message", "message"),
    ("Algorithm", "algorithm"),
    ("Trigger", "trigger"),
    ("Attempts", "attempts"),
    ("Model", "model_id"),
    ("Error", "error"),
    ("Created", "created_at"),
    ("Started", "started_at"),
    ("Finished", "finished_at"),
]
RESOURCES = [
    ("Peak memory (MB)", "peak_memory_mb"),
    ("CPU time (s)", "cpu_seconds"),
    ("Wall time (s)", "wall_seconds"),
]


def number(value: Any) -> Any:
    """A metric for people: floats to 4 significant digits, anything else as it is."""
    return f"{value:.4g}" if isinstance(value, float) else value


def metrics_table(title: str, metrics: dict[str, Any]) -> Any:
    rows = ([name, number(value)] for name, value in metrics.items())
    return render.listing(title, ["Metric", "Value"], rows)


@app.command("show")
def show(ctx: typer.Context, scenario_id: ScenarioId, run_id: RunId) -> None:
    """Show a run: its state, metrics and resource use."""
    s = session(ctx)
    run = s.client.get_run(scenario_id, run_id)
    s.emit(run, lambda: s.out.print(run_view(run)))


def run_view(run: dict[str, Any]) -> Group:
    shown = {**run, "progress": f"{100 * (run.get('progress') or 0):.0f}%"}
    parts: list[Any] = [render.details(f"Run {run.get('id')}", shown, RUN_FIELDS)]
    if run.get("metrics"):
        parts.append(metrics_table("Metrics", run["metrics"]))
    resources = run.get("resources") or {}
    if resources:
        rows = ([label, number(resources.get(key))] for label, key in RESOURCES)
        parts.append(render.listing("Resources", ["Resource", "Used"], rows))
    return Group(*parts)


@app.command("logs")
def logs(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    run_id: RunId,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing new lines until the run ends."),
    ] = False,
) -> None:
    """Print a run's log lines; with --follow, until the run ends (exit 1 if it failed).

    `--json` prints `{"items", "next_cursor"}`, or with --follow one `{"event", "data"}` per line.
    """
    s = session(ctx)
    if follow:
        raise typer.Exit(_follow_logs(s, scenario_id, run_id))
    lines = list(s.client.iter_run_logs(scenario_id, run_id))
    page = {"items": lines, "next_cursor": str(lines[-1]["id"]) if lines else None}
    s.emit(page, lambda: s.out.print(Group(*map(log_line, lines))))


def _follow_logs(s: Session, scenario_id: str, run_id: str) -> int:
    events = s.client.follow_run(scenario_id, run_id)
    if s.json:
        return finish(s, _print_events(events))
    run: dict[str, Any] = {}
    for event, data in events:
        if event == "log":
            s.out.print(log_line(data))
        elif event == "end":
            run = data
    return finish(s, run)


@app.command("watch")
def watch(ctx: typer.Context, scenario_id: ScenarioId, run_id: RunId) -> None:
    """Watch a run live: a progress bar with its log lines above. Exits 1 if the run fails."""
    raise typer.Exit(watch_run(session(ctx), scenario_id, run_id))


def watch_run(s: Session, scenario_id: str, run_id: str) -> int:
    """Follow a run to its end (a bar for people, JSON events with --json): 0 if it completed."""
    events = s.client.follow_run(scenario_id, run_id)
    if s.json:
        return finish(s, _print_events(events))
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=s.out,
    )
    run: dict[str, Any] = {}
    with progress:
        task = progress.add_task(f"Run {run_id}", total=1.0)
        for event, data in events:
            if event == "log":
                progress.console.print(log_line(data))
            elif event in ("progress", "end"):
                done = 1.0 if data.get("status") == "completed" else data.get("progress") or 0
                progress.update(task, completed=done, description=_label(run_id, data))
                run = data
    return finish(s, run)


def finish(s: Session, run: dict[str, Any]) -> int:
    """Report how a finished run ended; answers the exit code (0 completed, 1 otherwise)."""
    if run.get("status") == "completed":
        if not s.json:
            s.say(f"Run {run.get('id')} completed; model {run.get('model_id')}.")
            if run.get("metrics"):
                s.out.print(metrics_table("Metrics", run["metrics"]))
        return 0
    reason = run.get("error") or run.get("message") or "no error given"
    s.err.print(Text(f"Run {run.get('id')} {run.get('status')}: {reason}", style="bold red"))
    return 1


def log_line(item: dict[str, Any]) -> Text:
    return Text.assemble((render.when(item.get("at")), "dim"), " ", str(item.get("line", "")))


def _label(run_id: str, state: dict[str, Any]) -> str:
    message = state.get("message")
    return f"Run {run_id} {state.get('status')}" + (f": {message}" if message else "")


def _print_events(events: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """`--json` streaming: one `{"event", "data"}` object per line; answers the final Run."""
    run: dict[str, Any] = {}
    for event, data in events:
        typer.echo(json.dumps({"event": event, "data": data}, ensure_ascii=False))
        if event == "end":
            run = data
    return run
