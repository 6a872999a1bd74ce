"""Dataset uploads on running gateways, with the local folder and with moto's S3 as the store:
real-world CSVs are accepted, every refusal is precise and leaves nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx
import pytest
from mloop_common import topics

from tests.fixtures.messaging import read_topic
from tests.fixtures.services import UPLOAD_MAX_BYTES, UPLOAD_MAX_COLUMNS, RunningGateway

CSV = (
    b"age,city,churned,joined\n"
    b"31,Seoul,yes,2024-01-03\n45,Busan,no,2024-02-11\n,Seoul,no,2024-03-09\n"
)


@pytest.fixture(params=["local", "s3"])
def any_gateway(request: pytest.FixtureRequest) -> RunningGateway:
    return request.getfixturevalue("gateway" if request.param == "local" else "s3_gateway")


def _scenario(client: httpx.Client, task_type: str = "classification") -> str:
    response = client.post("/api/scenarios", json={"name": "data", "task_type": task_type})
    return response.json()["id"]


def _upload(client: httpx.Client, scenario: str, content: bytes, name: str = "d.csv", **form):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/scenarios/{scenario}/data", files={"file": (name, content)}, data=form
    )


def _nothing_stored(gateway: RunningGateway, client: httpx.Client, scenario: str) -> None:
    assert gateway.store.list(f"scenarios/{scenario}") == []
    assert client.get(f"/api/scenarios/{scenario}/data").json()["items"] == []


async def test_upload_answers_the_version(any_gateway: RunningGateway) -> None:
    with any_gateway.client() as client:
        scenario = _scenario(client)
        response = _upload(client, scenario, CSV, name="customers.csv")
        assert response.status_code == 201, response.text
        version = response.json()
        assert version["path"] == "customers.csv"
        assert version["version"] == 1
        assert version["rows"] == 3
        assert version["sha256"] == hashlib.sha256(CSV).hexdigest()
        columns = {c["name"]: c for c in version["columns"]}
        assert {name: c["type"] for name, c in columns.items()} == {
            "age": "numeric",
            "city": "categorical",
            "churned": "boolean",
            "joined": "datetime",
        }
        assert columns["age"]["missing_share"] == pytest.approx(1 / 3)
        assert columns["city"]["distinct"] == 2
        stored = any_gateway.store.list(f"scenarios/{scenario}")
        assert len(stored) == 1
        assert any_gateway.store.sha256(stored[0]) == version["sha256"]
        same = client.get(f"/api/scenarios/{scenario}/datasets/{version['id']}").json()
        assert same == version
    records = await read_topic(
        any_gateway.settings, topics.DATASET_UPLOADED, expect=10_000, timeout=5
    )
    events = [json.loads(record.value) for record in records]
    assert any(e["dataset_id"] == version["id"] and e["rows"] == 3 for e in events)


def test_versions_are_immutable_and_deduplicated(any_gateway: RunningGateway) -> None:
    with any_gateway.client() as client:
        scenario = _scenario(client)
        first = _upload(client, scenario, CSV, path="raw/customers.csv").json()
        again = _upload(client, scenario, CSV, path="raw/customers.csv")
        assert again.status_code == 200
        assert again.json()["id"] == first["id"]
        second = _upload(
            client, scenario, CSV + b"50,Daegu,yes,2024-04-01\n", path="raw/customers.csv"
        )
        assert second.status_code == 201
        assert second.json()["version"] == 2
        assert len(any_gateway.store.list(f"scenarios/{scenario}")) == 2
        versions = client.get(f"/api/scenarios/{scenario}/data/raw/customers.csv/versions").json()
        assert [v["version"] for v in versions["items"]] == [2, 1]
        summary = client.get(f"/api/scenarios/{scenario}/data/raw/customers.csv").json()
        assert summary["versions"] == 2
        assert summary["latest"]["id"] == second.json()["id"]
        listed = client.get(f"/api/scenarios/{scenario}/data").json()["items"]
        assert [(f["path"], f["versions"]) for f in listed] == [("raw/customers.csv", 2)]
        old = client.get(
            f"/api/scenarios/{scenario}/data/raw/customers.csv/preview", params={"version": 1}
        )
        assert len(old.json()["rows"]) == 3


def test_first_upload_with_a_target_sets_the_defaults(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        scenario = _scenario(client)
        _upload(client, scenario, CSV, name="plain.csv")
        assert client.get(f"/api/scenarios/{scenario}").json()["default_target"] is None
        assert _upload(client, scenario, CSV, name="a.csv", target="churned").status_code == 201
        assert _upload(client, scenario, CSV, name="b.csv", target="city").status_code == 201
        read = client.get(f"/api/scenarios/{scenario}").json()
        assert (read["default_data_path"], read["default_target"]) == ("a.csv", "churned")
        changed = client.put(
            f"/api/scenarios/{scenario}",
            json={"default_data_path": "b.csv", "default_target": "age"},
        ).json()
        assert (changed["default_data_path"], changed["default_target"]) == ("b.csv", "age")
        unknown = _upload(client, scenario, CSV, name="c.csv", target="nope")
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["loc"] == ["body", "target"]


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("이름;도시\n김철수;서울\n이영희;부산\n".encode("cp949"), "cp949"),
        ("이름|도시\n김철수|서울\n이영희|부산\n".encode("euc-kr"), "cp949"),
        ("\ufeff이름\t도시\n김철수\t서울\n이영희\t부산\n".encode(), "utf-8-sig"),
        ("name,city\nMüller,Zürich\nRenée,Besançon\n".encode("latin-1"), "latin-1"),
        (b'name,note\r\n"Kim","line one\r\nline two"\r\n"Lee","said ""hi"""\r\n', "utf-8"),
    ],
)
def test_real_world_csvs(gateway: RunningGateway, content: bytes, encoding: str) -> None:
    text = content.decode(encoding)
    with gateway.client() as client:
        scenario = _scenario(client)
        response = _upload(client, scenario, content)
        assert response.status_code == 201, response.text
        assert response.json()["encoding"] == encoding
        assert response.json()["rows"] == 2
        preview = client.get(f"/api/scenarios/{scenario}/data/d.csv/preview").json()
    assert len(preview["columns"]) == 2 and preview["columns"][0] in text
    if b"line one" in content:
        assert preview["rows"][0][1].replace("\r\n", "\n") == "line one\nline two"
        assert preview["rows"][1][1] == 'said "hi"'
    else:
        assert all(value in text for row in preview["rows"] for value in row)


@pytest.mark.parametrize(
    ("content", "title", "detail_words"),
    [
        (b"", "Empty file", []),
        (b"a,b,c\n", "No data rows", []),
        (b"a,b,a\n1,2,3\n", "Duplicate column names", ["a"]),
        (b"a,,c\n1,2,3\n", "Empty column names", ["2"]),
        (b"a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n", "Rows of the wrong width", ["3", "5"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" * 20, "Not a text file", ["PNG"]),
        (b'{"a": 1, "b": [1, 2, 3]}\n', "Not a CSV table", []),
        (b'a,b\n1,"unterminated\n', "Unterminated quote", []),
    ],
    ids=["empty", "header-only", "duplicate", "empty-name", "width", "binary", "json", "quote"],
)
def test_bad_files_are_refused_and_nothing_is_kept(
    any_gateway: RunningGateway, content: bytes, title: str, detail_words: list[str]
) -> None:
    with any_gateway.client() as client:
        scenario = _scenario(client)
        response = _upload(client, scenario, content)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["title"] == title
        for word in detail_words:
            assert word in problem["detail"]
        assert problem["errors"]
        assert all(error["loc"][0] == "file" for error in problem["errors"])
        _nothing_stored(any_gateway, client, scenario)


def test_limits_are_settings(gateway: RunningGateway) -> None:
    wide = ",".join(f"c{i}" for i in range(UPLOAD_MAX_COLUMNS + 1)).encode() + b"\n"
    wide += ",".join("1" for _ in range(UPLOAD_MAX_COLUMNS + 1)).encode() + b"\n"
    row = b"1234567890,abcdefghij,0.5\n"
    big = b"a,b,c\n" + row * (UPLOAD_MAX_BYTES // len(row) + 10)
    with gateway.client() as client:
        scenario = _scenario(client)
        too_wide = _upload(client, scenario, wide)
        assert too_wide.status_code == 422
        assert str(UPLOAD_MAX_COLUMNS) in too_wide.json()["detail"]
        too_big = _upload(client, scenario, big)
        assert too_big.status_code == 413
        assert str(UPLOAD_MAX_BYTES) in too_big.json()["detail"]
        _nothing_stored(gateway, client, scenario)


@pytest.mark.parametrize(
    "path", ["../x.csv", "/etc/passwd", "a\\b.csv", "%2e%2e/x.csv", "a\x00b.csv", "a//b.csv", "./x"]
)
def test_hostile_paths_are_refused(gateway: RunningGateway, path: str) -> None:
    with gateway.client() as client:
        scenario = _scenario(client)
        response = _upload(client, scenario, CSV, path=path)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", "path"]
        _nothing_stored(gateway, client, scenario)


@pytest.mark.parametrize(
    "raw", [b"..%2F..%2Fetc%2Fpasswd", b"%2e%2e/x.csv", b"a%5Cb.csv", b"x%00.csv", b"%252e%252e/x"]
)
def test_hostile_url_paths_are_refused(gateway: RunningGateway, raw: bytes) -> None:
    with gateway.client() as client:
        scenario = _scenario(client)
        assert _upload(client, scenario, CSV, name="x.csv").status_code == 201
        for suffix in (b"", b"/preview", b"/versions"):
            request = client.build_request("GET", "/")
            request.url = request.url.copy_with(
                raw_path=f"/api/scenarios/{scenario}/data/".encode() + raw + suffix
            )
            response = client.send(request)
            assert response.status_code in (404, 422), (raw, suffix, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        request = client.build_request("DELETE", "/")
        request.url = request.url.copy_with(
            raw_path=f"/api/scenarios/{scenario}/data/".encode() + raw
        )
        assert client.send(request).status_code in (404, 422)
        assert len(gateway.store.list(f"scenarios/{scenario}")) == 1


@pytest.mark.parametrize(
    ("kwargs", "status", "loc"),
    [
        ({"json": {"file": "a,b"}}, 415, ["header", "content-type"]),
        ({"files": {"other": ("d.csv", CSV)}}, 422, ["body", "other"]),
        ({"data": {"path": "d.csv"}, "files": {"unused": ("", b"")}}, 422, ["body", "unused"]),
        ({"files": [("file", ("a.csv", CSV)), ("file", ("b.csv", CSV))]}, 422, ["body", "file"]),
    ],
)
def test_malformed_forms(gateway: RunningGateway, kwargs: dict, status: int, loc: list) -> None:
    with gateway.client() as client:
        scenario = _scenario(client)
        response = client.post(f"/api/scenarios/{scenario}/data", **kwargs)
        assert response.status_code == status, response.text
        assert response.json()["errors"][0]["loc"] == loc
        _nothing_stored(gateway, client, scenario)
        truncated = client.post(
            f"/api/scenarios/{scenario}/data",
            content=b"--xyz\r\nContent-Disposition: form-data; "
            b'name="file"; filename="a.csv"\r\n\r\na,b\n1,2',
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        )
        assert truncated.status_code == 422
        _nothing_stored(gateway, client, scenario)


async def test_profile_is_computed_after_upload(gateway: RunningGateway) -> None:
    rows = b"".join(b"%d,%s,%d.5\n" % (i, b"ab"[i % 2 : i % 2 + 1], i * 3) for i in range(500))
    with gateway.client() as client:
        scenario = _scenario(client, "regression")
        assert _upload(client, scenario, b"id,group,value\n" + rows).status_code == 201
        url = f"/api/scenarios/{scenario}/data/d.csv/profile"
        for _ in range(150):
            profile = client.get(url).json()
            if profile["status"] != "pending":
                break
            await asyncio.sleep(0.1)
    assert profile["status"] == "ready", profile
    columns = {c["name"]: c for c in profile["profile"]["columns"]}
    assert (columns["value"]["min"], columns["value"]["max"]) == (0.5, 1497.5)
    assert sum(columns["value"]["histogram"]["counts"]) == 500
    assert {entry["value"] for entry in columns["group"]["top"]} == {"a", "b"}


def test_preview_rows_and_columns_endpoint(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        scenario = _scenario(client)
        version = _upload(client, scenario, CSV).json()
        preview = client.get(f"/api/scenarios/{scenario}/data/d.csv/preview", params={"rows": 2})
        assert preview.json()["columns"] == ["age", "city", "churned", "joined"]
        assert preview.json()["rows"] == [
            ["31", "Seoul", "yes", "2024-01-03"],
            ["45", "Busan", "no", "2024-02-11"],
        ]
        assert (
            client.get(
                f"/api/scenarios/{scenario}/data/d.csv/preview", params={"rows": 0}
            ).status_code
            == 422
        )
        assert client.get(f"/api/scenarios/{scenario}/data/nope.csv/preview").status_code == 404
        columns = client.get(f"/api/scenarios/{scenario}/datasets/{version['id']}/columns").json()
        assert [c["name"] for c in columns["columns"]] == ["age", "city", "churned", "joined"]


def test_deleting_data_in_use_needs_force(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        scenario = _scenario(client)
        version = _upload(client, scenario, CSV, target="churned").json()
        feature_set = client.post(
            f"/api/scenarios/{scenario}/feature-sets",
            json={
                "name": "base",
                "dataset_id": version["id"],
                "target": "churned",
                "features": ["age", "city"],
            },
        )
        assert feature_set.status_code == 201, feature_set.text
        refused = client.delete(f"/api/scenarios/{scenario}/data/d.csv")
        assert refused.status_code == 409
        assert "base" in refused.json()["detail"]
        assert len(gateway.store.list(f"scenarios/{scenario}")) == 1
        assert (
            client.delete(
                f"/api/scenarios/{scenario}/data/d.csv", params={"force": True}
            ).status_code
            == 204
        )
        _nothing_stored(gateway, client, scenario)
        assert client.get(f"/api/scenarios/{scenario}/feature-sets").json()["items"] == []
        read = client.get(f"/api/scenarios/{scenario}").json()
        assert read["default_data_path"] is None


@pytest.mark.parametrize(
    ("late", "encoding"),
    [("김철수,서울\n".encode("cp949"), "cp949"), ("Müller,Zürich\n".encode("latin-1"), "latin-1")],
)
def test_an_encoding_that_shows_late_is_found(
    any_gateway: RunningGateway, late: bytes, encoding: str
) -> None:
    """The first MiB reads as UTF-8; the inspector finds out at the end and reads again."""
    content = b"name,city\n" + b"ascii,only\n" * 120_000 + late
    with any_gateway.client() as client:
        scenario = _scenario(client)
        response = _upload(client, scenario, content)
        assert response.status_code == 201, response.text
        assert response.json()["encoding"] == encoding
        assert response.json()["rows"] == 120_001
        preview = client.get(f"/api/scenarios/{scenario}/data/d.csv/preview").json()
        assert preview["rows"][0] == ["ascii", "only"]
