"""The artifact store, run the same way against a local folder and moto's S3 server."""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from mloop_common.settings import Settings
from mloop_common.storage import (
    ArtifactNotFound,
    ArtifactStore,
    InvalidKey,
    LocalArtifactStore,
    S3ArtifactStore,
    create_artifact_store,
)

from tests.fixtures.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server

pytestmark = pytest.mark.integration

MiB = 1 << 20
HOSTILE_KEYS = ["../escape", "a/../../b", "/etc/passwd", "a//b", "a\\b", "a\x00b", "", "a/"]


def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if kind == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    server: S3Server = request.getfixturevalue("s3_server")
    return S3ArtifactStore(request.getfixturevalue("s3_bucket"), "mloop/artifacts", server.client())


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    return make_store(request.param, request, tmp_path)


def read_all(store: ArtifactStore, key: str) -> bytes:
    return b"".join(store.iter_chunks(key))


def test_multi_chunk_round_trip_records_size_and_sha256(store: ArtifactStore) -> None:
    payload = os.urandom(20 * MiB + 12_345)  # several 1 MiB chunks and three S3 parts
    expected = hashlib.sha256(payload).hexdigest()

    stored = store.write("models/m1/model.joblib", io.BytesIO(payload))

    assert (stored.key, stored.size, stored.sha256) == (
        "models/m1/model.joblib",
        len(payload),
        expected,
    )
    chunks = list(store.iter_chunks("models/m1/model.joblib", chunk_size=MiB))
    assert len(chunks) >= 20
    assert b"".join(chunks) == payload
    assert store.sha256("models/m1/model.joblib") == expected
    with store.open("models/m1/model.joblib") as stream:
        assert stream.read() == payload


def test_write_from_an_iterator_of_uneven_chunks(store: ArtifactStore) -> None:
    pieces = [b"head", b"", bytearray(b"-middle-"), memoryview(b"tail"), os.urandom(3 * MiB + 1)]
    expected = b"".join(pieces)

    stored = store.write("data/rows.csv", iter(pieces))

    assert stored.size == len(expected)
    assert stored.sha256 == hashlib.sha256(expected).hexdigest()
    assert read_all(store, "data/rows.csv") == expected


def test_empty_object(store: ArtifactStore) -> None:
    stored = store.write("empty.bin", iter([]))

    assert stored.size == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.exists("empty.bin")
    assert store.size("empty.bin") == 0
    assert read_all(store, "empty.bin") == b""


def test_overwrite_replaces_the_object(store: ArtifactStore) -> None:
    store.write("outputs/result.csv", io.BytesIO(b"old content that is longer"))
    stored = store.write("outputs/result.csv", io.BytesIO(b"new"))

    assert read_all(store, "outputs/result.csv") == b"new"
    assert store.size("outputs/result.csv") == 3
    assert store.sha256("outputs/result.csv") == stored.sha256
    assert store.list() == ["outputs/result.csv"]


def test_readers_never_see_a_write_in_progress(store: ArtifactStore) -> None:
    store.write("model.bin", io.BytesIO(b"v1"))
    seen_while_writing: list[bytes] = []

    def new_version() -> Iterator[bytes]:
        yield os.urandom(9 * MiB)  # past the multipart threshold on S3
        seen_while_writing.append(read_all(store, "model.bin"))
        seen_while_writing.append(b"|".join(k.encode() for k in store.list()))
        yield b"v2"

    store.write("model.bin", new_version())

    assert seen_while_writing == [b"v1", b"model.bin"]
    assert read_all(store, "model.bin").endswith(b"v2")


def test_a_failed_write_leaves_the_old_object(store: ArtifactStore) -> None:
    store.write("model.bin", io.BytesIO(b"v1"))

    def broken() -> Iterator[bytes]:
        yield os.urandom(9 * MiB)
        raise OSError("upload connection dropped")

    with pytest.raises(OSError, match="connection dropped"):
        store.write("model.bin", broken())

    assert read_all(store, "model.bin") == b"v1"
    assert store.list() == ["model.bin"]


def test_missing_keys_raise_artifact_not_found(store: ArtifactStore) -> None:
    assert not store.exists("nope/missing.bin")
    with pytest.raises(ArtifactNotFound):
        store.size("nope/missing.bin")
    with pytest.raises(ArtifactNotFound):
        store.sha256("nope/missing.bin")
    with pytest.raises(ArtifactNotFound):
        read_all(store, "nope/missing.bin")
    with pytest.raises(ArtifactNotFound), store.open("nope/missing.bin"):
        pass
    store.delete("nope/missing.bin")  # no error


def test_a_folder_is_not_an_object(store: ArtifactStore) -> None:
    store.write("runs/1/log.txt", io.BytesIO(b"x"))

    assert not store.exists("runs/1")
    with pytest.raises(ArtifactNotFound):
        read_all(store, "runs/1")


def test_exists_and_size(store: ArtifactStore) -> None:
    assert not store.exists("a/b.bin")
    store.write("a/b.bin", io.BytesIO(b"12345"))

    assert store.exists("a/b.bin")
    assert store.size("a/b.bin") == 5


def test_list_delete_and_delete_prefix(store: ArtifactStore) -> None:
    for key in ["runs/1/a", "runs/1/b/c", "runs/10/a", "other/x", "top"]:
        store.write(key, io.BytesIO(key.encode()))

    assert store.list() == ["other/x", "runs/1/a", "runs/1/b/c", "runs/10/a", "top"]
    assert store.list("runs/1") == ["runs/1/a", "runs/1/b/c"]  # a folder, not a string prefix
    assert store.list("runs/1/") == ["runs/1/a", "runs/1/b/c"]
    assert store.list("missing") == []

    assert store.delete_prefix("runs/1") == 2
    assert store.list() == ["other/x", "runs/10/a", "top"]
    assert store.delete_prefix("runs/1") == 0

    store.delete("other/x")
    assert not store.exists("other/x")
    assert store.list() == ["runs/10/a", "top"]

    assert store.delete_prefix("") == 2
    assert store.list() == []


def test_keys_are_normalised(store: ArtifactStore) -> None:
    stored = store.write("./a/./b.txt", io.BytesIO(b"x"))

    assert stored.key == "a/b.txt"
    assert store.list() == ["a/b.txt"]
    assert store.exists("a/./b.txt")


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_refused_everywhere(store: ArtifactStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.write(key, io.BytesIO(b"payload"))
    with pytest.raises(InvalidKey), store.open(key):
        pass
    for method in (store.exists, store.size, store.delete, store.sha256):
        with pytest.raises(InvalidKey):
            method(key)
    if key not in ("", "a/"):  # "" names the whole store, "a/" the folder "a"
        with pytest.raises(InvalidKey):
            store.list(key)
        with pytest.raises(InvalidKey):
            store.delete_prefix(key)
    assert store.list() == []


def test_local_store_writes_only_under_its_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    for key in HOSTILE_KEYS:
        with pytest.raises(InvalidKey):
            store.write(key, io.BytesIO(b"payload"))
    store.write("inside/file", io.BytesIO(b"payload"))

    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert written == ["root", "root/inside", "root/inside/file"]
    assert store.url == (tmp_path / "root").as_uri()


def test_s3_prefixes_keep_stores_apart(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    first = S3ArtifactStore(s3_bucket, "tenant-a", client)
    second = S3ArtifactStore(s3_bucket, "tenant-a2/", client)
    first.write("k", io.BytesIO(b"a"))
    second.write("k", io.BytesIO(b"b"))

    assert first.list() == ["k"]
    assert first.delete_prefix("") == 1
    assert read_all(second, "k") == b"b"
    raw_keys = [item["Key"] for item in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert raw_keys == ["tenant-a2/k"]
    assert second.url == f"s3://{s3_bucket}/tenant-a2"


def test_check_passes_on_a_reachable_store(store: ArtifactStore) -> None:
    store.check()
    assert store.list() == []  # the probe leaves nothing behind


def test_check_fails_when_the_store_is_gone(s3_server: S3Server, tmp_path: Path) -> None:
    local = LocalArtifactStore(tmp_path / "gone")
    (tmp_path / "gone").rmdir()
    with pytest.raises(OSError):
        local.check()

    s3 = S3ArtifactStore("no-such-bucket", "", s3_server.client())
    with pytest.raises(ClientError):
        s3.check()


# Bounded memory: ~200 MB generated on the fly, streamed in and out, never held whole.

BIG_PAYLOAD = 200 * MiB
PEAK_LIMIT = 64 * MiB


def generated_payload(total: int, digest: hashlib._Hash) -> Iterator[bytes]:
    """`total` bytes in 1 MiB chunks, each different, hashed into `digest` as they go."""
    block = os.urandom(MiB)
    for index in range(total // MiB):
        chunk = index.to_bytes(8, "big") + block[8:]
        digest.update(chunk)
        yield chunk


@pytest.fixture(params=["local", "s3"])
def roomy_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """Like `store`, but S3 runs in a child process so moto's own buffers are not measured."""
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    server: S3Server = request.getfixturevalue("s3_server_process")
    return S3ArtifactStore(server.create_bucket(), "big", server.client())


def test_streaming_keeps_memory_bounded(roomy_store: ArtifactStore) -> None:
    expected = hashlib.sha256()
    read_back = hashlib.sha256()
    read_size = 0
    started = time.perf_counter()
    tracemalloc.start()
    try:
        stored = roomy_store.write("big/payload.bin", generated_payload(BIG_PAYLOAD, expected))
        for chunk in roomy_store.iter_chunks("big/payload.bin"):
            read_back.update(chunk)
            read_size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    assert stored.size == read_size == BIG_PAYLOAD
    assert stored.sha256 == read_back.hexdigest() == expected.hexdigest()
    assert peak < PEAK_LIMIT, f"peak traced memory {peak / MiB:.1f} MiB"
    print(f"\n{type(roomy_store).__name__}: peak {peak / MiB:.1f} MiB, {elapsed:.1f} s")


# Building a store from settings.


def test_create_local_store_from_a_file_url(tmp_path: Path) -> None:
    store = create_artifact_store(Settings(artifact_url=(tmp_path / "art dir").as_uri()))

    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / "art dir"
    assert store.root.is_dir()


def test_default_store_lives_under_home(tmp_path: Path) -> None:
    store = create_artifact_store(Settings(home=tmp_path))

    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / "artifacts"


def test_create_s3_store_from_an_s3_url(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    settings = Settings(
        artifact_url=f"s3://{s3_bucket}/mloop/prod/", s3_endpoint_url=s3_server.endpoint_url
    )

    store = create_artifact_store(settings)
    store.check()
    store.write("hello.txt", io.BytesIO(b"hi"))

    assert isinstance(store, S3ArtifactStore)
    assert store.url == f"s3://{s3_bucket}/mloop/prod"
    raw = s3_server.client().get_object(Bucket=s3_bucket, Key="mloop/prod/hello.txt")
    assert raw["Body"].read() == b"hi"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/artifacts",
        "gs://bucket/x",
        "file://otherhost/dir",
        "s3:///no-bucket",
        "relative/dir",
        "file:relative",
    ],
)
def test_unsupported_artifact_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="artifact URL"):
        create_artifact_store(Settings(artifact_url=url))
