"""A read-through file wrapper that reports progress as httpx streams it into a request body."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

ProgressCallback = Callable[[int, int], None]


class ProgressFile:
    """Wraps a binary file: every `read` reports `(bytes read so far, total bytes)`.

    httpx's multipart encoder reads the file in chunks while sending, so the file is never held in
    memory and the callback follows the upload. It also seeks to 0 before each attempt, which
    restarts the count on a retry.
    """

    def __init__(self, file: BinaryIO, on_progress: ProgressCallback) -> None:
        self._file = file
        self._on_progress = on_progress
        self.name = getattr(file, "name", "upload")
        self.total = _size(file)
        self._sent = file.tell()

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if chunk:
            self._sent += len(chunk)
            self._on_progress(self._sent, self.total)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._sent = self._file.seek(offset, whence)
        return self._sent

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()


def _size(file: BinaryIO) -> int:
    try:
        return os.fstat(file.fileno()).st_size
    except (AttributeError, OSError):
        position = file.tell()
        size = file.seek(0, os.SEEK_END)
        file.seek(position)
        return size
