"""`mloop webhooks list|create|update|enable|disable|delete|deliveries SCENARIO ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from mloop_client.cli import render
from mloop_client.cli.session import session
from mloop_client.webhooks import WEBHOOK_EVENTS

app = typer.Typer(
    help="Per-scenario webhooks: signed POSTs of chosen events, retried with backoff.",
    no_args_is_help=True,
)

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]
WebhookId = Annotated[str, typer.Argument(help="The webhook's id.")]

WEBHOOK_FIELDS = [
    ("ID", "id"),
    ("URL", "url"),
    ("Events", "events"),
    ("Enabled", "enabled"),
    ("Created", "created_at"),
]


@app.command("create")
def create(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    url: Annotated[str, typer.Argument(help="http(s) URL the events are POSTed to.")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            "-e",
            help=f"Event type to send; repeat for several. One of: {', '.join(WEBHOOK_EVENTS)}.",
        ),
    ],
    secret: Annotated[
        str | None,
        typer.Option(help="Signing secret (16-256 characters); generated when not given."),
    ] = None,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create it without sending to it yet.")
    ] = False,
) -> None:
    """Create a webhook; its signing secret is printed this once."""
    s = session(ctx)
    hook = s.client.create_webhook(
        scenario_id, url, event, secret=secret, enabled=False if disabled else None
    )

    def show() -> None:
        s.out.print(render.details("Webhook created", hook, WEBHOOK_FIELDS))
        s.out.print(Text.assemble(("Secret: ", "bold"), (str(hook["secret"]), "bold green")))

    s.emit(hook, show)
    s.note("Store the secret now: it will not be shown again.")


@app.command("list")
def list_(ctx: typer.Context, scenario_id: ScenarioId) -> None:
    """List the scenario's webhooks (every page). `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    hooks = list(s.client.iter_webhooks(scenario_id))
    table = render.listing(
        f"Webhooks ({len(hooks)})",
        ["ID", "URL", "Events", "Enabled", "Created"],
        (
            [
                hook["id"],
                hook.get("url"),
                hook.get("events"),
                "yes" if hook.get("enabled") else "no",
                render.when(hook.get("created_at")),
            ]
            for hook in hooks
        ),
    )
    s.emit({"items": hooks, "next_cursor": None}, lambda: s.out.print(table))


@app.command("update")
def update(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    webhook_id: WebhookId,
    url: Annotated[str | None, typer.Option(help="A new http(s) target URL.")] = None,
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event", "-e", help="Event type to send; repeat for several (replaces the list)."
        ),
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="A new signing secret (16-256 characters).")
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Send to it, or stop sending.")
    ] = None,
) -> None:
    """Change a webhook; what is not given keeps its value."""
    s = session(ctx)
    hook = s.client.update_webhook(
        scenario_id, webhook_id, url=url, events=event or None, secret=secret, enabled=enabled
    )
    s.emit(hook, lambda: s.out.print(render.details("Webhook updated", hook, WEBHOOK_FIELDS)))


@app.command("enable")
def enable(ctx: typer.Context, scenario_id: ScenarioId, webhook_id: WebhookId) -> None:
    """Send to a webhook again (events from now on)."""
    s = session(ctx)
    hook = s.client.enable_webhook(scenario_id, webhook_id)
    s.emit(hook, lambda: s.say(f"Webhook {webhook_id} is enabled."))


@app.command("disable")
def disable(ctx: typer.Context, scenario_id: ScenarioId, webhook_id: WebhookId) -> None:
    """Stop sending to a webhook: no new deliveries, and pending ones are given up."""
    s = session(ctx)
    hook = s.client.disable_webhook(scenario_id, webhook_id)
    s.emit(hook, lambda: s.say(f"Webhook {webhook_id} is disabled."))


@app.command("delete")
def delete(ctx: typer.Context, scenario_id: ScenarioId, webhook_id: WebhookId) -> None:
    """Delete a webhook and its deliveries (pending ones are not sent)."""
    s = session(ctx)
    s.client.delete_webhook(scenario_id, webhook_id)
    s.emit(None, lambda: s.say(f"Deleted webhook {webhook_id}."))


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    webhook_id: WebhookId,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
) -> None:
    """Show the webhook's latest deliveries: status, tries, last answer or error."""
    s = session(ctx)
    page = s.client.list_webhook_deliveries(scenario_id, webhook_id, limit=limit)
    items: list[dict[str, Any]] = page["items"]
    table = render.listing(
        f"Deliveries ({len(items)})",
        ["ID", "Event", "Status", "Tries", "Last answer", "Next try", "Created"],
        (
            [
                item["id"],
                item.get("event_type"),
                item.get("status"),
                item.get("attempts"),
                _answer(item),
                render.when(item.get("next_attempt_at")) if item.get("status") == "pending" else "",
                render.when(item.get("created_at")),
            ]
            for item in items
        ),
    )
    s.emit(page, lambda: s.out.print(table))


def _answer(item: dict[str, Any]) -> str:
    if item.get("last_error"):
        return str(item["last_error"])
    code = item.get("last_status_code")
    return "" if code is None else f"HTTP {code}"
