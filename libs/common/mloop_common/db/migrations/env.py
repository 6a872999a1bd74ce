"""Alembic environment: the URL comes from MLoop's settings, never from alembic.ini."""

import asyncio

from alembic import context
from mloop_common.db import (  # noqa: F401  (registers their tables)
    feedback,
    monitoring,
    policy,
    serving,
    training,
    triggers,
    web_sessions,
    webhooks,
    workflow_runs,
    workflows,
)
from mloop_common.db.catalog import Base
from mloop_common.settings import Settings
from sqlalchemy.ext.asyncio import create_async_engine

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or Settings().require_database()
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


asyncio.run(_run_async())
