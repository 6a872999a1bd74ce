"""Keyset paging, newest first by (created_at, id): a page starts after the last row of the
previous one, so no row is skipped or repeated while rows are added."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_

Position = tuple[datetime, uuid.UUID]
Q = TypeVar("Q", bound=Select[Any])


def newest_first(query: Q, created: Any, id_: Any, *, after: Position | None, limit: int) -> Q:
    """`query` ordered newest first and cut to the page that follows `after`."""
    query = query.order_by(created.desc(), id_.desc()).limit(limit)
    if after is not None:
        query = query.where(or_(created < after[0], and_(created == after[0], id_ < after[1])))
    return query
