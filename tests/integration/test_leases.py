"""Leases on real Postgres: concurrent claimers share work, a silent worker's item is re-queued,
and a worker whose lease was taken over cannot record a result."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from mloop_common import leases
from mloop_common.db.engine import Database
from mloop_common.settings import Settings
from sqlalchemy import Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class _Base(DeclarativeBase):
    pass


class Job(leases.LeasedWork, _Base):
    __tablename__ = f"test_jobs_{uuid.uuid4().hex[:8]}"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


@pytest.fixture
async def jobs(db: Database) -> Database:
    async with db.engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    async with db.transaction() as session:
        session.add_all([Job(id=i, status=leases.QUEUED, attempts=0) for i in range(1, 21)])
        await session.commit()
    yield db
    async with db.engine.begin() as conn:
        await conn.run_sync(_Base.metadata.drop_all)


async def test_concurrent_workers_never_claim_the_same_item(jobs: Database) -> None:
    async def worker(name: str) -> list[int]:
        claimed = []
        while (job := await leases.claim(jobs, Job, owner=name, ttl=30)) is not None:
            claimed.append(job.id)
        return claimed

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    everything = [job_id for claimed in results for job_id in claimed]
    assert sorted(everything) == list(range(1, 21))  # each claimed exactly once


async def test_expired_lease_is_requeued_and_the_old_holder_cannot_finish(
    jobs: Database, settings: Settings
) -> None:
    ttl = settings.lease_ttl
    first = await leases.claim(jobs, Job, owner="crashed", ttl=ttl)
    assert first is not None and first.attempts == 1
    assert await leases.requeue_expired(jobs, Job) == 0  # still leased
    await asyncio.sleep(ttl + 0.2)
    assert await leases.requeue_expired(jobs, Job) == 1

    again = await leases.claim(jobs, Job, owner="healthy", ttl=ttl)
    assert again is not None and again.id == first.id and again.attempts == 2
    with pytest.raises(leases.LeaseLost):
        await leases.finish(jobs, Job, first.id, owner="crashed", status=leases.SUCCEEDED)
    await leases.finish(jobs, Job, first.id, owner="healthy", status=leases.SUCCEEDED)


async def test_heartbeats_keep_a_long_job_leased(jobs: Database, settings: Settings) -> None:
    ttl = settings.lease_ttl
    job = await leases.claim(jobs, Job, owner="busy", ttl=ttl)
    assert job is not None
    async with leases.held(jobs, Job, job.id, owner="busy", ttl=ttl) as heartbeat:
        await asyncio.sleep(ttl * 2)  # twice the lease: only heartbeats keep it
        assert await leases.requeue_expired(jobs, Job) == 0
        assert not heartbeat.done()
    await leases.finish(jobs, Job, job.id, owner="busy", status=leases.SUCCEEDED)
