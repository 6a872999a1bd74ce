"""The peers' environment: the tools MLoop is compared with (MLflow's scoring server,
Evidently's data drift preset), in a virtual environment of their own, `bench/.peers-venv`,
never in the workspace's locked one (their pins clash with ours: Evidently 0.7 does not import
with pandas 3, so this environment keeps pandas below 3).

`python -m bench.peers` (run by `make bench`) creates it with uv when it is missing: MLflow,
Evidently, pandas < 3, and the workspace's own LightGBM and scikit-learn versions, so the
estimator the benchmark hands over loads exactly as it was fitted. The serving and drift
benchmarks create it too when it is missing.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import BenchmarkFailed
from bench.stack import REPO_ROOT

log = logging.getLogger(__name__)

PEERS_VENV = REPO_ROOT / "bench" / ".peers-venv"
PINNED_LIKE_WORKSPACE = ("lightgbm", "scikit-learn")
UNPINNED = ("mlflow", "evidently>=0.7,<0.8", "pandas<3")
# Installed in the environment (checked by name; an older environment without one is updated).
REQUIRED = ("mlflow", "evidently")


def python() -> Path:
    return PEERS_VENV / "bin" / "python"


def mlflow() -> Path:
    return PEERS_VENV / "bin" / "mlflow"


def requirements() -> list[str]:
    pinned = [f"{name}=={importlib.metadata.version(name)}" for name in PINNED_LIKE_WORKSPACE]
    return [*UNPINNED, *pinned]


def _uv() -> str:
    found = shutil.which("uv") or str(REPO_ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        raise BenchmarkFailed("uv is needed to create the peers' environment (make install)")
    return found


def ensure() -> Path:
    """The peers' environment, created first when it is missing or incomplete."""
    if mlflow().exists() and _complete():
        return PEERS_VENV
    uv = _uv()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    log.info("creating the peers' environment in %s (%s)", PEERS_VENV, " ".join(requirements()))
    steps = [[uv, "pip", "install", "--quiet", "--python", str(python()), *requirements()]]
    if not python().exists():  # else complete the one there (a peer added since, say)
        steps.insert(0, [uv, "venv", "--quiet", "--python", sys.executable, str(PEERS_VENV)])
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchmarkFailed(
                f"creating the peers' environment failed: {' '.join(step)}\n{done.stderr[-3000:]}"
            )
    return PEERS_VENV


def _complete() -> bool:
    """The environment has the peers and the LightGBM and scikit-learn versions of the
    workspace."""
    check = "; ".join(
        [
            "import importlib.metadata as m, sys",
            f"[m.version(n) for n in {REQUIRED!r}]",
            f"sys.exit(0 if [m.version(n) for n in {PINNED_LIKE_WORKSPACE!r}] == "
            f"{[importlib.metadata.version(n) for n in PINNED_LIKE_WORKSPACE]!r} else 1)",
        ]
    )
    return subprocess.run([str(python()), "-c", check], capture_output=True).returncode == 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(ensure())
