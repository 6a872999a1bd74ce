"""`mloop deployments SCENARIO` (who answers, and the alias history) and `mloop ab-test ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group

from mloop_client.cli import render, runs
from mloop_client.cli.session import Session, session

ScenarioId = Annotated[str, typer.Argument(help="The scenario's id.")]
TestId = Annotated[str, typer.Argument(help="The A/B test's id.")]
Wait = Annotated[
    bool, typer.Option("--wait", help="Wait until the scheduler has applied the change.")
]
Timeout = Annotated[float, typer.Option(help="Seconds --wait waits at most.")]

ab_tests = typer.Typer(help="Start, list, show and end A/B and shadow tests.", no_args_is_help=True)

STATE_FIELDS = [
    ("Version", "version"),
    ("Mode", "mode"),
    ("Champion", "champion"),
    ("Challenger", "challenger"),
    ("Challenger share", "challenger_share"),
    ("Sticky column", "sticky_column"),
    ("A/B test", "ab_test"),
    ("Rollback target", "rollback_target"),
]
TEST_FIELDS = [
    ("Test id", "id"),
    ("Mode", "mode"),
    ("Status", "status"),
    ("Champion", "champion_model_id"),
    ("Challenger", "challenger_model_id"),
    ("Challenger share", "challenger_share"),
    ("Sticky column", "sticky_column"),
    ("Primary metric", "primary_metric"),
    ("Min samples", "min_samples"),
    ("Winner", "winner_model_id"),
    ("End reason", "end_reason"),
    ("Started", "started_at"),
    ("Ended", "ended_at"),
]


def show(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    history: Annotated[int, typer.Option(help="How many alias changes to show.")] = 20,
) -> None:
    """Show who answers the scenario's requests (champion, challenger, split) and its history."""
    s = session(ctx)
    state = s.client.deployments(scenario_id, history_limit=history)
    s.emit(state, lambda: s.out.print(deployment_view(state)))


def deployment_view(state: dict[str, Any]) -> Group:
    shown = {
        **state,
        "champion": _model(state.get("champion")),
        "challenger": _model(state.get("challenger")),
        "ab_test": (state.get("ab_test") or {}).get("id"),
    }
    parts: list[Any] = [render.details("Deployment", shown, STATE_FIELDS)]
    if not state.get("champion"):
        parts.append("No champion yet: promote a model with `mloop models promote`.")
    if state.get("history"):
        parts.append(history_table(state["history"]))
    return Group(*parts)


def _model(summary: dict[str, Any] | None) -> str | None:
    if not summary:
        return None
    metric = summary.get("primary_metric")
    value = runs.number(summary.get("primary_value"))
    what = ", ".join(
        part for part in (summary.get("algorithm"), f"{metric} {value}" if metric else None) if part
    )
    since = render.when(summary.get("since"))
    return f"{summary['model_id']} ({what})" + (f" since {since}" if since else "")


def history_table(entries: list[dict[str, Any]]) -> Any:
    return render.listing(
        "History",
        ["Version", "At", "Alias", "Action", "Model", "Previous", "Reason", "By"],
        (
            [
                entry["version"],
                render.when(entry.get("at")),
                entry["alias"],
                entry["action"],
                entry.get("model_id"),
                entry.get("previous_model_id"),
                entry.get("reason"),
                entry.get("requested_by_name") or entry.get("requested_by") or "system",
            ]
            for entry in entries
        ),
    )


def report_change(
    s: Session, scenario_id: str, accepted: dict[str, Any], *, wait: bool, timeout: float
) -> None:
    """After a promote/rollback/test end: say what was accepted, or wait and show the result."""
    if not wait:
        s.emit(
            accepted,
            lambda: s.say(
                f"Accepted: model {accepted['model_id']} will be the champion. "
                f"See `mloop deployments {scenario_id}`."
            ),
        )
        return
    state = s.client.wait_for_deployment(
        scenario_id,
        champion=accepted["model_id"],
        version_at_least=accepted["version"] + 1,
        timeout=timeout,
    )
    s.emit(state, lambda: s.out.print(deployment_view(state)))


# -- mloop ab-test ... ---------------------------------------------------------------------------


@ab_tests.command("start")
def start(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    challenger: Annotated[str, typer.Argument(help="The challenger model's id.")],
    shadow: Annotated[
        bool,
        typer.Option(
            "--shadow", help="Shadow mode: the challenger scores every request, never answers."
        ),
    ] = False,
    share: Annotated[
        float | None,
        typer.Option(help="Share of requests the challenger answers (0-1; default 0.1)."),
    ] = None,
    champion: Annotated[
        str | None, typer.Option(help="Check that this model is the champion.")
    ] = None,
    sticky_column: Annotated[
        str | None, typer.Option(help="Record field whose value always picks the same arm.")
    ] = None,
    metric: Annotated[str | None, typer.Option(help="Metric the arms are compared on.")] = None,
    min_samples: Annotated[
        int | None, typer.Option(help="Labelled predictions each arm needs.")
    ] = None,
    wait: Wait = False,
    timeout: Timeout = 60,
) -> None:
    """Start an A/B test (or, with --shadow, a shadow test) of a challenger."""
    s = session(ctx)
    accepted = s.client.start_ab_test(
        scenario_id,
        challenger,
        mode="shadow" if shadow else "ab_test",
        challenger_share=share,
        champion_model_id=champion,
        sticky_column=sticky_column,
        primary_metric=metric,
        min_samples=min_samples,
    )
    if wait:
        test = s.client.wait_for_ab_test(scenario_id, accepted["test_id"], timeout=timeout)
        s.emit(test, lambda: s.out.print(ab_test_view(test)))
        return
    s.emit(
        accepted,
        lambda: s.say(
            f"Accepted: A/B test {accepted['test_id']} ({accepted['mode']}). "
            f"See `mloop ab-test show {scenario_id} {accepted['test_id']}`."
        ),
    )


@ab_tests.command("list")
def list_(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    status: Annotated[str | None, typer.Option(help="running or ended.")] = None,
) -> None:
    """List a scenario's tests, newest first. `--json` prints `{"items", "next_cursor"}`."""
    s = session(ctx)
    items = list(s.client.iter_ab_tests(scenario_id, status=status))
    s.emit(
        {"items": items, "next_cursor": None},
        lambda: s.out.print(
            render.listing(
                f"A/B tests ({len(items)})",
                ["ID", "Mode", "Status", "Champion", "Challenger", "Share", "Winner", "Started"],
                (
                    [
                        t["id"],
                        t["mode"],
                        t["status"],
                        t["champion_model_id"],
                        t["challenger_model_id"],
                        t["challenger_share"],
                        t.get("winner_model_id"),
                        render.when(t.get("started_at")),
                    ]
                    for t in items
                ),
            )
        ),
    )


@ab_tests.command("show")
def show_test(ctx: typer.Context, scenario_id: ScenarioId, test_id: TestId) -> None:
    """Show a test with its predictions per arm and its results."""
    s = session(ctx)
    test = s.client.ab_test(scenario_id, test_id)
    s.emit(test, lambda: s.out.print(ab_test_view(test)))


def ab_test_view(test: dict[str, Any]) -> Group:
    parts: list[Any] = [render.details("A/B test", test, TEST_FIELDS)]
    arms = test.get("arms") or {}
    if arms:
        parts.append(
            render.listing(
                "Arms",
                ["Arm", "Model", "Logged as", "Predictions", "Labelled", "Metric"],
                (
                    [
                        name,
                        arm["model_id"],
                        arm["arm"],
                        arm["predictions"],
                        arm.get("labelled"),
                        runs.number(arm.get("metric")),
                    ]
                    for name, arm in arms.items()
                ),
            )
        )
    results = test.get("results") or {}
    if results.get("detail"):
        parts.append(f"Results: {results.get('status')}. {results['detail']}")
    return Group(*parts)


@ab_tests.command("end")
def end(
    ctx: typer.Context,
    scenario_id: ScenarioId,
    test_id: TestId,
    promote: Annotated[
        bool, typer.Option("--promote", help="Make the challenger the champion.")
    ] = False,
    wait: Wait = False,
    timeout: Timeout = 60,
) -> None:
    """End a running test, keeping the champion or (--promote) promoting the challenger."""
    s = session(ctx)
    accepted = s.client.end_ab_test(scenario_id, test_id, promote_challenger=promote)
    report_change(s, scenario_id, accepted, wait=wait, timeout=timeout)
