"""The upload plumbing without a server: streaming multipart parsing, pipes, the key ring."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from mloop_common.keyring import KeyRing, hash_key
from mloop_common.messages.events import KeysChanged
from mloop_gateway.adapters.multipart import FormError, MultipartStream
from mloop_gateway.adapters.pipes import Pipe, PipeAborted

BOUNDARY = "b0undary"


def _form(*parts: tuple[str, str | None, bytes]) -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


async def _chunks(data: bytes, size: int):  # type: ignore[no-untyped-def]
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(body: bytes, size: int) -> tuple[MultipartStream, bytes]:
    form = MultipartStream(
        f"multipart/form-data; boundary={BOUNDARY}",
        file_field="file",
        text_fields={"path", "target"},
    )
    received = b"".join([chunk async for chunk in form.file_chunks(_chunks(body, size))])
    return form, received


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 22])
async def test_file_and_fields_survive_any_chunking(chunk_size: int) -> None:
    content = b"a,b\r\n" + b"1,2\r\n" * 50_000 + b"--b0undar"  # a near-boundary tail
    body = _form(
        ("path", None, "raw/데이터.csv".encode()),
        ("file", "d.csv", content),
        ("target", None, b"b"),
    )
    form, received = await _read(body, chunk_size)
    assert received == content
    assert form.fields == {"path": "raw/데이터.csv", "target": "b"}
    assert form.filename == "d.csv"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (_form(("path", None, b"x")), ["body", "file"]),
        (_form(("file", "a", b"1"), ("file", "b", b"2")), ["body", "file"]),
        (_form(("file", "a", b"1"), ("owner", None, b"me")), ["body", "owner"]),
        (_form(("file", "a", b"1"), ("path", None, b"x" * 5000)), ["body", "path"]),
        (_form(("file", "a", b"1"), ("path", None, b"\xff\xfe")), ["body", "path"]),
        (b'--b0undary\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc', ["body"]),
    ],
)
async def test_bad_forms_name_the_field(body: bytes, loc: list[str]) -> None:
    with pytest.raises(FormError) as raised:
        await _read(body, 1024)
    assert raised.value.loc == loc


def test_only_multipart_is_accepted() -> None:
    for content_type in ("application/json", "multipart/form-data", ""):
        with pytest.raises(FormError) as raised:
            MultipartStream(content_type, file_field="file", text_fields=set())
        assert raised.value.type == "media_type"


async def test_pipe_delivers_in_order_with_backpressure() -> None:
    pipe = Pipe(maxsize=2)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.extend(pipe))
    reader.start()
    for index in range(50):
        await pipe.put(b"%d," % index)
    await pipe.close()
    await asyncio.to_thread(reader.join)
    assert b"".join(received) == b"".join(b"%d," % i for i in range(50))


async def test_pipe_file_reads_and_abort() -> None:
    pipe = Pipe()
    await pipe.put(b"hello world")
    await pipe.close()
    assert (pipe.read(5), pipe.read(100), pipe.read(1)) == (b"hello", b" world", b"")

    aborted = Pipe()
    await aborted.put(b"partial")
    aborted.abort()
    with pytest.raises(PipeAborted):
        aborted.read(100)


async def test_pipe_drops_chunks_once_the_reader_is_gone() -> None:
    pipe = Pipe(maxsize=1)
    pipe.done_reading()
    for _ in range(10):  # would block forever on a full queue otherwise
        await asyncio.wait_for(pipe.put(b"x"), 1)


def test_key_ring_applies_changes() -> None:
    ring = KeyRing()
    key_id, scenario = uuid.uuid4(), uuid.uuid4()
    change = KeysChanged(
        key_id=key_id, role="viewer", key_hash=hash_key("s3cret"), name="app", scenarios=[scenario]
    )
    ring.apply(change)
    grant = ring.lookup("s3cret")
    assert grant is not None and grant.role == "viewer"
    assert grant.sees(scenario) and not grant.sees(uuid.uuid4())
    assert ring.lookup("other") is None
    ring.apply(change.model_copy(update={"revoked": True}))
    assert ring.lookup("s3cret") is None
