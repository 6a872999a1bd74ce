"""A bounded byte channel from the event loop to a worker thread.

The upload route puts each chunk of the request body into one pipe per consumer (the artifact
store writer, the CSV inspector); each consumer reads in its own thread. Backpressure comes from
the bounded queue, so memory stays at a few chunks per pipe whatever the upload's size.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator

_END = b""


class PipeAborted(Exception):
    """The producer gave up (bad input, client gone): the consumer must not finish its work."""


class Pipe:
    def __init__(self, maxsize: int = 8) -> None:
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize)
        self._aborted = threading.Event()
        self._reader_gone = threading.Event()
        self._pending = memoryview(b"")
        self._ended = False

    # --- producer side (event loop) ---

    async def put(self, chunk: bytes) -> None:
        if self._reader_gone.is_set():
            return
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            await asyncio.to_thread(self._put_blocking, chunk)

    def _put_blocking(self, chunk: bytes) -> None:
        while not self._reader_gone.is_set():
            try:
                self._queue.put(chunk, timeout=0.1)
                return
            except queue.Full:
                continue

    async def close(self) -> None:
        """The end of the stream."""
        await self.put(_END)

    def abort(self) -> None:
        self._aborted.set()
        try:
            self._queue.put_nowait(_END)  # wake a reader waiting on an empty queue
        except queue.Full:
            pass  # the reader is not waiting; it sees the flag on its next chunk

    # --- consumer side (worker thread) ---

    def done_reading(self) -> None:
        """The consumer stopped early; later chunks are dropped instead of blocking."""
        self._reader_gone.set()

    def _next(self) -> bytes:
        if self._ended:
            return _END
        chunk = self._queue.get()
        if self._aborted.is_set():
            raise PipeAborted("the upload was abandoned")
        if not chunk:  # _END
            self._ended = True
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._next():
            yield chunk

    def read(self, size: int = -1) -> bytes:
        """File-like read: up to `size` bytes (all the rest for -1); `b""` at the end."""
        if size is None or size < 0:
            parts = [bytes(self._pending), *iter(self)]
            self._pending = memoryview(b"")
            return b"".join(parts)
        while not self._pending:
            chunk = self._next()
            if not chunk:
                return b""
            if len(chunk) <= size:
                return chunk  # whole chunks go on uncopied
            self._pending = memoryview(chunk)
        taken, self._pending = self._pending[:size], self._pending[size:]
        return bytes(taken)

    def readable(self) -> bool:
        return True
