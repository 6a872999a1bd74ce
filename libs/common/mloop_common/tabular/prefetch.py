"""Running an iterator a few items ahead in a worker thread.

pyarrow parses with the GIL released, so reading the next batch in a thread while the caller
analyses the current one uses two cores. Errors raised by the iterator (WrongEncoding,
CsvRejected, ...) reach the caller unchanged, after the items produced before them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.1
_END = object()


def prefetch(produce: Callable[[], Iterator[T]], *, depth: int = 2) -> Generator[T, None, None]:
    """Iterate `produce()` in a daemon thread, at most `depth` items ahead of the caller.

    Close the returned generator (or exhaust it) to stop the thread.
    """
    handoff: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                handoff.put((item, error), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
        except BaseException as exc:  # handed to the caller, who re-raises it
            put(None, exc)
            return
        put(_END)

    worker = threading.Thread(target=work, name="tabular-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                break
            yield item  # type: ignore[misc]
        worker.join()
    finally:
        stop.set()
