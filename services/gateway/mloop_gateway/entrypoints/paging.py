"""Query parameters and answers of lists paged newest first (`limit`, `cursor`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from mloop_common.db.paging import Position
from mloop_common.problems import invalid

from mloop_gateway.domain.paging import BadCursor, decode_cursor, encode_cursor
from mloop_gateway.entrypoints.schemas import Page

Limit = Annotated[int, Query(ge=1, le=200)]
R = TypeVar("R")


def _position(
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> Position | None:
    if not cursor:
        return None
    try:
        return decode_cursor(cursor)
    except BadCursor as err:
        raise invalid(["query", "cursor"], str(err), "cursor") from err


After = Annotated[Position | None, Depends(_position)]


def page_of(
    rows: Sequence[R],
    limit: int,
    public: Callable[[R], Any],
    *,
    row: Callable[[R], Any] = lambda found: found,
) -> Page[Any]:
    """The page of `rows`; a full page gets a cursor to the next (`row` gives the item's
    underlying row, whose created_at and id the cursor keeps)."""
    last = row(rows[-1]) if len(rows) == limit else None
    return Page(
        items=[public(found) for found in rows],
        next_cursor=encode_cursor(last.created_at, last.id) if last else None,
    )
