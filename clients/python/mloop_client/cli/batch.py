"""`mloop batch ...`: score a dataset version or a CSV file in the background, follow the job,
download its output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.text import Text
from typer.core import TyperGroup

from mloop_client.cli import render
from mloop_client.cli.session import Session, session


class _BatchGroup(TyperGroup):
    """`mloop batch SCENARIO ...` runs the `run` command; `status`, `download`, `list` too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_BatchGroup,
    help="Batch predictions: `mloop batch SCENARIO --dataset ID | --file F [--wait]`, "
    "`mloop batch status|download|list`.",
    no_args_is_help=True,
)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]
JobId = Annotated[str, typer.Argument(help="The batch job's id.")]
Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Where to save the output CSV (a file or a folder)."),
]

JOB_FIELDS = [
    ("Job id", "job_id"),
    ("Status", "status"),
    ("Progress", "progress"),
    ("Rows done", "rows_done"),
    ("Input", "input"),
    ("Dataset", "dataset_id"),
    ("Model", "model_id"),
    ("Attempts", "attempts"),
    ("Error", "error"),
    ("Output", "output_url"),
    ("Created", "created_at"),
    ("Started", "started_at"),
    ("Finished", "finished_at"),
]


@app.command("run")
def run(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    dataset: Annotated[
        str | None, typer.Option(help="Score this dataset version (its id).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, readable=True, help="Score this CSV file."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="The model to score with (default: the champion).")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="The file's encoding (default: detected).")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="The file's delimiter (default: detected).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job until it ends.")] = False,
    output: Output = None,
) -> None:
    """Score a dataset version (--dataset) or a CSV file (--file). With --wait (or --output),
    follow the job to its end (exit 1 if it fails) and, with --output, save its output."""
    if (dataset is None) == (file is None):
        raise typer.BadParameter("give exactly one of --dataset and --file")
    s = session(ctx)
    job = s.client.request_batch(
        scenario_id,
        dataset_id=dataset,
        file=file,
        model_id=model,
        encoding=encoding,
        delimiter=delimiter,
    )
    if not (wait or output):
        s.emit(job, lambda: s.out.print(job_view(job)))
        return
    if not s.json:
        s.note(f"Batch job {job['job_id']} queued.")
    raise typer.Exit(_follow(s, scenario_id, job["job_id"], output))


def _follow(s: Session, scenario_id: str, job_id: str, output: Path | None) -> int:
    if s.json:
        job = s.client.wait_for_batch(scenario_id, job_id)
    else:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=s.err,
        )
        with progress:
            task = progress.add_task(f"Batch {job_id}", total=1.0)

            def on_update(state: dict[str, Any]) -> None:
                done = 1.0 if state["status"] == "succeeded" else state.get("progress") or 0.0
                label = f"Batch {job_id} {state['status']} ({state.get('rows_done') or 0} rows)"
                progress.update(task, completed=done, description=label)

            job = s.client.wait_for_batch(scenario_id, job_id, on_update=on_update)
    if job["status"] != "succeeded":
        s.emit(job, lambda: None)
        s.err.print(Text(f"Batch {job_id} failed: {job.get('error')}", style="bold red"))
        return 1
    if output is not None:
        saved = _download(s, scenario_id, job_id, output)
        job = {**job, "saved_to": str(saved)}
    s.emit(job, lambda: s.out.print(job_view(job)))
    return 0


@app.command("status")
def status(ctx: typer.Context, scenario_id: ScenarioId, job_id: JobId) -> None:
    """Show a batch job: status, progress, model, error."""
    s = session(ctx)
    job = s.client.get_batch(scenario_id, job_id)
    s.emit(job, lambda: s.out.print(job_view(job)))


@app.command("download")
def download(
    ctx: typer.Context, scenario_id: ScenarioId, job_id: JobId, output: Output = None
) -> None:
    """Save a succeeded job's output CSV (default: ./<job id>.csv)."""
    s = session(ctx)
    saved = _download(s, scenario_id, job_id, output or Path.cwd())
    s.emit({"job_id": job_id, "saved_to": str(saved)}, lambda: s.say(f"Saved {saved}"))


def _download(s: Session, scenario_id: str, job_id: str, output: Path) -> Path:
    if s.json:
        return s.client.download_batch(scenario_id, job_id, output)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=s.err,
    )
    with progress:
        progress.add_task(f"Downloading {job_id}", total=None)
        return s.client.download_batch(scenario_id, job_id, output)


@app.command("list")
def list_(ctx: typer.Context, scenario_id: ScenarioId) -> None:
    """List a scenario's batch jobs, newest first. `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    items = list(s.client.iter_batches(scenario_id))
    s.emit(
        {"items": items, "next_cursor": None},
        lambda: s.out.print(
            render.listing(
                f"Batch jobs ({len(items)})",
                ["Job", "Status", "Progress", "Rows", "Model", "Created", "Error"],
                (
                    [
                        job["job_id"],
                        job["status"],
                        _percent(job),
                        job.get("rows_done"),
                        job.get("model_id"),
                        render.when(job.get("created_at")),
                        job.get("error"),
                    ]
                    for job in items
                ),
            )
        ),
    )


def _percent(job: dict[str, Any]) -> str:
    return f"{100 * (job.get('progress') or 0):.0f}%"


def job_view(job: dict[str, Any]) -> Any:
    shown = {**job, "progress": _percent(job)}
    fields = [*JOB_FIELDS, *([("Saved to", "saved_to")] if job.get("saved_to") else [])]
    return render.details(f"Batch job {job.get('job_id')}", shown, fields)
