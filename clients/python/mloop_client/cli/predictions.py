"""`mloop predictions ...`: the predictions a scenario answered online."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Group

from mloop_client.cli import render
from mloop_client.cli.session import session

app = typer.Typer(help="Browse and clean up the prediction history.", no_args_is_help=True)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]

PREDICTION_FIELDS = [
    ("Prediction id", "prediction_id"),
    ("Made", "predicted_at"),
    ("Model", "model_id"),
    ("Arm", "arm"),
    ("Latency (ms)", "latency_ms"),
]


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


@app.command("list")
def list_(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    since: Annotated[
        datetime | None, typer.Option(help="Made at or after this time (ISO 8601).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Made before this time (ISO 8601).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's predictions.")] = None,
    arm: Annotated[str | None, typer.Option(help="champion, challenger or shadow.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
) -> None:
    """List predictions, newest first. `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    found = s.client.iter_predictions(
        scenario_id, since=since, until=until, model_id=model, arm=arm, page_size=min(limit, 200)
    )
    items = list(itertools.islice(found, limit))
    s.emit(
        {"items": items, "next_cursor": None},
        lambda: s.out.print(
            render.listing(
                f"Predictions ({len(items)})",
                ["Prediction", "Made", "Arm", "Model", "Output", "Inputs"],
                (
                    [
                        p["prediction_id"],
                        render.when(p.get("predicted_at")),
                        p.get("arm"),
                        p.get("model_id"),
                        _short(p.get("output"), 40),
                        _short(p.get("inputs")),
                    ]
                    for p in items
                ),
            )
        ),
    )


@app.command("show")
def show(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    prediction_id: Annotated[str, typer.Argument(help="The id it was answered with.")],
) -> None:
    """Show one prediction: inputs, output, and the shadow model's output if any."""
    s = session(ctx)
    found = s.client.get_prediction(scenario_id, prediction_id)

    def view() -> None:
        parts: list[Any] = [render.details("Prediction", found, PREDICTION_FIELDS)]
        inputs = found.get("inputs") or {}
        parts.append(render.listing("Inputs", ["Column", "Value"], inputs.items()))
        parts.append(
            render.listing("Output", ["", "Value"], [["answer", _short(found["output"], 200)]])
        )
        shadow = found.get("shadow")
        if shadow:
            rows = [["model", shadow["model_id"]], ["output", _short(shadow["output"], 200)]]
            parts.append(render.listing("Shadow", ["", "Value"], rows))
        s.out.print(Group(*parts))

    s.emit(found, view)


@app.command("cleanup")
def cleanup(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    older_than_days: Annotated[
        float | None, typer.Option("--older-than-days", min=0, help="Delete those older than this.")
    ] = None,
    older_than: Annotated[
        datetime | None, typer.Option(help="Delete those made before this time (ISO 8601).")
    ] = None,
) -> None:
    """Delete old predictions (the monitor deletes them shortly after)."""
    if (older_than_days is None) == (older_than is None):
        raise typer.BadParameter("give exactly one of --older-than-days and --older-than")
    s = session(ctx)
    answer = s.client.cleanup_predictions(
        scenario_id, older_than_days=older_than_days, older_than=older_than
    )
    s.emit(answer, lambda: s.say(f"Deleting predictions made before {answer['older_than']}."))
