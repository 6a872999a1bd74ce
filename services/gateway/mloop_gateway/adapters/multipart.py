"""Streaming multipart/form-data: the file part flows on in chunks, small fields are collected.

Built on python-multipart's push parser, so nothing is spooled to disk or held whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

FLUSH_BYTES = 1 << 20
MAX_FIELD_BYTES = 4096


class FormError(ValueError):
    """The body is not the multipart form the endpoint expects."""

    def __init__(self, loc: list[str], msg: str, type_: str) -> None:
        super().__init__(msg)
        self.loc, self.msg, self.type = loc, msg, type_


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    text: bytearray = field(default_factory=bytearray)


class MultipartStream:
    """Parse `body`; yield the file field's bytes in chunks of about `FLUSH_BYTES`.

    Text fields are in `fields` once the stream is exhausted; the file's name is `filename`.
    """

    def __init__(self, content_type: str, *, file_field: str, text_fields: set[str]) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise FormError(["header", "content-type"], "send multipart/form-data", "media_type")
        self.file_field, self.text_fields = file_field, text_fields
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_parts = 0
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._file_data: list[memoryview] = []
        self._file_bytes = 0
        self._error: FormError | None = None
        self._ended = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda data, start, end: self._header_field.extend(
                    data[start:end]
                ),
                "on_header_value": lambda data, start, end: self._header_value.extend(
                    data[start:end]
                ),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    async def file_chunks(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in body:
            try:
                self._parser.write(chunk)
            except MultipartParseError as err:
                raise FormError(["body"], f"malformed multipart body: {err}", "multipart") from err
            if self._error:
                raise self._error
            if self._file_bytes >= FLUSH_BYTES:
                yield self._take()
        try:
            self._parser.finalize()
        except MultipartParseError as err:
            raise FormError(["body"], f"malformed multipart body: {err}", "multipart") from err
        if self._error:
            raise self._error
        if not self._ended:
            raise FormError(["body"], "the body ends before its closing boundary", "truncated")
        if self._file_data:
            yield self._take()
        if self.file_parts == 0:
            raise FormError(["body", self.file_field], "the form has no file field", "missing")

    def _take(self) -> bytes:
        data = b"".join(self._file_data)  # the one copy of the file's bytes on this path
        self._file_data.clear()
        self._file_bytes = 0
        return data

    def _fail(self, loc: list[str], msg: str, type_: str) -> None:
        self._error = self._error or FormError(loc, msg, type_)

    def _on_end(self) -> None:
        self._ended = True

    def _on_part_begin(self) -> None:
        self._part = _Part()
        self._headers = {}

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._part = _Part(
            name=name, filename=None if filename is None else filename.decode("utf-8", "replace")
        )
        if name == self.file_field:
            self.file_parts += 1
            if self.file_parts > 1:
                self._fail(["body", name], "send one file per upload", "too_many")
            self.filename = self._part.filename
        elif name not in self.text_fields:
            self._fail(["body", name], f"unknown form field {name!r}", "extra_forbidden")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._error:
            return
        if self._part.name == self.file_field:
            self._file_data.append(memoryview(data)[start:end])
            self._file_bytes += end - start
        else:
            self._part.text += memoryview(data)[start:end]
            if len(self._part.text) > MAX_FIELD_BYTES:
                self._fail(
                    ["body", self._part.name], f"longer than {MAX_FIELD_BYTES} bytes", "too_long"
                )

    def _on_part_end(self) -> None:
        if self._error or self._part.name not in self.text_fields:
            return
        try:
            self.fields[self._part.name] = self._part.text.decode("utf-8")
        except UnicodeDecodeError:
            self._fail(["body", self._part.name], "not valid UTF-8", "unicode")
