"""`mloop feedback send SCENARIO (--file items.jsonl | --prediction-id ID --actual VALUE)`.

A JSON Lines file holds one item a line, `{"prediction_id": "...", "actual": ...}` (blank lines
are skipped; `-` reads standard input). `--actual` is read as JSON when it parses (`3.5`,
`true`, `["a", "b"]`), else taken as text (`--actual yes`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop_client.cli import render
from mloop_client.cli.session import session

app = typer.Typer(help="Send feedback: the observed outcomes of predictions.", no_args_is_help=True)


def items_from_jsonl(text: str) -> list[Any]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise typer.BadParameter(f"line {number} is not JSON: {error}") from None
    if not items:
        raise typer.BadParameter("no feedback items in the file")
    return items


def actual_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@app.command("send")
def send(
    ctx: typer.Context,
    scenario_id: Annotated[str, typer.Argument(help="The scenario's id.")],
    file: Annotated[
        str | None,
        typer.Option("--file", "-f", help="Items as JSON Lines (`-`: standard input)."),
    ] = None,
    prediction_id: Annotated[
        str | None, typer.Option(help="One item: the prediction's id.")
    ] = None,
    actual: Annotated[
        str | None, typer.Option(help="One item: the observed outcome (JSON, or text).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Items per request (the gateway takes 1000 by default).")
    ] = 1000,
) -> None:
    """Send feedback and show how many items were accepted and which were refused, and why."""
    single = prediction_id is not None or actual is not None
    if (file is not None) == single:
        raise typer.BadParameter("give --file F, or --prediction-id ID with --actual VALUE")
    if single:
        if prediction_id is None or actual is None:
            raise typer.BadParameter("--prediction-id and --actual go together")
        items: list[Any] = [{"prediction_id": prediction_id, "actual": actual_value(actual)}]
    elif file == "-":
        items = items_from_jsonl(sys.stdin.read())
    else:
        path = Path(file or "")
        if not path.is_file():
            raise typer.BadParameter(f"no file {path}")
        items = items_from_jsonl(path.read_text(encoding="utf-8"))
    s = session(ctx)
    answer = s.client.send_feedback(scenario_id, items, batch_size=batch_size)

    def show() -> None:
        s.say(f"Accepted {answer['accepted']} of {len(items)} feedback items.")
        if answer["refused"]:
            rows = [
                [str(one["index"]), one.get("prediction_id") or "-", one["reason"]]
                for one in answer["refused"]
            ]
            title = f"Refused ({len(rows)})"
            s.out.print(render.listing(title, ["#", "Prediction id", "Reason"], rows))

    s.emit(answer, show)
    if answer["refused"] and not answer["accepted"]:
        raise typer.Exit(1)
