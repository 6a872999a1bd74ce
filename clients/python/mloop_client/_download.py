"""Saving a streamed download: never a partial or corrupt file in the destination's place."""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from pathlib import Path

import httpx

from mloop_client.errors import MLoopError

DOWNLOAD_CHUNK = 1024 * 1024


def save(
    stream: AbstractContextManager[httpx.Response], dest: str | Path, default_name: str, what: str
) -> Path:
    """Write the streamed body to `dest` (or `dest/<default_name>` when `dest` is a directory)
    through a `.part` file, checked against `X-Content-SHA256` when the answer carries it;
    answers the file's path."""
    target = Path(dest)
    if target.is_dir():
        target = target / default_name
    partial = target.with_name(f"{target.name}.part")
    digest = hashlib.sha256()
    try:
        with stream as response, partial.open("wb") as out:
            for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        expected = response.headers.get("X-Content-SHA256")
        if expected and expected.lower() != digest.hexdigest():
            detail = f"{what}: got SHA-256 {digest.hexdigest()}, expected {expected}."
            raise MLoopError(None, "Corrupt download", detail)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
