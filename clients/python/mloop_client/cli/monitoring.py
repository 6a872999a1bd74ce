"""`mloop monitoring ...`: a scenario's monitoring windows and its latest drift."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Group

from mloop_client.cli import render
from mloop_client.cli.session import session

app = typer.Typer(
    help="Monitoring windows: volume, latency, live metrics, drift.", no_args_is_help=True
)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _metrics(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{name}={_number(value)}" for name, value in sorted(metrics.items())) or "-"


@app.command("show")
def show(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    since: Annotated[
        datetime | None, typer.Option(help="Windows ending at or after (default: a day ago).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Windows ending before.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's windows.")] = None,
    bucket: Annotated[
        str | None, typer.Option(help="Aggregate per time bucket: seconds, or 30s, 5m, 1h, 1d.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Newest points at most.")] = 50,
) -> None:
    """The monitoring time series, oldest first. `--json` prints the API's answer."""
    s = session(ctx)
    found = s.client.monitoring(
        scenario_id, since=since, until=until, model_id=model, bucket=bucket, limit=limit
    )
    items = found["items"]
    s.emit(
        found,
        lambda: s.out.print(
            render.listing(
                f"Monitoring windows ({len(items)})",
                [
                    "End",
                    "Model",
                    "Arm",
                    "Predictions",
                    "p50 ms",
                    "p99 ms",
                    "Labelled",
                    "Metrics",
                    "Drifted",
                    "Share",
                    "Drifted features",
                ],
                (
                    [
                        render.when(p.get("end")),
                        p.get("model_id"),
                        p.get("arm"),
                        _number(p.get("predictions")),
                        _number((p.get("latency_ms") or {}).get("p50")),
                        _number((p.get("latency_ms") or {}).get("p99")),
                        _number(p.get("labelled")),
                        _metrics(p.get("metrics") or {}),
                        "-" if p.get("drifted") is None else ("yes" if p["drifted"] else "no"),
                        _number(p.get("drifted_share"), 2),
                        ", ".join(p.get("drifted_features") or []) or "-",
                    ]
                    for p in items
                ),
            )
        ),
    )


@app.command("drift")
def drift(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    model: Annotated[str | None, typer.Option(help="This model's latest window.")] = None,
) -> None:
    """Drift per feature in the latest window where it was measured."""
    s = session(ctx)
    found = s.client.drift(scenario_id, model_id=model)

    def view() -> None:
        window = found["window"]
        verdict = "DRIFTED" if found["drifted"] else "no drift"
        share = _number(found.get("drifted_share"), 2)
        s.say(
            f"{verdict} (share {share}) for model {found['model_id']} "
            f"in the window {window['start']} .. {window['end']} "
            f"({window['predictions']} predictions)"
        )
        rows = [
            [
                name,
                f["method"],
                _number(f.get("score")),
                "yes" if f["drifted"] else "no",
                (f.get("statistics") or {}).get("reason") or "",
            ]
            for name, f in sorted(found["features"].items())
        ]
        prediction = found.get("prediction")
        if prediction:
            rows.append(
                [
                    "(prediction)",
                    prediction["method"],
                    _number(prediction.get("score")),
                    "yes" if prediction["drifted"] else "no",
                    "",
                ]
            )
        s.out.print(
            Group(
                render.listing("Features", ["Feature", "Method", "Score", "Drifted", "Note"], rows)
            )
        )

    s.emit(found, view)
