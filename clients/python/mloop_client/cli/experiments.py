"""`mloop experiment ...`: define experiments, run them and compare their results."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from mloop_client.cli import render, runs
from mloop_client.cli.session import session

app = typer.Typer(help="Create, list, run and compare experiments.", no_args_is_help=True)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]
ExperimentId = Annotated[str, typer.Argument(help="The experiment's id.")]

EXPERIMENT_FIELDS = [
    ("Experiment id", "id"),
    ("Name", "name"),
    ("Version", "version"),
    ("Status", "status"),
    ("Algorithm", "algorithm"),
    ("Dataset", "dataset_id"),
    ("Feature set", "feature_set_id"),
    ("Model config", "model_config_id"),
    ("Resource profile", "resource_profile_id"),
    ("Tags", "tags"),
    ("Evaluation", "evaluation"),
    ("Runs", "runs"),
    ("Created", "created_at"),
]
BY_IDS = "--feature-set and --model-config"
INLINE = "--dataset and --algorithm (with --target for a supervised task)"


@app.command("create")
def create(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    name: Annotated[str, typer.Option(help="The experiment's name (again: its next version).")],
    feature_set: Annotated[str | None, typer.Option(help="A feature set's id.")] = None,
    model_config: Annotated[str | None, typer.Option(help="A model config's id.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Inline: a dataset version's id.")] = None,
    target: Annotated[str | None, typer.Option(help="Inline: the target column.")] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="Inline: a feature column; repeat (default: all others)."),
    ] = None,
    algorithm: Annotated[str | None, typer.Option(help="Inline: the algorithm.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Inline: an algorithm parameter as key=value; repeat."),
    ] = None,
    resource_profile: Annotated[
        str | None, typer.Option(help="A resource profile's id; or --cores etc. for a new one.")
    ] = None,
    cores: Annotated[float | None, typer.Option(min=0, help="CPU cores.")] = None,
    memory_gb: Annotated[float | None, typer.Option(min=0, help="Memory (GB).")] = None,
    max_hours: Annotated[float | None, typer.Option(min=0, help="Time limit (h).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag; repeat.")] = None,
    cv_folds: Annotated[int | None, typer.Option(min=2, help="Cross-validation folds.")] = None,
    run: Annotated[bool, typer.Option("--run", help="Start a run right away.")] = False,
) -> None:
    """Create an experiment, by ids (--feature-set, --model-config) or inline (--dataset,
    --target, --algorithm). `--json` prints the Experiment, or with --run
    `{"experiment", "run"}`."""
    s = session(ctx)
    body = experiment_body(
        feature_set=feature_set,
        model_config=model_config,
        dataset=dataset,
        target=target,
        features=feature,
        algorithm=algorithm,
        params=param,
        resource_profile=resource_profile,
        resources=_amounts(cpu_cores=cores, memory_gb=memory_gb, max_hours=max_hours),
        tags=tag,
        cv_folds=cv_folds,
    )
    experiment = s.client.create_experiment(scenario_id, name=name, **body)
    title = f"Experiment created: {experiment.get('name')} {experiment.get('version')}"
    if not run:
        s.emit(
            experiment, lambda: s.out.print(render.details(title, experiment, EXPERIMENT_FIELDS))
        )
        return
    started = s.client.start_run(scenario_id, experiment["id"])

    def show() -> None:
        s.out.print(render.details(title, experiment, EXPERIMENT_FIELDS))
        s.say(f"Run {started.get('id')} {started.get('status')}.")

    s.emit({"experiment": experiment, "run": started}, show)


def experiment_body(
    *,
    feature_set: str | None,
    model_config: str | None,
    dataset: str | None,
    target: str | None,
    features: list[str] | None,
    algorithm: str | None,
    params: list[str] | None,
    resource_profile: str | None,
    resources: dict[str, Any],
    tags: list[str] | None,
    cv_folds: int | None,
) -> dict[str, Any]:
    """The API's by-ids or inline experiment shape from the options; a usage error if mixed."""
    if resource_profile and resources:
        raise typer.BadParameter(
            "give a resource profile or --cores, --memory-gb and --max-hours, not both.",
            param_hint="--resource-profile",
        )
    common = {
        "tags": tags or None,
        "evaluation": {"cv_folds": cv_folds} if cv_folds else None,
        "resource_profile_id": resource_profile,
        "resources": resources or None,
    }
    if feature_set or model_config:
        if dataset or target or algorithm or features or params:
            raise typer.BadParameter(
                f"give either {BY_IDS}, or {INLINE} (and their options).",
                param_hint="--feature-set",
            )
        _require(("--feature-set", feature_set), ("--model-config", model_config))
        return common | {"feature_set_id": feature_set, "model_config_id": model_config}
    _require(("--dataset", dataset), ("--algorithm", algorithm))
    return common | {
        "dataset_id": dataset,
        "target": target,
        "features": features or None,
        "model": {"algorithm": algorithm, "parameters": parse_params(params or [])},
    }


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value is read as JSON when it parses (3, 0.1, true, [1, 2], null),
    as text otherwise (gini, "3" quoted stays text)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value.", param_hint="--param")
        try:
            params[key.strip()] = json.loads(raw)
        except ValueError:
            params[key.strip()] = raw
    return params


def _require(*options: tuple[str, str | None]) -> None:
    missing = [flag for flag, value in options if not value]
    if missing:
        hint = ", ".join(missing)
        raise typer.BadParameter(f"required (give either {BY_IDS}, or {INLINE}).", param_hint=hint)


def _amounts(**values: float | None) -> dict[str, Any]:
    """The amounts given, whole numbers as ints (2.0 cores is sent as 2)."""
    return {
        name: int(value) if value.is_integer() else value
        for name, value in values.items()
        if value is not None
    }


@app.command("list")
def list_(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    name: Annotated[str | None, typer.Option(help="Only this experiment's versions.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only: planned, running, completed or failed.")
    ] = None,
) -> None:
    """List a scenario's experiments, newest first. `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    items = list(s.client.iter_experiments(scenario_id, name=name, status=status))
    s.emit({"items": items, "next_cursor": None}, lambda: s.out.print(_experiments(items)))


def _experiments(items: list[dict[str, Any]]) -> Table:
    return render.listing(
        f"Experiments ({len(items)})",
        ["ID", "Name", "Version", "Algorithm", "Status", "Runs", "Tags", "Created"],
        (
            [
                e["id"],
                e.get("name"),
                e.get("version"),
                e.get("algorithm"),
                e.get("status"),
                e.get("runs"),
                e.get("tags"),
                render.when(e.get("created_at")),
            ]
            for e in items
        ),
    )


@app.command("run")
def run(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    experiment_id: ExperimentId,
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow the run live; exit 1 if it fails.")
    ] = False,
) -> None:
    """Start a run of an experiment. `--json` prints the Run, or with --watch its events."""
    s = session(ctx)
    started = s.client.start_run(scenario_id, experiment_id)
    if not watch:
        s.emit(started, lambda: s.out.print(runs.run_view(started)))
        return
    if not s.json:
        s.say(f"Run {started['id']} {started.get('status')}.")
    raise typer.Exit(runs.watch_run(s, scenario_id, started["id"]))


@app.command("compare")
def compare(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    experiment_ids: Annotated[list[str], typer.Argument(help="The experiments' ids.")],
) -> None:
    """Compare experiments side by side: each one's latest completed run (else its latest run),
    its metrics and its resource use."""
    s = session(ctx)
    comparison = s.client.compare_experiments(scenario_id, experiment_ids)
    s.emit(comparison, lambda: s.out.print(comparison_table(comparison)))


def comparison_table(comparison: dict[str, Any]) -> Table:
    items = comparison.get("items") or []
    names = comparison.get("metrics") or sorted({m for i in items for m in i.get("metrics") or {}})

    def row(label: str, value: Callable[[dict[str, Any]], Any]) -> list[Any]:
        return [label, *(value(item) for item in items)]

    rows = [
        row("Experiment id", lambda i: i["experiment"].get("id")),
        row("Algorithm", lambda i: i["experiment"].get("algorithm")),
        row("Run", lambda i: (i.get("run") or {}).get("id") or "no run"),
        row("Status", lambda i: (i.get("run") or i["experiment"]).get("status")),
        row("Model", lambda i: i.get("model_id")),
        *(
            row(name, lambda i, n=name: runs.number((i.get("metrics") or {}).get(n)))
            for name in names
        ),
        *(
            row(label, lambda i, k=key: runs.number((i.get("resources") or {}).get(k)))
            for label, key in runs.RESOURCES
        ),
    ]
    headers = [
        "",
        *(f"{i['experiment'].get('name')} v{i['experiment'].get('version')}" for i in items),
    ]
    return render.listing(f"Experiments compared ({len(items)})", headers, rows)
