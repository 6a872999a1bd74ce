"""The artifact store: one interface over a local folder and S3, streaming in both directions.

Keys are relative, slash-separated paths such as `models/<id>/model.joblib`. Every key passes
`clean_key`, so no key can leave the store's root folder or bucket prefix. A prefix names a
folder: `list("models/a")` covers `models/a/...`, never `models/ab`.

Writes stream in chunks, count the bytes and hash them with sha256 on the way, and are atomic:
a reader sees the old object or the new one, never half of one. The API is synchronous; async
callers use `asyncio.to_thread`.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import unquote, urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mloop_common.settings import Settings

CHUNK_SIZE = 1 << 20
MAX_KEY_BYTES = 1024  # S3's limit, applied to both stores so keys stay portable.

Source = BinaryIO | Iterable[bytes]


class InvalidKey(ValueError):
    """A key that is not a clean relative path inside the store."""


class ArtifactNotFound(KeyError):
    """No object is stored under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no artifact stored under {self.key!r}"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


def clean_key(key: str) -> str:
    """Return `key` with `.` segments dropped; refuse anything that could leave the store."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("an artifact key must be a non-empty string")
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise InvalidKey(f"artifact key {key!r} contains a control character")
    if "\\" in key:
        raise InvalidKey(f"artifact key {key!r} contains a backslash")
    if key.startswith("/"):
        raise InvalidKey(f"artifact key {key!r} is absolute")
    segments = key.split("/")
    if "" in segments:
        raise InvalidKey(f"artifact key {key!r} has an empty segment")
    if ".." in segments:
        raise InvalidKey(f"artifact key {key!r} has a '..' segment")
    cleaned = "/".join(segment for segment in segments if segment != ".")
    if not cleaned:
        raise InvalidKey(f"artifact key {key!r} names no object")
    try:
        encoded = cleaned.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InvalidKey(f"artifact key {key!r} is not valid Unicode") from err
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKey(f"artifact key is longer than {MAX_KEY_BYTES} bytes")
    return cleaned


def clean_prefix(prefix: str) -> str:
    """A folder prefix: `""` for the whole store, else a clean key (one trailing `/` allowed)."""
    if prefix == "":
        return ""
    return clean_key(prefix.removesuffix("/"))


class _HashingReader:
    """A read-only stream over a source that counts and hashes every byte it hands out.

    `read(n)` returns exactly `n` bytes until the source runs out, because multipart uploads
    need full parts even when the source (a socket, say) returns short reads.
    """

    def __init__(self, source: Source) -> None:
        self._pull = _chunk_puller(source)
        self._pending = bytearray()
        self._exhausted = False
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        while not self._exhausted and (size < 0 or len(self._pending) < size):
            chunk = self._pull()
            if chunk:
                self._pending += chunk
            else:
                self._exhausted = True
        taken = len(self._pending) if size < 0 else min(size, len(self._pending))
        with memoryview(self._pending) as view:
            data = bytes(view[:taken])
        del self._pending[:taken]
        self._digest.update(data)
        self.size += len(data)
        return data

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _chunk_puller(source: Source) -> Callable[[], bytes]:
    """A function returning the source's next chunk, or `b""` at its end."""
    if hasattr(source, "read"):
        stream: BinaryIO = source  # type: ignore[assignment]
        return lambda: stream.read(CHUNK_SIZE)
    chunks = (chunk for chunk in source if chunk)  # an empty chunk is not the end
    return lambda: next(chunks, b"")


class ArtifactStore(ABC):
    """Where datasets, models and batch outputs live."""

    @property
    @abstractmethod
    def url(self) -> str:
        """Where the store is, as a `file://` or `s3://` URL."""

    @abstractmethod
    def write(self, key: str, source: Source) -> StoredObject:
        """Store the bytes of `source` under `key`, replacing any object there."""

    @abstractmethod
    def open(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A context manager yielding a readable binary stream over the object."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under the folder `prefix`; return how many."""

    @abstractmethod
    def list(self, prefix: str = "") -> builtins.list[str]:
        """The sorted keys under the folder `prefix` (all keys for `""`)."""

    @abstractmethod
    def check(self) -> None:
        """Raise if the store cannot be reached or written."""

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        with self.open(key) as stream:
            while chunk := stream.read(chunk_size):
                yield chunk

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.iter_chunks(key):
            digest.update(chunk)
        return digest.hexdigest()


_PARTIAL_NAME = re.compile(r"^\..+\.[0-9a-f]{16}\.partial$")


class LocalArtifactStore(ArtifactStore):
    """Objects as files under `root`; writes land in a hidden partial file, then `os.replace`.

    A folder cannot also be an object here, so `a` and `a/b` cannot both be stored.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root).absolute()
        self._root.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def url(self) -> str:
        return self._root.as_uri()

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*clean_key(key).split("/"))

    def _folder(self, prefix: str) -> Path:
        cleaned = clean_prefix(prefix)
        return self._root.joinpath(*cleaned.split("/")) if cleaned else self._root

    def write(self, key: str, source: Source) -> StoredObject:
        key = clean_key(key)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
        reader = _HashingReader(source)
        try:
            with partial.open("xb") as out:
                shutil.copyfileobj(reader, out, CHUNK_SIZE)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return StoredObject(key=key, size=reader.size, sha256=reader.hexdigest())

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        try:
            stream = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as err:
            raise ArtifactNotFound(clean_key(key)) from err
        with stream:
            yield stream

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise ArtifactNotFound(clean_key(key))
        return path.stat().st_size

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_file():
            path.unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        folder = self._folder(prefix)
        count = 0
        for path in self._object_paths(folder):
            path.unlink(missing_ok=True)
            count += 1
        self._prune_empty_folders(folder)
        return count

    def list(self, prefix: str = "") -> builtins.list[str]:
        folder = self._folder(prefix)
        return sorted(
            path.relative_to(self._root).as_posix() for path in self._object_paths(folder)
        )

    def check(self) -> None:
        with tempfile.TemporaryFile(dir=self._root):
            pass

    def _object_paths(self, folder: Path) -> Iterator[Path]:
        """Files under `folder`, without the partial files of writes in progress."""
        for directory, _, names in os.walk(folder):
            for name in names:
                if not _PARTIAL_NAME.match(name):
                    yield Path(directory, name)

    def _prune_empty_folders(self, folder: Path) -> None:
        """Remove empty folders under `folder` (and `folder` itself unless it is the root)."""
        if not folder.is_dir():
            return
        for directory, _, _ in os.walk(folder, topdown=False):
            if Path(directory) != self._root:
                with contextlib.suppress(OSError):  # not empty: a write is in progress there
                    os.rmdir(directory)


_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _is_missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in _MISSING_CODES


class S3ArtifactStore(ArtifactStore):
    """Objects in an S3 bucket under `prefix`; uploads are multipart, visible only once complete.

    Upload memory stays bounded: two 8 MiB parts in flight plus the part being read.
    """

    def __init__(self, bucket: str, prefix: str, client: BaseClient) -> None:
        if not bucket:
            raise ValueError("an S3 artifact store needs a bucket name")
        self._bucket = bucket
        self._prefix = clean_prefix(prefix.strip("/"))
        self._client = client
        self._transfer = _bounded_transfer_config()

    @property
    def url(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}" if self._prefix else f"s3://{self._bucket}"

    def _object_key(self, key: str) -> str:
        cleaned = clean_key(key)
        return f"{self._prefix}/{cleaned}" if self._prefix else cleaned

    def _folder_key(self, prefix: str) -> str:
        """The S3 key prefix of a folder, ending in `/` (or empty for the whole bucket)."""
        parts = [part for part in (self._prefix, clean_prefix(prefix)) if part]
        return "/".join(parts) + "/" if parts else ""

    def write(self, key: str, source: Source) -> StoredObject:
        key = clean_key(key)
        reader = _HashingReader(source)
        self._client.upload_fileobj(
            reader, self._bucket, self._object_key(key), Config=self._transfer
        )
        return StoredObject(key=key, size=reader.size, sha256=reader.hexdigest())

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._object_key(key))
        except ClientError as err:
            if _is_missing(err):
                raise ArtifactNotFound(clean_key(key)) from err
            raise
        body = response["Body"]
        try:
            yield body
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ArtifactNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=self._object_key(key))

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        for page in self._pages(prefix):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not objects:
                continue
            response = self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True}
            )
            if errors := response.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(errors)} objects: {errors[:3]}")
            count += len(objects)
        return count

    def list(self, prefix: str = "") -> builtins.list[str]:
        strip = len(self._prefix) + 1 if self._prefix else 0
        return sorted(
            item["Key"][strip:] for page in self._pages(prefix) for item in page.get("Contents", [])
        )

    def check(self) -> None:
        self._client.head_bucket(Bucket=self._bucket)

    def _head(self, key: str) -> dict:
        try:
            return self._client.head_object(Bucket=self._bucket, Key=self._object_key(key))
        except ClientError as err:
            if _is_missing(err):
                raise ArtifactNotFound(clean_key(key)) from err
            raise

    def _pages(self, prefix: str) -> Iterator[dict]:
        paginator = self._client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self._bucket, Prefix=self._folder_key(prefix))


def _bounded_transfer_config() -> TransferConfig:
    """Multipart settings that keep at most two 8 MiB parts of an upload in memory."""
    config = TransferConfig(
        multipart_threshold=8 << 20,
        multipart_chunksize=8 << 20,
        max_concurrency=2,
        preferred_transfer_client="classic",
    )
    # An s3transfer setting that boto3's constructor does not take (its default is 10).
    config.max_in_memory_upload_chunks = 2
    return config


def create_artifact_store(settings: Settings) -> ArtifactStore:
    """The store named by `settings.resolved_artifact_url` (`file:///dir` or `s3://bucket/pfx`)."""
    url = settings.resolved_artifact_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if parts.netloc not in ("", "localhost") or not path.is_absolute():
            raise ValueError(f"artifact URL {url!r} must name an absolute folder: file:///dir")
        return LocalArtifactStore(path)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"artifact URL {url!r} names no bucket: s3://bucket/prefix")
        return S3ArtifactStore(parts.netloc, parts.path, _s3_client(settings.s3_endpoint_url))
    raise ValueError(
        f"artifact URL {url!r} is not supported: use file:///absolute/dir or s3://bucket/prefix"
    )


def _s3_client(endpoint_url: str | None) -> BaseClient:
    """A client with credentials from the standard AWS variables; path-style for custom hosts."""
    config = Config(s3={"addressing_style": "path"}) if endpoint_url else None
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
