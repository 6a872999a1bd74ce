"""`MLoopClient.send_feedback` and `mloop feedback send` on `httpx.MockTransport`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from mloop_client import MLoopError

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

PATH = f"/api/scenarios/{SCENARIO_ID}/feedback"


def answer(request: httpx.Request) -> httpx.Response:
    """Refuses items whose id starts with `bad` (as the gateway would a forged id)."""
    items = json.loads(request.content)["items"]
    refused = [
        {
            "index": i,
            "prediction_id": item["prediction_id"],
            "reason": "unknown or forged prediction id",
        }
        for i, item in enumerate(items)
        if str(item.get("prediction_id", "")).startswith("bad")
    ]
    return httpx.Response(202, json={"accepted": len(items) - len(refused), "refused": refused})


def gateway() -> FakeGateway:
    fake = FakeGateway()
    fake.on("POST", PATH, answer)
    return fake


def bodies(fake: FakeGateway) -> list[dict[str, Any]]:
    return [json.loads(request.content) for request in fake.requests]


def test_send_feedback_posts_items_in_batches_and_merges_the_answers() -> None:
    fake = gateway()
    items = [{"prediction_id": f"p{i}", "actual": i} for i in range(5)]
    items[3]["prediction_id"] = "bad3"
    with fake.client() as client:
        result = client.send_feedback(SCENARIO_ID, iter(items), batch_size=2)
    assert [len(body["items"]) for body in bodies(fake)] == [2, 2, 1]
    assert [item for body in bodies(fake) for item in body["items"]] == items
    assert result["accepted"] == 4
    assert result["refused"] == [
        {"index": 3, "prediction_id": "bad3", "reason": "unknown or forged prediction id"}
    ]
    # Each request carries an Idempotency-Key, so a lost answer may be sent again safely.
    assert all(request.headers.get("Idempotency-Key") for request in fake.requests)


def test_send_feedback_errors_raise() -> None:
    fake = FakeGateway()
    errors = [{"loc": ["body", "items"], "msg": "at most 1000 per request"}]
    fake.on("POST", PATH, problem(422, "Invalid request", "too many", errors=errors))
    with fake.client() as client, pytest.raises(MLoopError) as caught:
        client.send_feedback(SCENARIO_ID, [{"prediction_id": "p", "actual": 1}])
    assert caught.value.status == 422
    with fake.client() as client, pytest.raises(ValueError):
        client.send_feedback(SCENARIO_ID, [], batch_size=0)


def test_cli_feedback_from_a_jsonl_file_or_one_item(tmp_path: Path) -> None:
    fake = gateway()
    cli = Cli(fake)
    lines = tmp_path / "items.jsonl"
    lines.write_text(
        '{"prediction_id": "p1", "actual": "yes"}\n\n{"prediction_id": "bad2", "actual": 2}\n'
    )
    shown = cli("feedback", "send", SCENARIO_ID, "--file", str(lines))
    assert shown.exit_code == 0, shown.output
    assert "Accepted 1 of 2" in shown.output and "unknown or forged" in shown.output
    assert bodies(fake)[-1] == {
        "items": [{"prediction_id": "p1", "actual": "yes"}, {"prediction_id": "bad2", "actual": 2}]
    }

    shown = cli(
        "--json", "feedback", "send", SCENARIO_ID, "--prediction-id", "p9", "--actual", "3.5"
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == {"accepted": 1, "refused": []}
    assert bodies(fake)[-1] == {"items": [{"prediction_id": "p9", "actual": 3.5}]}
    cli("feedback", "send", SCENARIO_ID, "--prediction-id", "p9", "--actual", "setosa")
    assert bodies(fake)[-1] == {"items": [{"prediction_id": "p9", "actual": "setosa"}]}

    shown = cli(
        "feedback", "send", SCENARIO_ID, "-f", "-", input='{"prediction_id": "p", "actual": 1}\n'
    )
    assert shown.exit_code == 0, shown.output
    assert bodies(fake)[-1] == {"items": [{"prediction_id": "p", "actual": 1}]}


def test_cli_feedback_needs_one_source_and_json_lines(tmp_path: Path) -> None:
    cli = Cli(gateway())
    assert cli("feedback", "send", SCENARIO_ID).exit_code != 0
    assert cli("feedback", "send", SCENARIO_ID, "--prediction-id", "p").exit_code != 0
    lines = tmp_path / "items.jsonl"
    lines.write_text('{"prediction_id": "p1", "actual": 1}\n')
    both = cli("feedback", "send", SCENARIO_ID, "--file", str(lines), "--actual", "1")
    assert both.exit_code != 0
    lines.write_text('{"prediction_id": "p1", "actual": 1}\n{oops\n')
    bad = cli("feedback", "send", SCENARIO_ID, "--file", str(lines))
    assert bad.exit_code != 0 and "line 2" in bad.output
    assert cli("feedback", "send", SCENARIO_ID, "--file", str(tmp_path / "none")).exit_code != 0


def test_cli_feedback_exits_1_when_every_item_is_refused() -> None:
    shown = Cli(gateway())(
        "feedback", "send", SCENARIO_ID, "--prediction-id", "bad", "--actual", "1"
    )
    assert shown.exit_code == 1
    assert "Accepted 0 of 1" in shown.output
