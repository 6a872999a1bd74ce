"""Workflow definitions and data preparation on the real local stack (gateway and trainer
processes over the local broker, Postgres and artifact folder).

Definitions go through the API: stored, read back, versioned, and refused with the line and
column of each fault. Preparation is driven the way the scheduler's workflow runner drives it:
a `PrepareDataset` command on the bus; the trainer writes the file and the gateway records it
as the next version of its data path.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer
from mloop_common import topics
from mloop_common.messages.commands import PrepareDataset
from mloop_common.messages.envelope import Message
from mloop_common.settings import Settings

from tests.fixtures.messaging import read_topic
from tests.fixtures.services import RunningGateway
from tests.fixtures.training import RunningTrainer
from tests.integration.training_data import csv

WAIT = 60.0
YAML = "application/yaml"

VALID = """\
steps:
  - name: preprocess
    type: data_preprocessing
    config:
      inputPath: data/raw.csv
      outputPath: data/processed.csv
      derive: {ratio: "a / b"}
      filter: "ratio > 0.5"
  - name: train
    type: model_training
    needs: [preprocess]
    config: {algorithm: lightgbm, parameters: {learningRate: 0.1, numLeaves: 31}}
  - name: gate
    type: evaluation
    needs: [train]
    config: {gates: ["accuracy >= 0.8"]}
  - name: deploy
    type: deployment
    needs: [gate]
"""


def raw_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2.0, None, 4.0, 5.0, 6.0, 7.0, 8.0],
            "b": [4, 2, 1, 2, 1, 8, 1, 2],
            "name": ["Ann", "Bo", "Cy", "Di", "Ed", "Fa", "Gu", "Ha"],
            "label": ["x", "y", "x", "y", "x", "y", "x", "y"],
        }
    )


@pytest.fixture(scope="module")
def client(gateway: RunningGateway, trainers: list[RunningTrainer]) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


@pytest.fixture(scope="module")
def sid(client: httpx.Client) -> str:
    created = client.post(
        "/api/scenarios",
        json={
            "name": "workflow-defs",
            "task_type": "classification",
            "deployment_policy": "manual",
        },
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    upload = client.post(
        f"/api/scenarios/{sid}/data",
        files={"file": ("raw.csv", csv(raw_frame()))},
        data={"path": "data/raw.csv", "target": "label"},
    )
    assert upload.status_code in (200, 201), upload.text
    return sid


def put(
    client: httpx.Client, sid: str, text: str, kind: str = "train", **kw: Any
) -> httpx.Response:
    headers = {"Content-Type": YAML, **kw.pop("headers", {})}
    return client.post(
        f"/api/scenarios/{sid}/workflows/{kind}", content=text.encode(), headers=headers, **kw
    )


# -- definitions -----------------------------------------------------------------------------------


def test_a_valid_workflow_is_stored_versioned_and_readable(client: httpx.Client, sid: str) -> None:
    first = put(client, sid, VALID)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["kind"] == "train" and body["source"] == VALID
    assert [s["name"] for s in body["steps"]] == ["preprocess", "train", "gate", "deploy"]
    train = body["spec"]["steps"][1]
    assert train["config"]["parameters"] == {"learning_rate": 0.1, "num_leaves": 31}
    assert train["config"]["data_path"] == "data/processed.csv"
    assert train["retries"] >= 0

    second = client.post(
        f"/api/scenarios/{sid}/workflows/train", json={"yaml": VALID.replace("0.8", "0.7")}
    )
    assert second.status_code == 201, second.text
    assert second.json()["version"] == body["version"] + 1

    latest = client.get(f"/api/scenarios/{sid}/workflows/train")
    assert latest.status_code == 200 and latest.json()["id"] == second.json()["id"]
    older = client.get(f"/api/scenarios/{sid}/workflows/train", params={"version": body["version"]})
    assert older.json()["id"] == body["id"] and older.json()["spec"] == body["spec"]
    versions = client.get(f"/api/scenarios/{sid}/workflows/train/versions").json()["items"]
    assert [v["version"] for v in versions][:2] == [body["version"] + 1, body["version"]]
    assert "source" not in versions[0]

    audit = client.get("/api/audit", params={"scenario_id": sid, "action": "workflow.define"})
    assert audit.status_code == 200 and len(audit.json()["items"]) >= 2


def test_predict_workflows_and_missing_ones(client: httpx.Client, sid: str) -> None:
    created = client.post(
        "/api/scenarios",
        json={"name": "no-workflows", "task_type": "regression", "deployment_policy": "manual"},
    ).json()
    missing = client.get(f"/api/scenarios/{created['id']}/workflows/predict")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    text = "steps:\n  - {name: clean, type: data_preprocessing, config: {impute: {a: 0}}}\n"
    stored = put(client, sid, text, kind="predict", headers={"Content-Type": "text/plain"})
    assert stored.status_code == 201, stored.text
    assert client.get(f"/api/scenarios/{sid}/workflows/predict").json()["kind"] == "predict"
    filtered = put(
        client,
        sid,
        "steps:\n  - {name: f, type: data_preprocessing, config: {filter: 'a > 1'}}",
        kind="predict",
    )
    assert filtered.status_code == 422
    assert "cannot filter" in filtered.json()["errors"][0]["message"]
    assert client.get(f"/api/scenarios/{sid}/workflows/deploy").status_code == 422


REFUSALS = [
    (
        "unknown step type",
        "steps:\n  - name: a\n    type: magic\n",
        "steps[0].type",
        3,
        11,
        "unknown step type 'magic'",
    ),
    (
        "unknown needs",
        "steps:\n  - {name: t, type: model_training, needs: [ghost]}\n",
        "steps[0].needs[0]",
        2,
        45,
        "unknown step 'ghost'",
    ),
    (
        "cycle",
        "steps:\n"
        "  - {name: a, type: notification, needs: [b], config: {url: 'http://h.example'}}\n"
        "  - {name: b, type: notification, needs: [a], config: {url: 'http://h.example'}}\n",
        "steps[1].needs[0]",
        3,
        43,
        "a → b → a",
    ),
    (
        "bad expression",
        "steps:\n  - name: p\n    type: data_preprocessing\n"
        '    config: {outputPath: o.csv, derive: {c: "a + * b"}}\n',
        "steps[0].config.derive.c",
        4,
        50,
        "expected a value",
    ),
    (
        "unknown column",
        "steps:\n  - name: p\n    type: data_preprocessing\n"
        "    config: {outputPath: o.csv, filter: 'nope > 1'}\n",
        "steps[0].config.filter",
        4,
        42,
        "unknown column 'nope'",
    ),
    (
        "unknown data path",
        "steps:\n  - {name: p, type: data_preprocessing, "
        "config: {inputPath: x.csv, outputPath: o.csv}}\n",
        "steps[0].config.inputPath",
        2,
        61,
        "no data path 'x.csv'",
    ),
    (
        "bad hyperparameter",
        "steps:\n  - name: t\n    type: model_training\n"
        "    config: {algorithm: lightgbm, parameters: {numLeaves: 1}}\n",
        "steps[0].config.parameters.numLeaves",
        4,
        59,
        "num_leaves must be at least 2",
    ),
    (
        "algorithm of another task",
        "steps:\n  - {name: t, type: model_training, config: {algorithm: linear_regression}}\n",
        "steps[0].config.algorithm",
        2,
        57,
        "unknown algorithm 'linear_regression' for classification",
    ),
    (
        "unknown config key",
        "steps:\n  - {name: d, type: deployment, config: {whenever: always}}\n",
        "steps[0].config.whenever",
        2,
        42,
        "unknown key 'whenever'",
    ),
    ("YAML syntax", "steps:\n  - name: a\n    type: [x\n", "", 4, 1, "YAML syntax error"),
    ("empty steps", "steps: []\n", "steps", 1, 8, "non-empty list"),
]


@pytest.mark.parametrize(
    ("text", "path", "line", "column", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refusals_say_where(
    client: httpx.Client, sid: str, text: str, path: str, line: int, column: int, message: str
) -> None:
    refused = put(client, sid, text)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    errors = refused.json()["errors"]
    found = next((e for e in errors if e["path"] == path), None)
    assert found is not None, errors
    assert (found["line"], found["column"]) == (line, column), found
    assert message in found["message"], found


def test_bad_bodies(client: httpx.Client, sid: str, gateway: RunningGateway) -> None:
    url = f"/api/scenarios/{sid}/workflows/train"
    assert (
        client.post(url, content=b"steps: []", headers={"Content-Type": "image/png"}).status_code
        == 415
    )
    assert client.post(url, content=b"\xff\xfe", headers={"Content-Type": YAML}).status_code == 422
    assert client.post(url, json={"yml": "x"}).status_code == 422
    assert (
        client.post(url, content=b"{", headers={"Content-Type": "application/json"}).status_code
        == 422
    )
    big = b"# " + b"x" * 300_000
    assert client.post(url, content=big, headers={"Content-Type": YAML}).status_code == 413
    assert put(client, str(uuid.uuid4()), VALID).status_code == 404
    key = client.post("/api/keys", json={"name": "wf-viewer", "role": "viewer"}).json()["key"]
    with gateway.client(key) as viewer:
        assert put(viewer, sid, VALID).status_code == 403
        assert viewer.get(url).status_code == 200


# -- data preparation ------------------------------------------------------------------------------


def _source(client: httpx.Client, sid: str) -> str:
    return client.get(f"/api/scenarios/{sid}/data/data/raw.csv").json()["latest"]["id"]


def _versions(client: httpx.Client, sid: str, path: str) -> list[dict[str, Any]]:
    found = client.get(f"/api/scenarios/{sid}/data/{path}/versions")
    return found.json()["items"] if found.status_code == 200 else []


def _wait_for_version(client: httpx.Client, sid: str, path: str, dataset_id: str) -> dict:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for version in _versions(client, sid, path):
            if version["id"] == dataset_id:
                return version
        time.sleep(0.3)
    raise AssertionError(f"no version {dataset_id} of {path} after {WAIT} s")


def test_prepare_dataset_records_a_new_version_once(
    client: httpx.Client, sid: str, gateway: RunningGateway
) -> None:
    dataset_id = uuid.uuid4()
    command = PrepareDataset(
        scenario_id=uuid.UUID(sid),
        source_dataset_id=uuid.UUID(_source(client, sid)),
        dataset_id=dataset_id,
        path="data/prepared.csv",
        workflow_run_id=uuid.uuid4(),
        recipe={
            "impute": {"a": "median"},
            "derive": {"ratio": "a / b", "shout": "upper(name) + '!'"},
            "filter": "ratio > 0.5",
            "select": ["ratio", "shout", "label"],
        },
    )
    asyncio.run(_publish(gateway.settings, command, command))  # the same command twice

    version = _wait_for_version(client, sid, "data/prepared.csv", str(dataset_id))
    assert [c["name"] for c in version["columns"]] == ["ratio", "shout", "label"]
    types = {c["name"]: c["type"] for c in version["columns"]}
    assert types["ratio"] == "numeric"
    # a: 1, 2, (median 5), 4, 5, 6, 7, 8 over b: 4, 2, 1, 2, 1, 8, 1, 2 → ratios
    # .25, 1, 5, 2, 5, .75, 7, 4; the filter keeps all but the first
    assert version["rows"] == 7 and version["version"] == 1
    preview = client.get(f"/api/scenarios/{sid}/data/data/prepared.csv/preview").json()
    assert preview["columns"] == ["ratio", "shout", "label"]
    assert [row[1] for row in preview["rows"]] == ["BO!", "CY!", "DI!", "ED!", "FA!", "GU!", "HA!"]
    assert [float(row[0]) for row in preview["rows"]][:3] == [1.0, 5.0, 2.0]

    deadline = time.monotonic() + WAIT  # DatasetUploaded reached the profiler
    while _versions(client, sid, "data/prepared.csv")[0]["profile_status"] == "pending":
        assert time.monotonic() < deadline, "the prepared version was never profiled"
        time.sleep(0.3)
    time.sleep(1.0)  # a duplicate, were there one, would show by now
    assert len(_versions(client, sid, "data/prepared.csv")) == 1
    audit = client.get("/api/audit", params={"scenario_id": sid, "action": "data.prepare"})
    assert [e["resource_id"] for e in audit.json()["items"]] == [str(dataset_id)]


def test_a_recipe_that_cannot_apply_reports_why(
    client: httpx.Client, sid: str, gateway: RunningGateway
) -> None:
    dataset_id = uuid.uuid4()
    command = PrepareDataset(
        scenario_id=uuid.UUID(sid),
        source_dataset_id=uuid.UUID(_source(client, sid)),
        dataset_id=dataset_id,
        path="data/broken.csv",
        recipe={"derive": {"c": "missing_column * 2"}},
    )
    asyncio.run(_publish(gateway.settings, command))

    prepared = _find(gateway.settings, topics.DATASET_PREPARED, "dataset_id", str(dataset_id))
    assert "unknown column 'missing_column'" in prepared["error"]
    assert prepared["artifact_key"] == "" and prepared["causation_id"] == str(command.event_id)
    letter = _find(
        gateway.settings,
        topics.DEAD_LETTER,
        "consumer",
        "mloop.trainer.prepare",
        lambda letter: str(command.event_id) in letter["payload"],
    )
    assert "unknown column 'missing_column'" in letter["error"]
    time.sleep(1.0)
    assert _versions(client, sid, "data/broken.csv") == []


# -- helpers ---------------------------------------------------------------------------------------


async def _publish(settings: Settings, *messages: Message) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.require_kafka(), enable_idempotence=False
    )
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(
                message.topic, message.model_dump_json().encode(), key=message.partition_key
            )
    finally:
        await producer.stop()


def _find(
    settings: Settings, topic: str, field: str, value: str, also: Any = None
) -> dict[str, Any]:
    """The first record of `topic` whose JSON has `field == value` (and passes `also`)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        records = asyncio.run(read_topic(settings, topic, expect=10**9, timeout=2.0))
        for record in records:
            body = json.loads(record.value)
            if body.get(field) == value and (also is None or also(body)):
                return body
    raise AssertionError(f"no record with {field}={value} on {topic} after {WAIT} s")
