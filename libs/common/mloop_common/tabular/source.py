"""The upload as pyarrow reads it: UTF-8 data records, then an end-of-file marker record.

`Utf8Source` reads a first sample of the caller's stream (the *head*), refuses binary content
from it, settles the encoding, and keeps the head until the header has been sniffed. After
`start()` it serves, as a read-only file object, the UTF-8 bytes that follow the header and, once
the caller's stream ends, one marker record. The marker tells the reader whether the file ended
inside a quoted field: a closed file shows it as a record of its own, an open quote swallows it.
pyarrow fetches blocks from an I/O thread; `read` holds it to a few blocks ahead of the parser.
"""

from __future__ import annotations

import codecs
import io
import threading
from typing import BinaryIO

from .encoding import Transcoder, detect_encoding, reject_utf16
from .errors import binary_content

SAMPLE_BYTES = 1 << 20
MAX_HEAD_BYTES = 16 << 20
AHEAD = 4
"""Blocks the reader may fetch past the last one parsed."""
EOF_MARKER = "\x1emloop:end-of-file\x1e"
_CONTROL = set(range(32)) - set(b"\t\n\x0c\r") | {0x7F}
_NOT_CONTROL = bytes(sorted(set(range(256)) - _CONTROL))
_MAX_CONTROL_SHARE = 0.01
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "a legacy Office document (an Excel .xls workbook?)",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}


def read_up_to(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes of `stream`, fewer only at its end (a stream may return short reads)."""
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        chunk = stream.read(wanted)
        if not chunk:
            break
        parts.append(bytes(chunk))
        wanted -= len(chunk)
    return b"".join(parts)


def refuse_binary(raw: bytes, *, offset: int = 0, sample: bool = False) -> None:
    """Refuse NUL bytes anywhere and, in the first sample, a high share of control bytes."""
    if sample:
        for magic, kind in _MAGIC.items():
            if raw.startswith(magic):
                raise binary_content(kind=kind)
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise binary_content(nul_at=offset + nul + 1)
    if sample and raw:
        share = len(raw.translate(None, delete=_NOT_CONTROL)) / len(raw)
        if share > _MAX_CONTROL_SHARE:
            raise binary_content(control_share=share)


class Utf8Source(io.RawIOBase):
    def __init__(self, stream: BinaryIO, *, encoding: str | None, ahead: int = AHEAD) -> None:
        super().__init__()
        if ahead < 2:
            raise ValueError("a record may straddle two blocks: read at least 2 ahead")
        self._ahead = ahead
        self._stream = stream
        raw = read_up_to(stream, SAMPLE_BYTES)
        self._eof = len(raw) < SAMPLE_BYTES
        reject_utf16(raw)
        refuse_binary(raw, sample=True)
        self.encoding = encoding or detect_encoding(raw, complete=self._eof)
        self._transcoder = Transcoder(self.encoding)
        self._head = self._transcoder.feed(raw, final=self._eof)
        self._marker = b""
        self._done = False
        self._gate = threading.Condition()
        self._pulled = 0
        self._released = 0
        self._abandoned = False

    # -- before start(): the head, for sniffing -------------------------------------------

    @property
    def complete(self) -> bool:
        """Whether the head holds the whole file."""
        return self._eof

    def head_text(self) -> str:
        return codecs.getincrementaldecoder("utf-8")().decode(self._head, self._eof)

    def extend_head(self) -> bool:
        """Read another sample into the head; False when there is nothing more to read."""
        if self._eof or len(self._head) >= MAX_HEAD_BYTES:
            return False
        offset = self._transcoder.consumed
        raw = read_up_to(self._stream, SAMPLE_BYTES)
        self._eof = len(raw) < SAMPLE_BYTES
        refuse_binary(raw, offset=offset)
        self._head += self._transcoder.feed(raw, final=self._eof)
        return True

    def start(self, *, skip: int, marker: str) -> None:
        """Drop the first `skip` bytes (the header) and end the data with `marker`."""
        self._head = self._head[skip:]
        self._marker = marker.encode("utf-8")
        if self._eof:
            self._head += self._marker
            self._done = True

    # -- after start(): a file object for pyarrow -------------------------------------------

    def release(self) -> None:
        """One more block has been parsed: let the reader fetch another."""
        with self._gate:
            self._released += 1
            self._gate.notify_all()

    def abandon(self) -> None:
        """The caller stops reading: end the data now, waking a read waiting for `release`."""
        with self._gate:
            self._abandoned = True
            self._gate.notify_all()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        while not self._head and not self._done:
            # pyarrow reads up to 32 blocks ahead of its parser, from an I/O thread: hold it to
            # `ahead` blocks past the last parsed one (then let it refill half of them at once),
            # to bound memory and to stop soon after the caller does.
            with self._gate:
                if self._pulled >= self._released + self._ahead:
                    self._gate.wait_for(
                        lambda: self._abandoned or self._pulled <= self._released + self._ahead // 2
                    )
                if self._abandoned:
                    return b""
                self._pulled += 1
            self._pull(max(size, SAMPLE_BYTES))
        if size < 0 or size >= len(self._head):
            out, self._head = self._head, b""
        else:
            out, self._head = self._head[:size], self._head[size:]
        return out

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _pull(self, size: int) -> None:
        # Whole blocks, however short the caller's reads: pyarrow parses what one read returns.
        offset = self._transcoder.consumed
        raw = read_up_to(self._stream, size)
        refuse_binary(raw, offset=offset)
        self._done = len(raw) < size
        self._head = self._transcoder.feed(raw, final=self._done)
        if self._done:
            self._head += self._marker
