"""The root of `mloop`: global options, API errors turned into messages and exit code 1, `up`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from mloop_client.cli import (
    batch,
    data,
    deployments,
    experiments,
    feedback,
    keys,
    models,
    monitoring,
    predict,
    predictions,
    runs,
    scenarios,
    triggers,
    webhooks,
    workflows,
)
from mloop_client.cli.session import ClientFactory, Session, default_client
from mloop_client.client import DEFAULT_URL
from mloop_client.errors import MLoopError

LOCALSTACK = "mloop_common.localstack"


class _Root(TyperGroup):
    """Reports an API error (or an unreachable gateway) on stderr and exits 1, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MLoopError as error:
            found = ctx.find_object(Session)
            (found or Session(default_client)).report(error)
            raise typer.Exit(1) from None


def build_app(make_client: ClientFactory = default_client) -> typer.Typer:
    """The `mloop` application; tests pass a `make_client(url, api_key)` on a mock transport."""
    app = typer.Typer(
        cls=_Root,
        help="MLoop command line: scenarios, data, experiments, runs, models and keys.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        url: Annotated[
            str | None,
            typer.Option(envvar="MLOOP_URL", help="Gateway URL.", show_default=DEFAULT_URL),
        ] = None,
        api_key: Annotated[
            str | None, typer.Option(envvar="MLOOP_API_KEY", help="API key.", show_default=False)
        ] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print the API's JSON only (for scripts).")
        ] = False,
    ) -> None:
        s = Session(make_client, url=url, api_key=api_key, json=json_output)
        ctx.obj = s
        ctx.call_on_close(s.close)

    app.command("up")(up)
    app.add_typer(scenarios.app, name="scenario")
    app.add_typer(data.app, name="data")
    app.add_typer(experiments.app, name="experiment")
    app.add_typer(runs.app, name="run")
    app.add_typer(models.app, name="models")
    app.command("deployments")(deployments.show)
    app.add_typer(deployments.ab_tests, name="ab-test")
    app.add_typer(batch.app, name="batch")
    app.add_typer(predictions.app, name="predictions")
    app.command("predict")(predict.predict)
    app.add_typer(feedback.app, name="feedback")
    app.add_typer(keys.app, name="keys")
    app.add_typer(webhooks.app, name="webhooks")
    app.add_typer(triggers.app, name="triggers")
    app.add_typer(workflows.app, name="workflow")
    app.add_typer(monitoring.app, name="monitoring")
    return app


def up() -> None:
    """Run the whole platform on this machine (what `make run` does); Ctrl-C stops it."""
    if not _importable(LOCALSTACK):
        typer.echo(
            "`mloop up` needs the MLoop server packages (mloop_common), which are not installed "
            "here. Run `make run` in the MLoop repository instead.",
            err=True,
        )
        raise typer.Exit(1)
    command = [sys.executable, "-m", LOCALSTACK]
    if os.name == "nt":  # no exec there: wait for the child instead
        raise typer.Exit(subprocess.call(command))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
