"""The real `make run` path: a subprocess with its own home and ports, healthy, then stopped
with nothing left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
from mloop_common.localstack.parts import free_port

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"gateway", "trainer", "predictor", "monitor", "scheduler"}


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _postgres_of(home: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(home) in " ".join(cmdline):
            found.append(process)
    return found


def test_make_run_comes_up_healthy_and_stops_clean(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ports = {
        name: free_port()
        for name in ["gateway", "predictor", "trainer", "monitor", "scheduler", "kafka"]
    }
    env = dict(
        os.environ,
        MLOOP_HOME=str(home),
        MLOOP_GATEWAY_PORT=str(ports["gateway"]),
        MLOOP_PREDICTOR_PORT=str(ports["predictor"]),
        MLOOP_TRAINER_PORT=str(ports["trainer"]),
        MLOOP_MONITOR_PORT=str(ports["monitor"]),
        MLOOP_SCHEDULER_PORT=str(ports["scheduler"]),
        MLOOP_LOCAL_KAFKA_PORT=str(ports["kafka"]),
        MLOOP_HEARTBEAT_INTERVAL="0.5",
        MLOOP_HEARTBEAT_TIMEOUT="3",
    )
    for name in ("MLOOP_KAFKA_BOOTSTRAP", "MLOOP_DATABASE_URL", "MLOOP_ADMIN_KEY"):
        env.pop(name, None)
    output = tmp_path / "make-run.out"
    started = time.monotonic()
    with output.open("wb") as out:
        make = subprocess.Popen(
            [shutil.which("make") or "make", "-s", "run"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while "MLoop is up." not in output.read_text() and make.poll() is None:
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.5)
        assert make.poll() is None, output.read_text()
        print(f"make run healthy after {time.monotonic() - started:.1f} s")

        text = output.read_text()
        health = httpx.get(f"http://127.0.0.1:{ports['gateway']}/api/health").json()
        assert health["status"] == "ok"
        assert set(health["services"]) == SERVICES
        assert set(health["services"].values()) == {"ok"}
        assert health["dependencies"] == {"kafka": "ok", "postgres": "ok", "storage": "ok"}
        assert f"127.0.0.1:{ports['kafka']}" in text  # the bootstrap address for producers
        admin_key = (home / "admin.key").read_text().strip()
        assert admin_key in text
        assert {p.name for p in (home / "logs").iterdir()} >= {f"{s}.log" for s in SERVICES}

        children = _descendants(make.pid)
        assert _postgres_of(home), "embedded Postgres is not running under MLOOP_HOME"

        # A stopped service shows as down within 15 seconds.
        trainer = next(p for p in children if "mloop_trainer" in " ".join(p.cmdline()))
        trainer.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 15
            while (
                httpx.get(f"http://127.0.0.1:{ports['gateway']}/api/health").json()["services"][
                    "trainer"
                ]
                != "down"
            ):
                assert time.monotonic() < deadline, "a stopped trainer still shows as ok"
                time.sleep(0.5)
        finally:
            trainer.send_signal(signal.SIGCONT)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(60)

    psutil.wait_procs(children, timeout=15)
    assert [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert _postgres_of(home) == [], "embedded Postgres outlived make run"
    assert "stopped" in output.read_text()
