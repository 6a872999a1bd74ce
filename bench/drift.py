"""Drift check benchmark: 100,000 reference x 50,000 current rows x 30 columns (20 numeric, 10
categorical; 6 numeric and 3 categorical shifted), three ways on the same data:

- **ours**: the reference profile is precomputed once (`mloop_common.ml.profile.reference`, as
  the trainer does at training time; timed apart), then `mloop_monitor.domain.drift.
  dataset_drift` on the current frame: every statistic of every column (PSI, KS and its
  p-value, normalised Wasserstein; chi-square, Jensen-Shannon) and the verdicts;
- **floor**: `bench.bare_drift`, the same statistics from the same precomputed profile with
  plain NumPy/SciPy (target: ours at most 2x its time);
- **Evidently** 0.7's `DataDriftPreset` on the raw reference and current frames, in the peers'
  environment (`bench.peers`), timed inside its process after its imports, from building its
  datasets to the finished report (target: ours at least 50x faster).

Ours and the floor run `--repeats` times in this process; the median counts. Evidently runs
`--evidently-runs` times in one process (the first includes its lazy set-up); the best counts.
All three use the method Evidently picks for a reference of over 1,000 rows: normalised
Wasserstein for numeric columns and Jensen-Shannon for categorical ones, at 0.1. Reported: the
times, the ratios, and whether the same columns are flagged.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from bench import BenchmarkFailed, bare_drift, peers
from bench.results import write_results

TARGET_EVIDENTLY = 50.0
TARGET_FLOOR = 2.0
NUMERIC, CATEGORICAL = 20, 10
SHIFTED_NUMERIC, SHIFTED_CATEGORICAL = 6, 3
SEED = 11

EVIDENTLY_SCRIPT = """
import json, sys, time
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

folder, runs = sys.argv[1], int(sys.argv[2])
with open(folder + "/columns.json") as f:
    columns = json.load(f)
reference = pd.read_parquet(folder + "/reference.parquet")
current = pd.read_parquet(folder + "/current.parquet")
numeric = [name for name, kind in columns.items() if kind == "numeric"]
categorical = [name for name, kind in columns.items() if kind == "categorical"]
times, snapshot = [], None
for _ in range(runs):
    started = time.perf_counter()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = Report([DataDriftPreset()])
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    found = snapshot.dict()
    times.append(time.perf_counter() - started)
flags = {}
for metric in found["metrics"]:
    config = metric.get("config", {})
    if config.get("type", "").endswith("ValueDrift"):
        value, limit = float(metric["value"]), float(config["threshold"])
        p_value = "p_value" in config["method"]
        flags[config["column"]] = {
            "method": config["method"],
            "score": value,
            "drifted": bool(value < limit if p_value else value >= limit),
        }
print(json.dumps({"times": times, "columns": flags}))
"""


def frames(reference_rows: int, current_rows: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The reference and current frames and their column types; which columns are shifted."""
    rng = np.random.default_rng(SEED)
    reference: dict[str, Any] = {}
    current: dict[str, Any] = {}
    columns: dict[str, str] = {}
    for i in range(NUMERIC):
        name = f"num_{i:02d}"
        columns[name] = "numeric"
        shape = i % 4
        shift = 0.6 if i < SHIFTED_NUMERIC else 0.0

        def draw(n: int, moved: float, shape: int = shape) -> np.ndarray:
            if shape == 0:
                return rng.normal(100.0 + 15.0 * moved, 15.0, n)
            if shape == 1:
                return rng.lognormal(1.0 + 0.8 * moved, 0.8, n)
            if shape == 2:
                return rng.uniform(0.0 + 0.3 * moved, 1.0 + 0.3 * moved, n)
            return rng.gamma(2.0 + 3.0 * moved, 2.0, n)

        reference[name] = draw(reference_rows, 0.0)
        current[name] = draw(current_rows, shift)
    for i in range(CATEGORICAL):
        name = f"cat_{i:02d}"
        columns[name] = "categorical"
        size = 5 + 5 * (i % 5)
        labels = np.array([f"{name}_v{j}" for j in range(size)], dtype=object)
        shares = np.linspace(1.0, 3.0, size)
        shares /= shares.sum()
        moved = shares[::-1] if i < SHIFTED_CATEGORICAL else shares
        reference[name] = rng.choice(labels, reference_rows, p=shares)
        current[name] = rng.choice(labels, current_rows, p=moved)
    return pd.DataFrame(reference), pd.DataFrame(current), columns


def _median_time(repeats: int, work: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _evidently(
    reference: pd.DataFrame, current: pd.DataFrame, columns: dict[str, str], runs: int
) -> dict[str, Any]:
    python = peers.ensure() / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="mloop-drift-bench-") as folder:
        reference.to_parquet(Path(folder) / "reference.parquet")
        current.to_parquet(Path(folder) / "current.parquet")
        (Path(folder) / "columns.json").write_text(json.dumps(columns))
        done = subprocess.run(
            [str(python), "-c", EVIDENTLY_SCRIPT, folder, str(runs)],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise BenchmarkFailed(f"Evidently failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(
    reference_rows: Annotated[int, typer.Option(help="Rows of the reference frame.")] = 100_000,
    current_rows: Annotated[int, typer.Option(help="Rows of the current frame.")] = 50_000,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of ours and of the floor.")] = 5,
    evidently_runs: Annotated[int, typer.Option(min=1, help="Runs of Evidently.")] = 2,
    skip_evidently: Annotated[bool, typer.Option(help="Leave Evidently out.")] = False,
) -> None:
    """Drift check: ours against a NumPy/SciPy floor and Evidently's data drift preset."""
    from mloop_common.ml.profile import reference as profile_of
    from mloop_monitor.domain.drift import dataset_drift

    console = Console()
    reference, current, columns = frames(reference_rows, current_rows)
    shifted = sorted(
        [f"num_{i:02d}" for i in range(SHIFTED_NUMERIC)]
        + [f"cat_{i:02d}" for i in range(SHIFTED_CATEGORICAL)]
    )
    started = time.perf_counter()
    profile = profile_of(reference, columns, {})
    profile_seconds = time.perf_counter() - started

    ours_seconds, ours = _median_time(repeats, lambda: dataset_drift(profile, current, columns))
    floor_seconds, floor = _median_time(
        repeats, lambda: bare_drift.drift(profile, current, columns)
    )
    ours_flags = sorted(name for name, entry in ours["features"].items() if entry["drifted"])
    floor_flags = sorted(name for name, entry in floor.items() if entry["drifted"])
    figures: dict[str, Any] = {
        "reference_rows": reference_rows,
        "current_rows": current_rows,
        "columns": len(columns),
        "shifted_columns": shifted,
        "profile_seconds": round(profile_seconds, 4),
        "ours_seconds": round(ours_seconds, 4),
        "floor_seconds": round(floor_seconds, 4),
        "ours_over_floor": round(ours_seconds / floor_seconds, 2),
        "target_ours_over_floor_at_most": TARGET_FLOOR,
        "ours_flagged": ours_flags,
        "floor_flagged": floor_flags,
        "same_flags_as_floor": ours_flags == floor_flags,
        "flags_the_shifted_columns": ours_flags == shifted,
    }
    if not skip_evidently:
        found = _evidently(reference, current, columns, evidently_runs)
        evidently_seconds = min(found["times"])
        evidently_flags = sorted(n for n, e in found["columns"].items() if e["drifted"])
        figures |= {
            "evidently_seconds": round(evidently_seconds, 3),
            "evidently_runs": [round(t, 3) for t in found["times"]],
            "evidently_over_ours": round(evidently_seconds / ours_seconds, 1),
            "target_evidently_over_ours_at_least": TARGET_EVIDENTLY,
            "evidently_flagged": evidently_flags,
            "same_flags_as_evidently": ours_flags == evidently_flags,
            "scores": {
                name: {
                    "ours": ours["features"][name]["score"],
                    "floor": floor[name]["wasserstein" if kind == "numeric" else "jensenshannon"],
                    "evidently": found["columns"].get(name, {}).get("score"),
                }
                for name, kind in columns.items()
            },
        }
    _print(console, figures)
    path = write_results("drift", figures)
    console.print(f"figures written to {path}")


def _print(console: Console, figures: dict[str, Any]) -> None:
    table = Table(title="Drift check", title_justify="left")
    table.add_column("")
    table.add_column("seconds", justify="right")
    table.add_column("columns flagged")
    table.add_row("reference profile (once)", f"{figures['profile_seconds']:.3f}", "")
    table.add_row("ours", f"{figures['ours_seconds']:.3f}", ", ".join(figures["ours_flagged"]))
    table.add_row(
        "floor (NumPy/SciPy)",
        f"{figures['floor_seconds']:.3f}",
        ", ".join(figures["floor_flagged"]),
    )
    if "evidently_seconds" in figures:
        table.add_row(
            "Evidently DataDriftPreset",
            f"{figures['evidently_seconds']:.3f}",
            ", ".join(figures["evidently_flagged"]),
        )
    console.print(table)
    verdict = "met" if figures["ours_over_floor"] <= TARGET_FLOOR else "MISSED"
    console.print(
        f"ours / floor: {figures['ours_over_floor']}x (target at most {TARGET_FLOOR}x: {verdict}); "
        f"same columns as the floor: {figures['same_flags_as_floor']}; "
        f"flags exactly the shifted columns: {figures['flags_the_shifted_columns']}"
    )
    if "evidently_seconds" in figures:
        ratio = figures["evidently_over_ours"]
        verdict = "met" if ratio >= TARGET_EVIDENTLY else "MISSED"
        console.print(
            f"Evidently / ours: {ratio}x (target at least {TARGET_EVIDENTLY}x: {verdict}); "
            f"same columns as Evidently: {figures['same_flags_as_evidently']}"
        )
