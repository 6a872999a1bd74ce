"""Which text encoding an upload uses, and turning its bytes into UTF-8 chunk by chunk.

Detection looks at the first bytes only: a UTF-8 byte-order mark, else valid UTF-8, else CP949
(a superset of EUC-KR) when its non-ASCII text is mostly Hangul, else Latin-1, which decodes
anything. The `Transcoder` then checks the rest of the file as it streams past and raises
`WrongEncoding` at the first byte the chosen encoding cannot decode.
"""

from __future__ import annotations

import codecs
import re

from .errors import WrongEncoding, unsupported_encoding

UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "UTF-16 (little-endian)", codecs.BOM_UTF16_BE: "UTF-16"}
_UTF8_FAMILY = {"utf-8", "utf-8-sig"}
_ASCII = re.compile(r"[\x00-\x7f]+")
_NOT_HANGUL = re.compile(r"[^\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+")
_JUDGED_BYTES = 1 << 16


def reject_utf16(sample: bytes) -> None:
    """Refuse UTF-16 by its byte-order mark, before its NUL bytes make it look binary."""
    for bom, name in _UTF16_BOMS.items():
        if sample.startswith(bom):
            raise unsupported_encoding(name)


def detect_encoding(sample: bytes, *, complete: bool) -> str:
    """The encoding of a file starting with `sample` (`complete` when that is the whole file)."""
    if sample.startswith(UTF8_BOM):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, complete)
    except UnicodeDecodeError:
        return guess_legacy(sample)
    return "utf-8"


def guess_legacy(data: bytes) -> str:
    """CP949 when `data` decodes as CP949 into mostly Hangul, else Latin-1."""
    try:
        text = codecs.getincrementaldecoder("cp949")().decode(data, False)
    except UnicodeDecodeError:
        return "latin-1"
    foreign = _ASCII.sub("", text)
    hangul = _NOT_HANGUL.sub("", foreign)
    return "cp949" if foreign and len(hangul) * 2 > len(foreign) else "latin-1"


class Transcoder:
    """Feeds raw chunks of one encoding and returns the same text as UTF-8 bytes.

    UTF-8 input is only validated and passed through (minus a byte-order mark); anything else
    is decoded and re-encoded. A multi-byte character split between two chunks is carried over.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        codec = codecs.lookup(encoding).name
        self._passthrough = codec in _UTF8_FAMILY
        self._strip_bom = codec == "utf-8-sig"
        self._decoder = codecs.getincrementaldecoder("utf-8" if self._passthrough else codec)()
        self.consumed = 0
        """Raw bytes fed so far."""

    def feed(self, raw: bytes, *, final: bool = False) -> bytes:
        if self._strip_bom and self.consumed == 0 and raw.startswith(UTF8_BOM):
            self.consumed = len(UTF8_BOM)
            raw = raw[len(UTF8_BOM) :]
        carried = len(self._decoder.getstate()[0])
        if self._passthrough and not carried and raw.isascii():
            self.consumed += len(raw)
            return raw
        try:
            text = self._decoder.decode(raw, final)
        except UnicodeDecodeError as exc:
            raise self._wrong(exc, self.consumed - carried) from None
        self.consumed += len(raw)
        return raw if self._passthrough else text.encode("utf-8")

    def _wrong(self, exc: UnicodeDecodeError, origin: int) -> WrongEncoding:
        """`origin` is the file offset of the first byte of `exc.object`."""
        data = bytes(exc.object)
        retry = "latin-1"
        if self._passthrough:
            # Judge the failing part from the start of its line: a line start is a character
            # boundary in UTF-8 and in CP949 alike.
            start = data.rfind(b"\n", 0, exc.start) + 1
            retry = guess_legacy(data[start : start + _JUDGED_BYTES])
        return WrongEncoding(self.encoding, retry, origin + exc.start + 1)
