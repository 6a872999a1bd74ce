"""`mloop data ...`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from mloop_client.cli import render
from mloop_client.cli.session import Session, session

app = typer.Typer(help="Upload and inspect a scenario's data files.", no_args_is_help=True)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]
DataPath = Annotated[str, typer.Argument(help="The file's path in the scenario (e.g. train.csv).")]

VERSION_FIELDS = [
    ("Dataset id", "id"),
    ("Path", "path"),
    ("Version", "version"),
    ("Rows", "rows"),
    ("Size", "size"),
    ("SHA-256", "sha256"),
    ("Encoding", "encoding"),
    ("Delimiter", "delimiter"),
    ("Profile", "profile_status"),
    ("Created", "created_at"),
]


@app.command("upload")
def upload(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The local file."),
    ],
    path: Annotated[
        str | None, typer.Option(help="Path in the scenario (default: the file name).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The target column.")] = None,
) -> None:
    """Upload a file, streamed from disk (a progress bar on stderr unless --json)."""
    s = session(ctx)
    if s.json:
        version = s.client.upload_data(scenario_id, file, path=path, target=target)
    else:
        version = _upload_with_progress(s, scenario_id, file, path=path, target=target)
    s.emit(version, lambda: s.out.print(_version(version)))


def _upload_with_progress(
    s: Session, scenario_id: str, file: Path, *, path: str | None, target: str | None
) -> Any:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=s.err,
    )
    with progress:
        task = progress.add_task(f"Uploading {file.name}", total=file.stat().st_size)

        def on_progress(sent: int, total: int) -> None:
            progress.update(task, completed=sent, total=total)

        return s.client.upload_data(
            scenario_id, file, path=path, target=target, on_progress=on_progress
        )


def _version(version: dict[str, Any]) -> Group:
    shown = {**version, "size": render.size(version.get("size"))}
    title = f"{version.get('path')} version {version.get('version')}"
    return Group(
        render.details(title, shown, VERSION_FIELDS),
        render.columns("Columns", version.get("columns") or []),
    )


@app.command("list")
def list_(ctx: typer.Context, scenario_id: ScenarioId) -> None:
    """List a scenario's data files (every page). `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    files = list(s.client.iter_data(scenario_id))
    s.emit({"items": files, "next_cursor": None}, lambda: s.out.print(_files(files)))


def _files(files: list[dict[str, Any]]) -> Any:
    rows = []
    for item in files:
        latest = item.get("latest") or {}
        rows.append(
            [
                item["path"],
                item.get("versions"),
                latest.get("version"),
                latest.get("rows"),
                render.size(latest.get("size")),
                latest.get("profile_status"),
                render.when(latest.get("created_at")),
            ]
        )
    headers = ["Path", "Versions", "Latest", "Rows", "Size", "Profile", "Uploaded"]
    return render.listing(f"Data files ({len(files)})", headers, rows)


@app.command("show")
def show(ctx: typer.Context, scenario_id: ScenarioId, path: DataPath) -> None:
    """Show a data file: its versions and the latest version's columns.

    `--json` prints `{"file": DataFile, "versions": [DatasetVersion, ...]}`.
    """
    s = session(ctx)
    data_file = s.client.get_data(scenario_id, path)
    versions = list(s.client.iter_versions(scenario_id, path))
    s.emit(
        {"file": data_file, "versions": versions},
        lambda: s.out.print(_data_file(data_file, versions)),
    )


def _data_file(data_file: dict[str, Any], versions: list[dict[str, Any]]) -> Group:
    latest = data_file.get("latest") or {}
    table = render.listing(
        f"{data_file.get('path')}: {len(versions)} version(s)",
        ["Version", "Dataset id", "Rows", "Size", "SHA-256", "Profile", "Uploaded"],
        (
            [
                v.get("version"),
                v.get("id"),
                v.get("rows"),
                render.size(v.get("size")),
                (v.get("sha256") or "")[:12],
                v.get("profile_status"),
                render.when(v.get("created_at")),
            ]
            for v in versions
        ),
        no_wrap=2,
    )
    return Group(
        table,
        render.columns(f"Columns of version {latest.get('version')}", latest.get("columns") or []),
    )


@app.command("preview")
def preview(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    path: DataPath,
    rows: Annotated[int, typer.Option(min=1, max=1000, help="How many rows.")] = 20,
    version: Annotated[int | None, typer.Option(help="A version (default: the latest).")] = None,
) -> None:
    """Show the first rows of a data file."""
    s = session(ctx)
    sample = s.client.preview_data(scenario_id, path, rows=rows, version=version)
    s.emit(
        sample,
        lambda: s.out.print(
            render.listing(
                f"{path} ({len(sample['rows'])} rows)", sample["columns"], sample["rows"], no_wrap=0
            )
        ),
    )
