"""`mloop workflow put|show|versions|run|runs|run-show`: a scenario's workflows and their runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from mloop_client.cli import render
from mloop_client.cli.session import Session, session
from mloop_client.errors import MLoopError

app = typer.Typer(
    help="Define a scenario's train and predict workflows in YAML, run them, follow the runs.",
    no_args_is_help=True,
)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]
Kind = Annotated[str, typer.Argument(help="train or predict.")]
KindOption = Annotated[str, typer.Option("--kind", help="train or predict.")]

WORKFLOW_FIELDS = [
    ("Workflow id", "id"),
    ("Kind", "kind"),
    ("Version", "version"),
    ("Created", "created_at"),
]
RUN_FIELDS = [
    ("Run id", "id"),
    ("Workflow", "workflow_id"),
    ("Status", "status"),
    ("Trigger", "trigger"),
    ("Reason", "reason"),
    ("Started", "started_at"),
    ("Finished", "finished_at"),
]


def _check_kind(kind: str) -> str:
    if kind not in ("train", "predict"):
        raise typer.BadParameter(f"train or predict, not {kind!r}")
    return kind


@app.command("put")
def put(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    kind: Kind,
    file: Annotated[
        Path, typer.Argument(help="The YAML file.", exists=True, dir_okay=False, readable=True)
    ],
) -> None:
    """Store FILE as the next version of the scenario's workflow; faults are listed as
    FILE:LINE:COLUMN: path: message."""
    s = session(ctx)
    try:
        stored = s.client.put_workflow(scenario_id, _check_kind(kind), file)
    except MLoopError as error:
        if error.status != 422 or not any("line" in item for item in error.errors):
            raise
        _report_faults(s, file, error)
        raise typer.Exit(1) from None
    s.emit(stored, lambda: s.out.print(workflow_view(stored, with_source=False)))


def _report_faults(s: Session, file: Path, error: MLoopError) -> None:
    s.err.print(Text(f"Error: {error.title} ({error.status})", style="bold red"))
    for item in error.errors:
        where = f"{file}:{item.get('line', '?')}:{item.get('column', '?')}"
        path = item.get("path") or "workflow"
        s.err.print(Text(f"{where}: {path}: {item.get('message', '')}"))


@app.command("show")
def show(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    kind: Kind = "train",
    version: Annotated[int | None, typer.Option(help="A version; default the newest.")] = None,
    source: Annotated[bool, typer.Option("--source", help="Print the YAML as sent.")] = False,
) -> None:
    """Show the scenario's workflow: its steps in running order (and, with --source, its YAML)."""
    s = session(ctx)
    found = s.client.workflow(scenario_id, _check_kind(kind), version=version)
    if source and not s.json:
        typer.echo(found["source"], nl=not found["source"].endswith("\n"))
        return
    s.emit(found, lambda: s.out.print(workflow_view(found, with_source=False)))


@app.command("versions")
def versions(ctx: typer.Context, scenario_id: ScenarioId, kind: Kind = "train") -> None:
    """List the versions of the scenario's workflow, newest first."""
    s = session(ctx)
    found = s.client.workflow_versions(scenario_id, _check_kind(kind))
    items = found["items"]
    s.emit(
        found,
        lambda: s.out.print(
            render.listing(
                f"{kind.capitalize()} workflow versions ({len(items)})",
                ["Version", "ID", "Steps", "Created"],
                (
                    [
                        item["version"],
                        item["id"],
                        ", ".join(step["name"] for step in item["steps"]),
                        render.when(item.get("created_at")),
                    ]
                    for item in items
                ),
            )
        ),
    )


def workflow_view(found: dict[str, Any], *, with_source: bool) -> Group:
    parts: list[Any] = [render.details("Workflow", found, WORKFLOW_FIELDS)]
    parts.append(
        render.listing(
            "Steps",
            ["Step", "Type", "Needs"],
            ([step["name"], step["type"], ", ".join(step["needs"])] for step in found["steps"]),
        )
    )
    if with_source:
        parts.append(Text(found.get("source", "")))
    return Group(*parts)


@app.command("run")
def run(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    kind: Kind = "train",
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run ends.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 3600,
) -> None:
    """Run the newest version of the scenario's workflow (with --wait: until it ends; exit 1
    when it failed)."""
    s = session(ctx)
    accepted = s.client.run_workflow(scenario_id, _check_kind(kind))
    if not wait:
        s.emit(
            accepted,
            lambda: s.say(
                f"Accepted: workflow run {accepted['id']}. "
                f"See `mloop workflow run-show {scenario_id} {accepted['id']}`."
            ),
        )
        return
    try:
        finished = s.client.wait_for_workflow_run(scenario_id, accepted["id"], timeout=timeout)
    except TimeoutError as error:
        s.note(str(error))
        raise typer.Exit(1) from None
    s.emit(finished, lambda: s.out.print(run_view(finished)))
    if finished["status"] != "succeeded":
        raise typer.Exit(1)


@app.command("runs")
def runs(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    kind: Kind = "train",
    status: Annotated[str | None, typer.Option(help="running, succeeded or failed.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs to list.")] = 20,
) -> None:
    """List the runs of the scenario's workflow, newest first."""
    s = session(ctx)
    found = s.client.list_workflow_runs(scenario_id, _check_kind(kind), status=status, limit=limit)
    items = found["items"]
    s.emit(
        found,
        lambda: s.out.print(
            render.listing(
                f"Workflow runs ({len(items)})",
                ["ID", "Status", "Trigger", "Started", "Finished"],
                (
                    [
                        item["id"],
                        item["status"],
                        item.get("trigger"),
                        render.when(item.get("started_at")),
                        render.when(item.get("finished_at")),
                    ]
                    for item in items
                ),
            )
        ),
    )


@app.command("run-show")
def run_show(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    run_id: Annotated[str, typer.Argument(help="The workflow run's id.")],
) -> None:
    """Show a workflow run and the state of each step."""
    s = session(ctx)
    found = s.client.workflow_run(scenario_id, run_id)
    s.emit(found, lambda: s.out.print(run_view(found)))


def run_view(found: dict[str, Any]) -> Group:
    return Group(
        render.details("Workflow run", found, RUN_FIELDS),
        render.listing(
            "Steps",
            ["Step", "Type", "Status", "Attempts", "Error", "Output"],
            (
                [
                    step["name"],
                    step.get("type"),
                    step["status"],
                    step.get("attempts"),
                    step.get("error"),
                    _output(step.get("output") or {}),
                ]
                for step in found.get("steps", [])
            ),
        ),
    )


def _output(output: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in output.items() if value is not None)
