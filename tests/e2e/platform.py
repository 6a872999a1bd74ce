"""`make run` as a subprocess with its own home and ports, for end-to-end tests: started with
extra `MLOOP_*` settings, waited on until it says it is up, stopped with its process group."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mloop_common.localstack.parts import free_port

REPO = Path(__file__).resolve().parents[2]
UP = "MLoop is up."
PORTS = ("gateway", "predictor", "trainer", "monitor", "scheduler", "kafka")


@dataclass
class Platform:
    home: Path
    ports: dict[str, int]
    output: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.ports['kafka']}"

    @property
    def admin_key(self) -> str:
        return (self.home / "admin.key").read_text().strip()

    def log(self, service: str, lines: int = 80) -> str:
        path = self.home / "logs" / f"{service}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(60)


def start(folder: Path, settings: dict[str, str] | None = None, timeout: float = 240) -> Platform:
    """`make -s run` with `settings` (names without the MLOOP_ prefix) and fresh ports, once up."""
    home = folder / "home"
    ports = {name: free_port() for name in PORTS}
    env = dict(
        os.environ,
        MLOOP_HOME=str(home),
        MLOOP_GATEWAY_PORT=str(ports["gateway"]),
        MLOOP_PREDICTOR_PORT=str(ports["predictor"]),
        MLOOP_TRAINER_PORT=str(ports["trainer"]),
        MLOOP_MONITOR_PORT=str(ports["monitor"]),
        MLOOP_SCHEDULER_PORT=str(ports["scheduler"]),
        MLOOP_LOCAL_KAFKA_PORT=str(ports["kafka"]),
        **{f"MLOOP_{name.upper()}": value for name, value in (settings or {}).items()},
    )
    for name in ("MLOOP_KAFKA_BOOTSTRAP", "MLOOP_DATABASE_URL", "MLOOP_ADMIN_KEY"):
        env.pop(name, None)
    output = folder / "make-run.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [shutil.which("make") or "make", "-s", "run"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    platform = Platform(home, ports, output, process)
    deadline = time.monotonic() + timeout
    while UP not in output.read_text() and process.poll() is None:
        if time.monotonic() > deadline:
            platform.stop()
            raise AssertionError(output.read_text())
        time.sleep(0.5)
    if process.poll() is not None:
        raise AssertionError(output.read_text())
    return platform
