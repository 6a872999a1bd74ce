"""The parts a benchmark runs against, all local and all from the repository's own code.

`BenchStack` starts the Tansu broker and embedded Postgres (through `mloop_common.localstack`),
optionally moto's S3 server, runs the prestart step, and launches servers (the gateway, a trainer,
a bare endpoint) as child processes that share one set of `MLOOP_*` variables. It is a context
manager: leaving it, normally or through Ctrl-C, stops every process it started and removes
its work folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from mloop_common.localstack.parts import (
    EmbeddedPostgres,
    die_with_parent,
    free_port,
    start_broker,
    stop_process,
    wait_for_port,
)

from bench import BenchmarkFailed

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 120.0
S3_BUCKET = "mloop-bench"
S3_PREFIX = "artifacts"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class StackError(BenchmarkFailed):
    """A part of the stack did not start or stopped on its own."""


@dataclass
class Server:
    """An HTTP server running as a child process, logging to its own file."""

    name: str
    process: subprocess.Popen
    url: str
    log_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return "(no log)"
        text = self.log_file.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise StackError(
                f"{self.name} exited with {self.process.returncode}; log tail:\n{self.log_tail()}"
            )


class BenchStack:
    """Broker, Postgres, optional S3 server and the servers under test, in one temp folder."""

    def __init__(self, *, s3: bool = False, workdir: Path | None = None) -> None:
        self.s3 = s3
        self._workdir_given = workdir is not None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="mloop-bench-"))
        self.home = self.workdir / "home"
        self.logs = self.workdir / "logs"
        self.admin_key = "bench_" + secrets.token_urlsafe(24)
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("MLOOP_")}
        self._processes: list[subprocess.Popen] = []
        self._postgres: EmbeddedPostgres | None = None

    def __enter__(self) -> BenchStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env.update(
            MLOOP_HOME=str(self.home),
            MLOOP_ADMIN_KEY=self.admin_key,
            MLOOP_LOG_LEVEL="INFO",
        )
        broker_port = free_port()
        log.info("starting the local broker on 127.0.0.1:%d", broker_port)
        self._processes.append(start_broker(broker_port, self.logs / "broker.log"))
        self.env["MLOOP_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{broker_port}"

        log.info("starting embedded Postgres")
        self._postgres = EmbeddedPostgres(self.home / "postgres")
        self.env["MLOOP_DATABASE_URL"] = self._postgres.url()

        if self.s3:
            self._start_s3()

        log.info("migrating the database and creating topics")
        self._run_step([sys.executable, "-m", "mloop_common.prestart"], "prestart")

    def _start_s3(self) -> None:
        import boto3
        from botocore.config import Config

        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        log.info("starting moto's S3 server on %s", endpoint)
        process = self._spawn(
            "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        )
        wait_for_port(port, timeout=30, process=process)
        self.env.update(S3_ENV)
        self.env["MLOOP_S3_ENDPOINT_URL"] = endpoint
        self.env["MLOOP_ARTIFACT_URL"] = f"s3://{S3_BUCKET}/{S3_PREFIX}"
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket=S3_BUCKET)

    def _run_step(self, command: list[str], name: str) -> None:
        log_file = self.logs / f"{name}.log"
        with log_file.open("ab") as out:
            result = subprocess.run(
                command, env=self.env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        if result.returncode != 0:
            tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-40:])
            raise StackError(f"{name} failed with {result.returncode}; log tail:\n{tail}")

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                command,
                env=self.env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        self._processes.append(process)
        return process

    def start_server(
        self, name: str, command: list[str], *, port: int, health_path: str = "/health"
    ) -> Server:
        """Start an HTTP server and wait until `health_path` answers 200."""
        process = self._spawn(name, command)
        server = Server(name, process, f"http://127.0.0.1:{port}", self.logs / f"{name}.log")
        deadline = time.monotonic() + READY_TIMEOUT
        last: object = None
        while time.monotonic() < deadline:
            server.check_alive()
            try:
                response = httpx.get(server.url + health_path, timeout=2)
                if response.status_code == 200:
                    return server
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as error:
                last = error
            time.sleep(0.2)
        raise StackError(
            f"{name} not ready after {READY_TIMEOUT:.0f}s ({last}); log tail:\n{server.log_tail()}"
        )

    def start_gateway(self) -> Server:
        port = free_port()
        self.env["MLOOP_GATEWAY_PORT"] = str(port)
        self.env["MLOOP_GATEWAY_HOST"] = "127.0.0.1"
        log.info("starting the gateway on 127.0.0.1:%d", port)
        return self.start_server("gateway", [sys.executable, "-m", "mloop_gateway"], port=port)

    def start_trainer(self, *, concurrency: int = 1) -> Server:
        """A trainer running `concurrency` runs at once; it answers /health once its broker
        is up and its warm run processes are started (their imports go on in the background)."""
        port = free_port()
        self.env["MLOOP_TRAINER_PORT"] = str(port)
        self.env["MLOOP_TRAINER_CONCURRENCY"] = str(concurrency)
        log.info("starting a trainer (concurrency %d) on 127.0.0.1:%d", concurrency, port)
        return self.start_server("trainer", [sys.executable, "-m", "mloop_trainer"], port=port)

    def close(self) -> None:
        for process in reversed(self._processes):
            with contextlib.suppress(Exception):
                stop_process(process)
        self._processes.clear()
        if self._postgres is not None:
            with contextlib.suppress(Exception):
                self._postgres.stop()
            self._postgres = None
        if not self._workdir_given:
            shutil.rmtree(self.workdir, ignore_errors=True)
