"""What every command shares: the global options, one lazily built client, the two consoles."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from mloop_client.client import MLoopClient
from mloop_client.errors import MLoopError

ClientFactory = Callable[[str | None, str | None], MLoopClient]


def default_client(url: str | None, api_key: str | None) -> MLoopClient:
    return MLoopClient(url, api_key)


@dataclass
class Session:
    make_client: ClientFactory
    url: str | None = None
    api_key: str | None = None
    json: bool = False
    out: Console = field(default_factory=lambda: Console(highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))
    _client: MLoopClient | None = None

    @property
    def client(self) -> MLoopClient:
        if self._client is None:
            self._client = self.make_client(self.url, self.api_key)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def emit(self, data: Any, render: Callable[[], None]) -> None:
        """`--json`: the API's JSON alone on stdout; otherwise the human rendering."""
        if self.json:
            if data is not None:
                typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            render()

    def say(self, message: str) -> None:
        """A plain line for people on stdout (never read as Rich markup)."""
        self.out.print(Text(message))

    def note(self, message: str) -> None:
        """A remark for people (stderr), kept off stdout so `--json` output stays parseable."""
        self.err.print(Text(message, style="yellow"))

    def report(self, error: MLoopError) -> None:
        heading = error.title if error.status is None else f"{error.title} ({error.status})"
        self.err.print(Text(f"Error: {heading}", style="bold red"))
        if error.detail:
            self.err.print(Text(error.detail))
        for item in error.errors:
            loc = ".".join(str(part) for part in item.get("loc") or []) or "-"
            self.err.print(Text(f"  {loc}: {item.get('msg', '')}"))
        if error.status == 401 and not self.client.api_key:
            self.err.print(Text("No API key given: set MLOOP_API_KEY or pass --api-key."))


def session(ctx: typer.Context) -> Session:
    found = ctx.find_object(Session)
    assert found is not None, "the root callback sets up the session"
    return found
