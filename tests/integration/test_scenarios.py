"""Scenarios on a running gateway: create, page, filter, change, delete; the audit log;
Idempotency-Key; problem+json for every error."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from mloop_common import topics
from mloop_common.db.catalog import IdempotentResponse
from mloop_common.db.engine import Database
from mloop_common.keyring import hash_key
from mloop_common.settings import Settings
from sqlalchemy import func, select

from tests.fixtures.messaging import read_topic
from tests.fixtures.services import RunningGateway


def _create(client, **fields):  # type: ignore[no-untyped-def]
    body = {"name": "churn", "task_type": "classification", **fields}
    response = client.post("/api/scenarios", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_update(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        created = _create(client, description="who leaves", tags=["crm", "weekly"])
        assert uuid.UUID(created["id"])
        assert created["tags"] == ["crm", "weekly"]
        assert created["default_data_path"] is None
        read = client.get(f"/api/scenarios/{created['id']}").json()
        assert read == created
        changed = client.put(f"/api/scenarios/{created['id']}", json={"name": "churn v2"})
        assert changed.status_code == 200
        assert changed.json()["name"] == "churn v2"
        assert changed.json()["description"] == "who leaves"
        assert changed.json()["updated_at"] > created["updated_at"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "x", "task_type": "clustering"}, ["body", "task_type"]),
        ({"task_type": "regression"}, ["body", "name"]),
        ({"name": "  ", "task_type": "regression"}, ["body", "name"]),
        ({"name": "x" * 129, "task_type": "regression"}, ["body", "name"]),
        ({"name": "x", "task_type": "regression", "tags": "a"}, ["body", "tags"]),
        ({"name": "x", "task_type": "regression", "owner": "me"}, ["body", "owner"]),
    ],
)
def test_invalid_scenarios_are_refused_with_the_field(
    gateway: RunningGateway, body: dict, loc: list[str]
) -> None:
    with gateway.client() as client:
        response = client.post("/api/scenarios", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail", "errors"} <= problem.keys()
    assert loc in [error["loc"] for error in problem["errors"]]


def test_malformed_requests_get_problems_not_500(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        broken = client.post(
            "/api/scenarios", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert broken.status_code == 422
        assert client.get("/api/scenarios/not-a-uuid").status_code == 422
        assert client.get(f"/api/scenarios/{uuid.uuid4()}").status_code == 404
        assert client.get("/api/nothing-here").status_code == 404
        assert client.patch("/api/scenarios").status_code == 405
        huge = client.get("/api/scenarios", params={"limit": 10_000})
        assert huge.status_code == 422
        assert client.get("/api/scenarios", params={"cursor": "garbage!"}).status_code == 422
        for response in (broken, huge):
            assert response.headers["content-type"] == "application/problem+json"


def test_pages_and_tag_filter(gateway: RunningGateway) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    with gateway.client() as client:
        made = [_create(client, name=f"s{i}", tags=[tag, f"n{i % 2}"])["id"] for i in range(5)]
        seen, cursor = [], None
        while True:
            params = {"tag": tag, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/scenarios", params=params).json()
            assert len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(made))  # newest first, each once
        both = client.get("/api/scenarios", params=[("tag", tag), ("tag", "n0")]).json()
        assert {item["id"] for item in both["items"]} == {made[0], made[2], made[4]}


def test_default_data_must_exist(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        scenario = _create(client)
        response = client.put(
            f"/api/scenarios/{scenario['id']}", json={"default_data_path": "nowhere.csv"}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "default_data_path"]
        hostile = client.put(f"/api/scenarios/{scenario['id']}", json={"default_data_path": "../x"})
        assert hostile.status_code == 422
        assert (
            client.put(
                f"/api/scenarios/{scenario['id']}", json={"task_type": "regression"}
            ).status_code
            == 422
        )


async def test_delete_removes_everything_and_is_announced(
    gateway: RunningGateway, settings: Settings
) -> None:
    with gateway.client() as client:
        scenario = _create(client)
        uploaded = client.post(
            f"/api/scenarios/{scenario['id']}/data",
            files={"file": ("d.csv", b"a,b\n1,2\n3,4\n")},
        )
        assert uploaded.status_code == 201, uploaded.text
        assert client.delete(f"/api/scenarios/{scenario['id']}").status_code == 204
        assert client.get(f"/api/scenarios/{scenario['id']}").status_code == 404
        assert client.get(f"/api/scenarios/{scenario['id']}/data").status_code == 404
        assert client.delete(f"/api/scenarios/{scenario['id']}").status_code == 404
    records = await read_topic(settings, topics.SCENARIO_DELETED, expect=1_000, timeout=5)
    events = [json.loads(record.value) for record in records]
    assert any(event["scenario_id"] == scenario["id"] for event in events)

    prefix = f"scenarios/{scenario['id']}"
    for _ in range(100):
        if not gateway.store.list(prefix):
            break
        await asyncio.sleep(0.1)
    assert gateway.store.list(prefix) == []


def test_changes_are_audited(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        key = client.post("/api/keys", json={"name": "auditor", "role": "editor"}).json()
        with gateway.client(key["key"]) as editor:
            scenario = _create(editor, name="audited")
            editor.put(f"/api/scenarios/{scenario['id']}", json={"tags": ["x"]})
            assert editor.get("/api/audit").status_code == 403
        entries = client.get("/api/audit", params={"scenario_id": scenario["id"]}).json()["items"]
        assert [(e["action"], e["key_id"], e["key_name"]) for e in entries] == [
            ("scenario.update", key["id"], "auditor"),
            ("scenario.create", key["id"], "auditor"),
        ]
        assert entries[0]["detail"] == {"tags": ["x"]}
        first = client.get("/api/audit", params={"limit": 1}).json()
        second = client.get("/api/audit", params={"limit": 1, "cursor": first["next_cursor"]})
        assert second.json()["items"][0]["id"] < first["items"][0]["id"]


def test_idempotency_key_replays_the_first_answer(gateway: RunningGateway) -> None:
    tag = f"idem{uuid.uuid4().hex[:8]}"
    body = {"name": "once", "task_type": "regression", "tags": [tag]}
    with gateway.client() as client:
        headers = {"Idempotency-Key": f"k-{tag}"}
        first = client.post("/api/scenarios", json=body, headers=headers)
        again = client.post("/api/scenarios", json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotency-replayed"] == "true"
        assert "idempotency-replayed" not in first.headers
        listed = client.get("/api/scenarios", params={"tag": tag}).json()["items"]
        assert len(listed) == 1
        elsewhere = client.post("/api/keys", json={"name": "x", "role": "viewer"}, headers=headers)
        assert elsewhere.status_code == 422
        fresh = client.post("/api/scenarios", json=body, headers={"Idempotency-Key": f"k2-{tag}"})
        assert fresh.json()["id"] != first.json()["id"]
        # Refusals are answers too: the same key replays the same 422.
        bad = {"Idempotency-Key": f"bad-{tag}"}
        assert client.post("/api/scenarios", json={}, headers=bad).status_code == 422
        assert client.post("/api/scenarios", json=body, headers=bad).status_code == 422
        too_long = client.post("/api/scenarios", json=body, headers={"Idempotency-Key": "k" * 300})
        assert too_long.status_code == 422


def test_oversized_bodies_are_refused(gateway: RunningGateway) -> None:
    limit = gateway.settings.request_max_bytes
    huge = {"name": "x", "task_type": "regression", "description": "d" * (limit + 1)}
    with gateway.client() as client:
        declared = client.post("/api/scenarios", json=huge)
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"

        def chunks():  # no Content-Length: sent chunked
            yield b'{"name": "x", "task_type": "regression", "description": "'
            for _ in range(limit // 65536 + 2):
                yield b"d" * 65536
            yield b'"}'

        streamed = client.post(
            "/api/scenarios", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413

        def small():
            yield b'{"name": "chunked", "task_type": "regression"}'

        fine = client.post(
            "/api/scenarios", content=small(), headers={"content-type": "application/json"}
        )
        assert fine.status_code == 201, fine.text


async def test_unknown_keys_claim_no_idempotency_key(gateway: RunningGateway, db: Database) -> None:
    headers = {"Authorization": "Bearer forged-key", "Idempotency-Key": "k"}
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.post("/api/scenarios", json={}, headers=headers)
    assert response.status_code == 401
    async with db.transaction() as session:
        kept = await session.scalar(
            select(func.count())
            .select_from(IdempotentResponse)
            .where(IdempotentResponse.key_hash == hash_key("forged-key"))
        )
    assert kept == 0
