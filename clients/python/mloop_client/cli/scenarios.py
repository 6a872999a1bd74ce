"""`mloop scenario ...`"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from mloop_client.cli import render
from mloop_client.cli.session import session

app = typer.Typer(help="Create, list, show and delete scenarios.", no_args_is_help=True)

TASK_TYPES = (
    "classification, regression, text_classification, anomaly_detection, forecasting, "
    "recommendation"
)
SCENARIO_FIELDS = [
    ("ID", "id"),
    ("Name", "name"),
    ("Task type", "task_type"),
    ("Description", "description"),
    ("Tags", "tags"),
    ("Default data path", "default_data_path"),
    ("Default target", "default_target"),
    ("Created", "created_at"),
    ("Updated", "updated_at"),
]

Tags = Annotated[list[str] | None, typer.Option("--tag", help="A tag; repeat for several.")]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The scenario's name (1..128 characters).")],
    task_type: Annotated[str, typer.Option("--task-type", help=f"One of: {TASK_TYPES}.")],
    description: Annotated[str | None, typer.Option(help="A free description.")] = None,
    tag: Tags = None,
) -> None:
    """Create a scenario."""
    s = session(ctx)
    scenario = s.client.create_scenario(name, task_type, description=description, tags=tag)
    s.emit(
        scenario, lambda: s.out.print(render.details("Scenario created", scenario, SCENARIO_FIELDS))
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only scenarios carrying this tag (repeat: all of them)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Show at most this many (default: all, page by page).")
    ] = None,
) -> None:
    """List scenarios, following pages. `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    items: list[dict[str, Any]] = []
    next_cursor = None
    for page in s.client.iter_pages(s.client.list_scenarios, tags=tag, max_items=limit):
        items.extend(page["items"])
        next_cursor = page.get("next_cursor")
    s.emit({"items": items, "next_cursor": next_cursor}, lambda: s.out.print(_scenarios(items)))


def _scenarios(items: list[dict[str, Any]]) -> Table:
    return render.listing(
        f"Scenarios ({len(items)})",
        ["ID", "Name", "Task type", "Tags", "Created"],
        (
            [s["id"], s["name"], s["task_type"], s.get("tags"), render.when(s.get("created_at"))]
            for s in items
        ),
    )


@app.command("show")
def show(
    ctx: typer.Context, scenario_id: Annotated[str, typer.Argument(help="The scenario's id.")]
) -> None:
    """Show one scenario."""
    s = session(ctx)
    scenario = s.client.get_scenario(scenario_id)
    s.emit(scenario, lambda: s.out.print(render.details("Scenario", scenario, SCENARIO_FIELDS)))


@app.command("delete")
def delete(
    ctx: typer.Context,
    scenario_id: Annotated[str, typer.Argument(help="The scenario's id.")],
    force: Annotated[
        bool, typer.Option("--force", help="Send force=true (for a scenario still in use).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a scenario (asks first unless --yes)."""
    s = session(ctx)
    if not yes:
        typer.confirm(f"Delete scenario {scenario_id}?", abort=True, err=True)
    s.client.delete_scenario(scenario_id, force=force)
    s.emit(None, lambda: s.say(f"Deleted scenario {scenario_id}."))
