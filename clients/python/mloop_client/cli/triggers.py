"""`mloop triggers list|create|update|enable|disable|delete|firings`: what retrains a
scenario's champion by itself.

`create` builds the config from the options of its kind (`--cron`/`--timezone` for schedule,
`--feature`/`--min-share` for drift, `--metric`/`--comparison`/`--threshold`/`--min-feedback`
for performance, `--path` for new_data), or takes it whole as `--config JSON`; `update` changes
the config fields given by those options and keeps the others.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mloop_client._paths import given
from mloop_client.cli import render
from mloop_client.cli.session import session

app = typer.Typer(
    help="Retraining triggers (schedule, drift, performance, new data) and their firings.",
    no_args_is_help=True,
)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]
TriggerId = Annotated[str, typer.Argument(help="The trigger's id.")]
# The config options of `create` and `update`, by kind.
Cron = Annotated[str | None, typer.Option(help="schedule: 5 or 6 cron fields.")]
Timezone = Annotated[str | None, typer.Option(help="schedule: IANA time zone.")]
Features = Annotated[
    list[str] | None, typer.Option("--feature", help="drift: a feature; repeat for several.")
]
MinShare = Annotated[float | None, typer.Option(help="drift: share of features.")]
Metric = Annotated[str | None, typer.Option(help="performance: the live metric.")]
Comparison = Annotated[str | None, typer.Option(help="performance: lt, le, gt or ge.")]
Threshold = Annotated[float | None, typer.Option(help="performance: the threshold.")]
MinFeedback = Annotated[int | None, typer.Option(help="performance: labelled predictions needed.")]
DataPath = Annotated[str | None, typer.Option(help="new_data: the data path to watch.")]
Cooldown = Annotated[
    float | None, typer.Option(help="Seconds before it may start another retrain.")
]

TRIGGER_FIELDS = [
    ("ID", "id"),
    ("Name", "name"),
    ("Kind", "kind"),
    ("Config", "config"),
    ("Cooldown (s)", "cooldown_seconds"),
    ("Enabled", "enabled"),
    ("Created", "created_at"),
    ("Last fired", "last_fired_at"),
    ("Next slot", "next_fire_at"),
]


def config_of(
    kind: str,
    *,
    config: str | None,
    cron: str | None = None,
    timezone: str | None = None,
    features: list[str] | None = None,
    min_share: float | None = None,
    metric: str | None = None,
    comparison: str | None = None,
    threshold: float | None = None,
    min_feedback: int | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    """The config from `--config` JSON, or from the options (the gateway checks it)."""
    if config is not None:
        try:
            parsed = json.loads(config)
        except json.JSONDecodeError as error:
            raise typer.BadParameter(f"--config is not JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise typer.BadParameter("--config must be a JSON object")
        return parsed
    by_kind = {
        "schedule": given(cron=cron, timezone=timezone),
        "drift": given(features=features or None, min_share=min_share),
        "performance": given(
            metric=metric, comparison=comparison, threshold=threshold, min_feedback=min_feedback
        ),
        "new_data": given(path=path),
    }
    return by_kind.get(kind, {})


@app.command("list")
def list_(ctx: typer.Context, scenario_id: ScenarioId) -> None:
    """List the scenario's triggers with their latest firing."""
    s = session(ctx)
    found = s.client.list_triggers(scenario_id)
    s.emit(found, lambda: s.out.print(_triggers(found["items"])))


def _triggers(items: list[dict[str, Any]]) -> Any:
    return render.listing(
        f"Triggers ({len(items)})",
        ["ID", "Name", "Kind", "Config", "Enabled", "Last firing", "Outcome"],
        (
            [
                item["id"],
                item["name"],
                item["kind"],
                json.dumps(item.get("config") or {}),
                "yes" if item.get("enabled") else "no",
                render.when((item.get("last_firing") or {}).get("at")),
                (item.get("last_firing") or {}).get("outcome"),
            ]
            for item in items
        ),
    )


@app.command("create")
def create(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    name: Annotated[str, typer.Argument(help="A name for the trigger.")],
    kind: Annotated[str, typer.Option(help="schedule, drift, performance or new_data.")],
    config: Annotated[str | None, typer.Option(help="The whole config as JSON.")] = None,
    cron: Cron = None,
    timezone: Timezone = None,
    feature: Features = None,
    min_share: MinShare = None,
    metric: Metric = None,
    comparison: Comparison = None,
    threshold: Threshold = None,
    min_feedback: MinFeedback = None,
    path: DataPath = None,
    cooldown: Cooldown = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off.")] = False,
) -> None:
    """Create a trigger."""
    s = session(ctx)
    body = config_of(
        kind,
        config=config,
        cron=cron,
        timezone=timezone,
        features=feature,
        min_share=min_share,
        metric=metric,
        comparison=comparison,
        threshold=threshold,
        min_feedback=min_feedback,
        path=path,
    )
    created = s.client.create_trigger(
        scenario_id,
        name,
        kind,
        body,
        cooldown_seconds=cooldown,
        enabled=False if disabled else None,
    )
    s.emit(created, lambda: s.out.print(render.details("Trigger created", created, TRIGGER_FIELDS)))


@app.command("update")
def update(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    trigger_id: TriggerId,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    config: Annotated[str | None, typer.Option(help="The whole new config as JSON.")] = None,
    cron: Cron = None,
    timezone: Timezone = None,
    feature: Features = None,
    min_share: MinShare = None,
    metric: Metric = None,
    comparison: Comparison = None,
    threshold: Threshold = None,
    min_feedback: MinFeedback = None,
    path: DataPath = None,
    cooldown: Cooldown = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Switch it on or off.")
    ] = None,
) -> None:
    """Change a trigger. The kind's options change those config fields and keep the others;
    `--config` replaces the whole config."""
    s = session(ctx)
    new_config: dict[str, Any] | None = None
    if config is not None:
        new_config = config_of("", config=config)
    else:
        options = dict(
            cron=cron,
            timezone=timezone,
            features=feature,
            min_share=min_share,
            metric=metric,
            comparison=comparison,
            threshold=threshold,
            min_feedback=min_feedback,
            path=path,
        )
        if any(value is not None for value in options.values()):
            current = s.client.get_trigger(scenario_id, trigger_id)
            given_options = config_of(current["kind"], config=None, **options)
            new_config = {**(current.get("config") or {}), **given_options}
    updated = s.client.update_trigger(
        scenario_id,
        trigger_id,
        name=name,
        config=new_config,
        cooldown_seconds=cooldown,
        enabled=enabled,
    )
    s.emit(updated, lambda: s.out.print(render.details("Trigger updated", updated, TRIGGER_FIELDS)))


@app.command("enable")
def enable(ctx: typer.Context, scenario_id: ScenarioId, trigger_id: TriggerId) -> None:
    """Switch a trigger on (a schedule fires from its next slot on)."""
    s = session(ctx)
    updated = s.client.enable_trigger(scenario_id, trigger_id)
    s.emit(updated, lambda: s.say(f"Trigger {updated['name']} is enabled."))


@app.command("disable")
def disable(ctx: typer.Context, scenario_id: ScenarioId, trigger_id: TriggerId) -> None:
    """Switch a trigger off: it never fires until enabled again."""
    s = session(ctx)
    updated = s.client.disable_trigger(scenario_id, trigger_id)
    s.emit(updated, lambda: s.say(f"Trigger {updated['name']} is disabled."))


@app.command("delete")
def delete(ctx: typer.Context, scenario_id: ScenarioId, trigger_id: TriggerId) -> None:
    """Delete a trigger and its firings (retrains it started go on)."""
    s = session(ctx)
    s.client.delete_trigger(scenario_id, trigger_id)
    s.emit({"deleted": trigger_id}, lambda: s.say(f"Deleted trigger {trigger_id}."))


@app.command("firings")
def firings(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    trigger_id: TriggerId,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
) -> None:
    """The trigger's latest firings: when, why, and what came of it."""
    s = session(ctx)
    page = s.client.list_firings(scenario_id, trigger_id, limit=limit)
    s.emit(page, lambda: s.out.print(_firings(page["items"])))


def _firings(items: list[dict[str, Any]]) -> Any:
    return render.listing(
        f"Firings ({len(items)})",
        ["At", "Outcome", "Reason", "Run", "Note"],
        (
            [
                render.when(item.get("at")),
                item.get("outcome"),
                item.get("reason"),
                item.get("run_id"),
                (item.get("detail") or {}).get("note"),
            ]
            for item in items
        ),
    )
