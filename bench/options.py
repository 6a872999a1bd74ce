"""Command-line options more than one benchmark takes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DATA_DIR = Path("~/.cache/mloop-bench").expanduser()

S3 = Annotated[
    bool, typer.Option("--s3", help="Store in moto's S3 server instead of a local folder.")
]
KeepData = Annotated[
    bool, typer.Option(help="Keep the generated CSV in --data-dir for the next run.")
]
DataDir = Annotated[
    Path, typer.Option(help="Cache of generated CSVs (used whenever it has the file).")
]
