"""`mloop predict SCENARIO (--json-file F | --csv F | -) [--k N]`: online predictions.

Records come from a JSON file (a list of objects, `{"records": [...]}` or one object), a CSV
file (a header row, then one record per row; empty cells are sent as null, other cells as text,
which the predictor reads as each column's type), or standard input (`-`, JSON). The answer is
printed as a table, or as the API's JSON with `mloop --json predict ...`.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop_client.cli import render
from mloop_client.cli.session import session


def records_from_json(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"not JSON: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise typer.BadParameter('expected a list of records or {"records": [...]}')
    return data


def records_from_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [
            {name: (value if value != "" else None) for name, value in row.items()}
            for row in csv.DictReader(handle)
        ]


def _details(prediction: dict[str, Any]) -> str:
    if "probabilities" in prediction:
        ranked = sorted(prediction["probabilities"].items(), key=lambda item: -item[1])
        return ", ".join(f"{label} {p:.3f}" for label, p in ranked[:3])
    if "score" in prediction:
        return f"score {prediction['score']:.4f}"
    if prediction.get("times"):
        return f"{prediction['times'][0]} .. {prediction['times'][-1]}"
    if "scores" in prediction:
        return ", ".join(f"{s:.3f}" for s in prediction["scores"][:5])
    return ""


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value[:10]) + (" ..." if len(value) > 10 else "")
    return str(value)


def predict(
    ctx: typer.Context,
    scenario_id: Annotated[str, typer.Argument(help="The scenario's id.")],
    source: Annotated[
        str | None, typer.Argument(help="`-` to read JSON records from standard input.")
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, readable=True, help="Records as JSON."),
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", exists=True, dir_okay=False, readable=True, help="Records as CSV."),
    ] = None,
    k: Annotated[int | None, typer.Option("--k", min=1, help="Recommendation: top k.")] = None,
) -> None:
    """Predict records with the scenario's champion and print one row per record."""
    given = [x for x in (source == "-", json_file is not None, csv_file is not None) if x]
    if len(given) != 1 or (source is not None and source != "-"):
        raise typer.BadParameter("give exactly one of --json-file F, --csv F or - (stdin)")
    if csv_file is not None:
        records = records_from_csv(csv_file)
    elif json_file is not None:
        records = records_from_json(json_file.read_text(encoding="utf-8"))
    else:
        records = records_from_json(sys.stdin.read())
    s = session(ctx)
    answer = s.client.predict(scenario_id, records, k=k)

    def show() -> None:
        rows = [
            [
                str(position),
                _value(one.get("prediction")),
                _details(one),
                one.get("arm", ""),
                one.get("prediction_id", ""),
            ]
            for position, one in enumerate(answer["predictions"])
        ]
        title = f"Predictions of model {answer['model_id']}"
        s.out.print(
            render.listing(title, ["#", "Prediction", "Details", "Arm", "Prediction id"], rows)
        )

    s.emit(answer, show)
