"""Feedback ingestion benchmark: the monitor draining a pre-filled feedback topic into Postgres,
against a bare script doing the same, and the lag at a steady rate.

One stack (broker, embedded Postgres, the monitor); a few scenarios written straight into
Postgres. `--messages` bare feedback messages (`{"scenario_id", "prediction_id", "actual"}`, ids
signed with the deployment's secret over the last hour, actuals of each scenario's task, all
ids distinct) are produced onto the feedback topic first. Then, in turn:

- **floor**: `bench.bare_feedback` in a subprocess (aiokafka `getmany` -> orjson -> asyncpg
  COPY into the same `feedback` table, same primary key and index, offsets committed after each
  batch);
- **platform**: the table emptied, the monitor started; it drains the same topic with its own
  consumer group (FastStream batch subscriber, orjson, every message checked: signed id,
  retention, the actual's type; one COPY per batch, an upsert when a key is stored already).

Both are timed the same way from outside: their consumer group's committed offsets, read every
0.1 s, from the first commit to the one covering every message (so the first batch of each is
outside the window). Rows per second of each and the ratio platform / floor (target: at least
0.5); the floor's own timing is reported beside it. Then **lag**: with the monitor caught up,
`--rate` messages per second for `--steady-seconds`, and for each message the time from its
send to the first committed-offset reading past it (commits follow the database commit); p50,
p99 and max (target p99: under 1 s). Figures are printed and written to
`bench/results/feedback.json`; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mloop_common.localstack.parts import free_port
from mloop_common.prediction_ids import PredictionIds
from rich.console import Console
from rich.table import Table

from bench import BenchmarkFailed
from bench.results import write_results
from bench.stack import REPO_ROOT, BenchStack, Server

TARGET_RATIO = 0.5
TARGET_P99 = 1.0
TOPIC = "mloop.feedback"  # the default MLOOP_FEEDBACK_TOPIC
MONITOR_GROUP = "mloop.monitor.feedback-topic"
FLOOR_GROUP = "bench.bare-feedback"
TASKS = ("classification", "regression")
LABELS = ("setosa", "versicolor", "virginica")
POLL = 0.1
LAG_POLL = 0.05
TICK = 0.01


@dataclass(frozen=True)
class Scenario:
    id: uuid.UUID
    task_type: str


def scenarios(count: int) -> list[Scenario]:
    return [Scenario(uuid.uuid4(), TASKS[i % len(TASKS)]) for i in range(count)]


def messages(
    ids: PredictionIds,
    among: Sequence[Scenario],
    count: int,
    *,
    now: datetime,
    seed: int = 7,
) -> list[bytes]:
    """`count` bare feedback messages over `among`, ids made in the hour before `now`."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        scenario = among[rng.randrange(len(among))]
        at = now - timedelta(seconds=rng.random() * 3600)
        if scenario.task_type == "classification":
            actual: Any = LABELS[rng.randrange(len(LABELS))]
        else:
            actual = round(rng.gauss(100, 15), 3)
        body = {
            "scenario_id": str(scenario.id),
            "prediction_id": ids.issue(scenario.id, at),
            "actual": actual,
        }
        found.append(orjson.dumps(body))
    return found


def drain_rate(readings: Sequence[tuple[float, int]], expected: int) -> dict[str, float]:
    """From (moment, committed total) readings: the window from the first reading above zero
    to the first covering `expected`, and the rate inside it."""
    first = next((r for r in readings if r[1] > 0), None)
    last = next((r for r in readings if r[1] >= expected), None)
    if first is None or last is None or last[0] <= first[0]:
        raise BenchmarkFailed(f"no usable drain window in {len(readings)} readings")
    seconds = last[0] - first[0]
    return {
        "seconds": seconds,
        "rows": last[1] - first[1],
        "rows_per_s": (last[1] - first[1]) / seconds,
    }


def lags(
    sent: Sequence[tuple[int, int, float]], readings: Sequence[tuple[float, dict[int, int]]]
) -> list[float]:
    """Per message (partition, offset, sent at): seconds until the first reading whose
    committed offset of its partition is past it (messages never covered are left out)."""
    times = [moment for moment, _ in readings]
    by_partition: dict[int, list[int]] = {}
    for _, committed in readings:
        for partition, offset in committed.items():
            by_partition.setdefault(partition, []).append(offset)
    found = []
    for partition, offset, at in sent:
        committed = by_partition.get(partition)
        if not committed:
            continue
        index = bisect.bisect_right(committed, offset)  # first reading with committed > offset
        if index < len(committed):
            found.append(max(times[index] - at, 0.0))
    return found


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- Kafka -----------------------------------------------------------------------------------


class CommitWatch:
    """Reads a consumer group's committed offsets without joining it (assign mode)."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.consumer: AIOKafkaConsumer | None = None
        self.partitions: list[TopicPartition] = []

    async def __aenter__(self) -> CommitWatch:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False
        )
        await self.consumer.start()
        await self.consumer.topics()
        numbers = self.consumer.partitions_for_topic(self.topic) or set()
        self.partitions = [TopicPartition(self.topic, number) for number in sorted(numbers)]
        self.consumer.assign(self.partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def committed(self) -> dict[int, int]:
        assert self.consumer is not None
        return {tp.partition: (await self.consumer.committed(tp)) or 0 for tp in self.partitions}


async def produce(bootstrap: str, topic: str, values: Sequence[bytes]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for offset in range(0, len(values), 20_000):
            futures = [
                await producer.send(topic, value) for value in values[offset : offset + 20_000]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def watch_drain(
    bootstrap: str, group: str, expected: int, *, timeout: float, alive: Callable[[], None]
) -> list[tuple[float, int]]:
    readings: list[tuple[float, int]] = []
    async with CommitWatch(bootstrap, TOPIC, group) as watch:
        deadline = time.monotonic() + timeout
        while True:
            total = sum((await watch.committed()).values())
            readings.append((time.monotonic(), total))
            if total >= expected:
                return readings
            if time.monotonic() > deadline:
                raise BenchmarkFailed(f"{group} committed {total:,} of {expected:,} in time")
            alive()
            await asyncio.sleep(POLL)


async def steady(
    bootstrap: str, values: Sequence[bytes], *, rate: int, timeout: float
) -> dict[str, Any]:
    """Send `values` at `rate` a second, reading the monitor's commits meanwhile."""
    readings: list[tuple[float, dict[int, int]]] = []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=2)
    await producer.start()
    per_tick = max(1, round(rate * TICK))
    sent_at: list[tuple[float, list[asyncio.Future]]] = []
    done = asyncio.Event()

    async with CommitWatch(bootstrap, TOPIC, MONITOR_GROUP) as watch:

        async def poll() -> None:
            while not done.is_set():
                readings.append((time.monotonic(), await watch.committed()))
                await asyncio.sleep(LAG_POLL)

        poller = asyncio.create_task(poll())
        try:
            began = time.monotonic()
            for tick, offset in enumerate(range(0, len(values), per_tick)):
                pause = began + tick * TICK - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                at = time.monotonic()
                chunk = values[offset : offset + per_tick]
                sent_at.append((at, [await producer.send(TOPIC, value) for value in chunk]))
            sending = time.monotonic() - began
            sent: list[tuple[int, int, float]] = []
            for at, futures in sent_at:
                for meta in await asyncio.gather(*futures):
                    sent.append((meta.partition, meta.offset, at))
            ends: dict[int, int] = {}
            for partition, offset, _ in sent:
                ends[partition] = max(ends.get(partition, 0), offset + 1)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if readings and all(readings[-1][1].get(p, 0) >= end for p, end in ends.items()):
                    break
                await asyncio.sleep(LAG_POLL)
        finally:
            done.set()
            await poller
            await producer.stop()
    measured = lags(sent, readings)
    return {
        "messages": len(sent),
        "send_seconds": sending,
        "achieved_rate": len(sent) / sending if sending else float("nan"),
        "stored": len(measured),
        "p50_s": percentile(measured, 0.50),
        "p99_s": percentile(measured, 0.99),
        "max_s": max(measured) if measured else float("nan"),
    }


# --- Postgres --------------------------------------------------------------------------------


async def _sql(database_url: str, statement: str, params: dict[str, Any] | None = None) -> Any:
    from mloop_common.db.engine import Database
    from sqlalchemy import text

    db = Database(database_url)
    try:
        async with db.transaction() as session:
            result = await session.execute(text(statement), params or {})
            value = result.scalar() if result.returns_rows else None
            await session.commit()
            return value
    finally:
        await db.close()


async def add_scenarios(database_url: str, among: Sequence[Scenario]) -> None:
    from mloop_common.db.catalog import Scenario as ScenarioRow
    from mloop_common.db.engine import Database

    db = Database(database_url)
    try:
        async with db.transaction() as session:
            for one in among:
                session.add(
                    ScenarioRow(
                        id=one.id,
                        name=f"bench-{one.task_type}",
                        task_type=one.task_type,
                        description="",
                        tags=[],
                    )
                )
            await session.commit()
    finally:
        await db.close()


def count_rows(database_url: str) -> int:
    return asyncio.run(_sql(database_url, "SELECT count(*) FROM feedback"))


# --- the run ---------------------------------------------------------------------------------


def _floor(stack: BenchStack, expected: int, batch: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.bare_feedback",
        stack.env["MLOOP_KAFKA_BOOTSTRAP"],
        TOPIC,
        stack.env["MLOOP_DATABASE_URL"],
        FLOOR_GROUP,
        str(expected),
        str(batch),
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def alive() -> None:
        if process.poll() is not None and process.returncode != 0:
            raise BenchmarkFailed(f"the floor script failed:\n{process.stderr.read()[-3000:]}")

    readings = asyncio.run(
        watch_drain(
            stack.env["MLOOP_KAFKA_BOOTSTRAP"], FLOOR_GROUP, expected, timeout=3600, alive=alive
        )
    )
    out, err = process.communicate(timeout=120)
    if process.returncode != 0:
        raise BenchmarkFailed(f"the floor script failed ({process.returncode}):\n{err[-3000:]}")
    return {"external": drain_rate(readings, expected), "own": json.loads(out.splitlines()[-1])}


def _start_monitor(stack: BenchStack) -> Server:
    port = free_port()
    stack.env["MLOOP_MONITOR_PORT"] = str(port)
    return stack.start_server("monitor", [sys.executable, "-m", "mloop_monitor"], port=port)


def run(
    messages_: Annotated[
        int, typer.Option("--messages", min=1000, help="Messages pre-filled on the topic.")
    ] = 1_000_000,
    scenario_count: Annotated[int, typer.Option("--scenarios", min=1)] = 4,
    rate: Annotated[int, typer.Option(min=1, help="Messages a second in the lag phase.")] = 10_000,
    steady_seconds: Annotated[float, typer.Option(min=1, help="Seconds of the lag phase.")] = 20.0,
    batch: Annotated[
        int, typer.Option(min=1, help="Messages per batch (MLOOP_FEEDBACK_BATCH_SIZE).")
    ] = 5000,
) -> None:
    """Drain a pre-filled feedback topic with the monitor and with a bare script; then the lag
    at a steady rate."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 110)
    secret = secrets.token_urlsafe(24)
    ids = PredictionIds(secret)
    among = scenarios(scenario_count)
    now = datetime.now(UTC)
    console.print(f"generating {messages_:,} + {int(rate * steady_seconds):,} messages")
    started = time.perf_counter()
    backlog = messages(ids, among, messages_, now=now, seed=1)
    live = messages(ids, among, int(rate * steady_seconds), now=now, seed=2)
    console.print(f"generated in {time.perf_counter() - started:.1f} s")
    with BenchStack() as stack:
        stack.env.update(
            MLOOP_PREDICTION_SECRET=secret,
            MLOOP_FEEDBACK_BATCH_SIZE=str(batch),
            MLOOP_FEEDBACK_TTL="86400",  # no time-to-live sweep during the run
            MLOOP_FEEDBACK_TOPIC=TOPIC,
        )
        bootstrap, database_url = (
            stack.env["MLOOP_KAFKA_BOOTSTRAP"],
            stack.env["MLOOP_DATABASE_URL"],
        )
        asyncio.run(add_scenarios(database_url, among))
        prefill = asyncio.run(produce(bootstrap, TOPIC, backlog))
        console.print(f"topic pre-filled in {prefill:.1f} s ({messages_ / prefill:,.0f}/s)")

        floor = _floor(stack, messages_, batch)
        floor_rows = count_rows(database_url)
        console.print(f"floor: {floor['external']['rows_per_s']:,.0f} rows/s ({floor_rows:,} rows)")
        asyncio.run(_sql(database_url, "TRUNCATE feedback"))

        monitor = _start_monitor(stack)
        readings = asyncio.run(
            watch_drain(
                bootstrap, MONITOR_GROUP, messages_, timeout=3600, alive=monitor.check_alive
            )
        )
        platform = drain_rate(readings, messages_)
        platform_rows = count_rows(database_url)
        console.print(f"platform: {platform['rows_per_s']:,.0f} rows/s ({platform_rows:,} rows)")

        lag = asyncio.run(steady(bootstrap, live, rate=rate, timeout=120))
        monitor.check_alive()

    ratio = platform["rows_per_s"] / floor["external"]["rows_per_s"]
    table = Table(title=f"Feedback ingestion ({messages_:,} messages, {scenario_count} scenarios)")
    for column in ("", "rows/s", "seconds", "rows", "note"):
        table.add_column(column)
    table.add_row(
        "floor (bare script)",
        f"{floor['external']['rows_per_s']:,.0f}",
        f"{floor['external']['seconds']:.1f}",
        f"{floor_rows:,}",
        f"own timing {floor['own']['rows_per_s']:,.0f} rows/s",
    )
    table.add_row(
        "platform (monitor)",
        f"{platform['rows_per_s']:,.0f}",
        f"{platform['seconds']:.1f}",
        f"{platform_rows:,}",
        f"ratio {ratio:.2f} (target ≥ {TARGET_RATIO})",
    )
    console.print(table)
    console.print(
        f"lag at {lag['achieved_rate']:,.0f} msg/s for {lag['send_seconds']:.1f} s "
        f"({lag['stored']:,} of {lag['messages']:,} seen stored): p50 {lag['p50_s']:.3f} s, "
        f"p99 {lag['p99_s']:.3f} s (target < {TARGET_P99} s), max {lag['max_s']:.3f} s"
    )
    path = write_results(
        "feedback",
        {
            "messages": messages_,
            "scenarios": scenario_count,
            "batch": batch,
            "prefill_seconds": prefill,
            "floor": {**floor, "rows_stored": floor_rows},
            "platform": {**platform, "rows_stored": platform_rows},
            "ratio": ratio,
            "ratio_target": TARGET_RATIO,
            "lag": {**lag, "rate": rate, "p99_target_s": TARGET_P99},
        },
    )
    console.print(f"results: {path}")
