"""What every service process has: settings, telemetry, database, broker, outbox relay,
heartbeats and background loops, started and stopped by one FastAPI lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiokafka import TopicPartition
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from mloop_common.body_limit import BodyLimitMiddleware
from mloop_common.broker import create_broker, restart_subscribers, start_subscribed
from mloop_common.db.engine import Database
from mloop_common.heartbeat import send_heartbeats
from mloop_common.kafka import BrokerWatch
from mloop_common.outbox import OutboxRelay
from mloop_common.problems import install_problem_handlers
from mloop_common.settings import Settings
from mloop_common.telemetry import Telemetry, setup_telemetry

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(self, settings: Settings, *, service: str) -> None:
        self.settings = settings
        self.service = service
        self.telemetry: Telemetry = setup_telemetry(settings, service)
        self.db = Database.from_settings(settings)
        self.broker: KafkaBroker = create_broker(
            settings, service=service, telemetry=self.telemetry
        )
        self.broker_watch = BrokerWatch(
            settings,
            service=service,
            db=self.db,
            process_steps=[lambda: restart_subscribers(self.broker)],
        )
        self.relay = OutboxRelay(
            service=service, db=self.db, settings=settings, before_publish=self.broker_watch.check
        )
        self.broker_watch.service_steps.append(self.relay.replay)
        self._loops: list[Callable[[], Awaitable[None]]] = [
            self.relay.run,
            self.broker_watch.run,
            lambda: send_heartbeats(
                self.broker, service=service, interval=settings.heartbeat_interval
            ),
            self._measure_lag,
        ]
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add_startup(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` once the broker is up, before the service reports itself started."""
        self._startup.append(step)

    def add_shutdown(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` when the app stops, after the background loops have been cancelled."""
        self._shutdown.append(step)

    def add_loop(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Keep `loop` running in the background (restarted if it crashes) while the app runs."""
        self._loops.append(loop)

    def create_app(self, **fastapi_options: object) -> FastAPI:
        app = FastAPI(lifespan=self.lifespan, **fastapi_options)  # type: ignore[arg-type]
        self.telemetry.instrument(app)
        install_problem_handlers(app)
        app.add_middleware(BodyLimitMiddleware, max_bytes=self.settings.request_max_bytes)
        app.state.runtime = self

        @app.get("/health", include_in_schema=False)
        async def _health() -> dict[str, str]:
            return {"status": "ok", "service": self.service}

        return app

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await start_subscribed(self.broker)
        for step in self._startup:
            await step()
        # What start-up allocated (libraries, models, clients) lives as long as the process:
        # move it out of the cyclic collector's sight, so its full passes walk only what the
        # work allocates (hundreds of thousands of objects otherwise, each pass pausing the
        # hot paths; it halved the monitor's feedback rate). Reference counting still frees them.
        gc.collect()
        gc.freeze()
        self._tasks = [asyncio.create_task(self._supervise(loop)) for loop in self._loops]
        log.info("%s started", self.service)
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for step in self._shutdown:
                await step()
            await self.broker.stop()
            await self.db.close()

    async def _supervise(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Keep a background loop alive: log a crash and start it again after a pause."""
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop %r crashed; restarting", loop)
                await asyncio.sleep(1.0)

    async def _measure_lag(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            for subscriber in self.broker.subscribers:
                consumer = getattr(subscriber, "consumer", None)
                group = getattr(subscriber, "group_id", None)
                if consumer is None or not group:
                    continue
                for tp in consumer.assignment():
                    await self._record_lag(consumer, group, tp)

    async def _record_lag(self, consumer, group: str, tp: TopicPartition) -> None:  # type: ignore[no-untyped-def]
        highwater = consumer.highwater(tp)
        if highwater is None:
            return
        position = await consumer.position(tp)
        self.telemetry.consumer_lag.labels(group, tp.topic, str(tp.partition)).set(
            max(highwater - position, 0)
        )


def serve(service: str, create_app: Callable[[Settings], FastAPI]) -> None:
    """`python -m mloop_<service>`: build settings, the app, and run it under uvicorn."""
    import uvicorn

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )
    host = {"gateway": settings.gateway_host, "predictor": settings.predictor_host}.get(
        service, "127.0.0.1"
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=settings.service_port(service),
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
    )
