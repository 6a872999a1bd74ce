"""`MLoopClient.predict` and `mloop predict` on `httpx.MockTransport`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from mloop_client import MLoopError

from tests.unit.test_client import SCENARIO_ID, Cli, FakeGateway, problem

PATH = f"/api/scenarios/{SCENARIO_ID}/predict"
MODEL = "11111111-1111-1111-1111-111111111111"


def answer(request: httpx.Request) -> httpx.Response:
    records = json.loads(request.content)["records"]
    return httpx.Response(
        200,
        json={
            "model_id": MODEL,
            "predictions": [
                {
                    "prediction_id": f"{i:032d}",
                    "prediction": "yes" if record.get("a") not in (None, "0") else "no",
                    "probabilities": {"no": 0.25, "yes": 0.75},
                    "arm": "champion",
                    "model_id": MODEL,
                }
                for i, record in enumerate(records)
            ],
        },
    )


def gateway() -> FakeGateway:
    fake = FakeGateway()
    fake.on("POST", PATH, answer)
    return fake


def sent(fake: FakeGateway) -> dict[str, Any]:
    return json.loads(fake.requests[-1].content)


def test_predict_posts_records_and_k() -> None:
    fake = gateway()
    with fake.client() as client:
        result = client.predict(SCENARIO_ID, [{"a": 1}, {"a": None}])
        assert [p["prediction"] for p in result["predictions"]] == ["yes", "no"]
        assert sent(fake) == {"records": [{"a": 1}, {"a": None}]}
        client.predict(SCENARIO_ID, iter([{"user": "u1"}]), k=3)
        assert sent(fake) == {"records": [{"user": "u1"}], "k": 3}


def test_predict_refusals_carry_each_record_and_field() -> None:
    fake = FakeGateway()
    errors = [
        {
            "loc": ["body", "records", 1, "a"],
            "msg": "missing column",
            "record": 1,
            "field": "a",
            "message": "missing column",
            "type": "value_error",
        }
    ]
    fake.on("POST", PATH, problem(422, "Invalid request", "1 of 2 records", errors=errors))
    with fake.client() as client, pytest.raises(MLoopError) as caught:
        client.predict(SCENARIO_ID, [{"a": 1}, {}])
    assert caught.value.status == 422
    assert caught.value.errors[0]["field"] == "a"


def test_cli_predict_from_json_csv_and_stdin(tmp_path: Path) -> None:
    fake = gateway()
    cli = Cli(fake)
    records = tmp_path / "records.json"
    records.write_text(json.dumps({"records": [{"a": 1}, {"a": 0}]}))
    shown = cli("predict", SCENARIO_ID, "--json-file", str(records))
    assert shown.exit_code == 0, shown.output
    assert "Predictions of model" in shown.output and "yes 0.750" in shown.output
    assert sent(fake) == {"records": [{"a": 1}, {"a": 0}]}

    table = tmp_path / "records.csv"
    table.write_text("a,b\n1,x\n,y\n")
    shown = cli("--json", "predict", SCENARIO_ID, "--csv", str(table))
    assert shown.exit_code == 0, shown.output
    assert sent(fake) == {"records": [{"a": "1", "b": "x"}, {"a": None, "b": "y"}]}
    assert json.loads(shown.output)["model_id"] == MODEL

    shown = cli("predict", SCENARIO_ID, "-", "--k", "2", input='[{"a": 1}]')
    assert shown.exit_code == 0, shown.output
    assert sent(fake) == {"records": [{"a": 1}], "k": 2}


def test_cli_predict_needs_exactly_one_source(tmp_path: Path) -> None:
    cli = Cli(gateway())
    assert cli("predict", SCENARIO_ID).exit_code != 0
    records = tmp_path / "r.json"
    records.write_text("[]")
    assert cli("predict", SCENARIO_ID, "-", "--json-file", str(records), input="[]").exit_code != 0
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    assert cli("predict", SCENARIO_ID, "--json-file", str(bad)).exit_code != 0


def test_cli_predict_shows_the_fields_at_fault() -> None:
    fake = FakeGateway()
    errors = [{"loc": ["body", "records", 0, "a"], "msg": "'x' is not a number"}]
    fake.on("POST", PATH, problem(422, "Invalid request", "1 of 1 records", errors=errors))
    shown = Cli(fake)("predict", SCENARIO_ID, "-", input='[{"a": "x"}]')
    assert shown.exit_code == 1
    assert "body.records.0.a: 'x' is not a number" in shown.output
