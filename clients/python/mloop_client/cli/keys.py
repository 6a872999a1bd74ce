"""`mloop keys ...` (admin keys only)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from mloop_client.cli import render
from mloop_client.cli.session import session

app = typer.Typer(
    help="Create, list and revoke API keys (needs an admin key).", no_args_is_help=True
)

KEY_FIELDS = [
    ("ID", "id"),
    ("Name", "name"),
    ("Role", "role"),
    ("Scenarios", "scenarios"),
    ("Prefix", "prefix"),
    ("Created", "created_at"),
    ("Revoked", "revoked_at"),
]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the key.")],
    role: Annotated[str, typer.Option(help="One of: admin, editor, viewer, predictor.")],
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", help="Limit the key to this scenario id; repeat for several."),
    ] = None,
) -> None:
    """Create a key; its secret is printed this once."""
    s = session(ctx)
    key = s.client.create_key(name, role, scenarios=scenario)

    def show() -> None:
        s.out.print(render.details("Key created", key, KEY_FIELDS))
        s.out.print(Text.assemble(("Secret: ", "bold"), (str(key["key"]), "bold green")))

    s.emit(key, show)
    s.note("Store the secret now: it will not be shown again.")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List keys (every page). `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    keys = list(s.client.iter_keys())
    s.emit({"items": keys, "next_cursor": None}, lambda: s.out.print(_keys(keys)))


def _keys(keys: list[dict[str, Any]]) -> Any:
    return render.listing(
        f"Keys ({len(keys)})",
        ["ID", "Name", "Role", "Scenarios", "Prefix", "Created", "Revoked"],
        (
            [
                key["id"],
                key.get("name"),
                key.get("role"),
                "all" if key.get("scenarios") is None else key["scenarios"],
                key.get("prefix"),
                render.when(key.get("created_at")),
                render.when(key.get("revoked_at")),
            ]
            for key in keys
        ),
    )


@app.command("revoke")
def revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke a key: it stops working at once."""
    s = session(ctx)
    s.client.revoke_key(key_id)
    s.emit(None, lambda: s.say(f"Revoked key {key_id}."))
