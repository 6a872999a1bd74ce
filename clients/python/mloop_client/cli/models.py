"""`mloop models ...`: a scenario's trained models."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from mloop_client.cli import deployments, render, runs
from mloop_client.cli.session import session

app = typer.Typer(
    help="List trained models, find the best one, promote and roll back.", no_args_is_help=True
)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]

MODEL_FIELDS = [
    ("Model id", "id"),
    ("Algorithm", "algorithm"),
    ("Task type", "task_type"),
    ("Primary metric", "primary_metric"),
    ("Primary value", "primary_value"),
    ("Experiment", "experiment_id"),
    ("Run", "run_id"),
    ("Size", "size"),
    ("SHA-256", "sha256"),
    ("Created", "created_at"),
]
TOP_FEATURES = 10


@app.command("list")
def list_(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    experiment: Annotated[
        str | None, typer.Option(help="Only the models of this experiment (its id).")
    ] = None,
) -> None:
    """List a scenario's models, newest first. `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    items = list(s.client.iter_models(scenario_id, experiment_id=experiment))
    s.emit({"items": items, "next_cursor": None}, lambda: s.out.print(_models(items)))


def _models(items: list[dict[str, Any]]) -> Table:
    return render.listing(
        f"Models ({len(items)})",
        ["ID", "Algorithm", "Metric", "Value", "Experiment", "Run", "Size", "Created"],
        (
            [
                m["id"],
                m.get("algorithm"),
                m.get("primary_metric"),
                runs.number(m.get("primary_value")),
                m.get("experiment_id"),
                m.get("run_id"),
                render.size(m.get("size")),
                render.when(m.get("created_at")),
            ]
            for m in items
        ),
    )


@app.command("best")
def best(ctx: typer.Context, scenario_id: ScenarioId) -> None:
    """Show the scenario's best model by its primary metric (exit 1 when there is none)."""
    s = session(ctx)
    model = s.client.best_model(scenario_id)
    s.emit(model, lambda: s.out.print(model_view("Best model", model)))


def model_view(title: str, model: dict[str, Any]) -> Group:
    shown = {
        **model,
        "primary_value": runs.number(model.get("primary_value")),
        "size": render.size(model.get("size")),
    }
    parts: list[Any] = [render.details(title, shown, MODEL_FIELDS)]
    if model.get("metrics"):
        parts.append(runs.metrics_table("Metrics", model["metrics"]))
    if model.get("parameters"):
        rows = ([name, value] for name, value in model["parameters"].items())
        parts.append(render.listing("Parameters", ["Parameter", "Value"], rows))
    importances = model.get("feature_importances") or {}
    if importances:
        top = sorted(importances.items(), key=lambda pair: abs(pair[1] or 0), reverse=True)
        rows = ([name, runs.number(value)] for name, value in top[:TOP_FEATURES])
        parts.append(render.listing("Top features", ["Feature", "Importance"], rows))
    return Group(*parts)


@app.command("promote")
def promote(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    model_id: Annotated[str, typer.Argument(help="The model to make the champion.")],
    reason: Annotated[str | None, typer.Option(help="manual (default) or policy.")] = None,
    wait: deployments.Wait = False,
    timeout: deployments.Timeout = 60,
) -> None:
    """Make a model the scenario's champion (the one answering predictions)."""
    s = session(ctx)
    accepted = s.client.promote(scenario_id, model_id, reason=reason)
    deployments.report_change(s, scenario_id, accepted, wait=wait, timeout=timeout)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    wait: deployments.Wait = False,
    timeout: deployments.Timeout = 60,
) -> None:
    """Restore the previous champion (each rollback goes one further back)."""
    s = session(ctx)
    accepted = s.client.rollback(scenario_id)
    deployments.report_change(s, scenario_id, accepted, wait=wait, timeout=timeout)
