"""Feature sets on a running gateway: validated against the dataset version and the task."""

from __future__ import annotations

import uuid

import httpx

from tests.fixtures.services import RunningGateway

CSV = (
    b"when,store,review,sales,label\n"
    b"2024-01-01,a,great coffee and friendly staff who remember your name,10.5,pos\n"
    b"2024-01-02,b,the worst service I have had in a long time honestly,7.25,neg\n"
    b"2024-01-03,a,fine but nothing special about the place at all really,8.0,neg\n"
)


def _setup(client: httpx.Client, task_type: str) -> tuple[str, dict]:
    scenario = client.post("/api/scenarios", json={"name": "fs", "task_type": task_type}).json()
    version = client.post(
        f"/api/scenarios/{scenario['id']}/data", files={"file": ("d.csv", CSV)}
    ).json()
    return scenario["id"], version


def test_versions_by_name(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        scenario, version = _setup(client, "regression")
        types = {c["name"]: c["type"] for c in version["columns"]}
        assert types == {
            "when": "datetime",
            "store": "categorical",
            "review": "text",
            "sales": "numeric",
            "label": "categorical",
        }
        body = {
            "name": "base",
            "dataset_id": version["id"],
            "target": "sales",
            "features": ["store"],
        }
        first = client.post(f"/api/scenarios/{scenario}/feature-sets", json=body)
        assert first.status_code == 201, first.text
        second = client.post(
            f"/api/scenarios/{scenario}/feature-sets", json={**body, "features": ["store", "when"]}
        ).json()
        assert (first.json()["version"], second["version"]) == (1, 2)
        listed = client.get(f"/api/scenarios/{scenario}/feature-sets", params={"name": "base"})
        assert [f["version"] for f in listed.json()["items"]] == [2, 1]
        read = client.get(f"/api/scenarios/{scenario}/feature-sets/{second['id']}").json()
        assert read["features"] == ["store", "when"]
        assert (
            client.get(f"/api/scenarios/{scenario}/feature-sets/{uuid.uuid4()}").status_code == 404
        )


def _errors(client: httpx.Client, scenario: str, body: dict) -> list[tuple]:
    response = client.post(f"/api/scenarios/{scenario}/feature-sets", json=body)
    assert response.status_code == 422, response.text
    return [(tuple(e["loc"]), e["type"]) for e in response.json()["errors"]]


def test_invalid_feature_sets_name_each_field(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        scenario, version = _setup(client, "regression")
        base = {"name": "bad", "dataset_id": version["id"]}
        assert _errors(
            client, scenario, {**base, "target": "sales", "features": ["sales", "nope"]}
        ) == [
            (("body", "features", 0), "target"),
            (("body", "features", 1), "unknown"),
        ]
        assert _errors(client, scenario, {**base, "target": "label", "features": ["store"]}) == [
            (("body", "target"), "unusable_type")
        ]
        assert _errors(client, scenario, {**base, "target": None, "features": ["store"]}) == [
            (("body", "target"), "missing")
        ]
        assert _errors(client, scenario, {**base, "target": "sales", "features": []})[0][0] == (
            "body",
            "features",
        )
        _, other_version = _setup(client, "regression")
        foreign = {
            **base,
            "dataset_id": other_version["id"],
            "target": "sales",
            "features": ["store"],
        }
        assert _errors(client, scenario, foreign) == [(("body", "dataset_id"), "unknown")]

        text_scenario, text_version = _setup(client, "text_classification")
        body = {
            "name": "t",
            "dataset_id": text_version["id"],
            "target": "label",
            "features": ["sales"],
        }
        assert _errors(client, text_scenario, body) == [(("body", "features"), "missing")]
        body["features"] = ["review"]
        assert (
            client.post(f"/api/scenarios/{text_scenario}/feature-sets", json=body).status_code
            == 201
        )
