"""Closed-loop benchmark: the time from drift injection to the first prediction answered by the
retrained model, against the retrain's own training time.

One stack (broker, embedded Postgres, gateway, trainer, scheduler, predictor, monitor) with the
loop's windows and cooldowns at the values the tests use (`LOOP_SETTINGS`). A classification
scenario (policy `auto`) gets a LightGBM trained on the "before" data, promoted automatically,
and a drift trigger; calm traffic is predicted and labelled. Then the newer (shifted) data
version is uploaded and shifted traffic starts: t0 is its first request. Traffic goes on (20
records a request, every 0.1 s) until an answer comes from another model: t1.

Reported: t1 - t0, the retrain's training time (its run's `wall_seconds`, queued time aside) and
the rest (detection, the trigger, promotion, loading at the predictor). Target: the rest at most
30 s.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from bench import BenchmarkFailed
from bench.loop_data import TARGET, frame, records
from bench.results import write_results
from bench.serving_platform import REQUEST_TIMEOUT, Platform, start_platform
from bench.stack import BenchStack

TARGET_OVERHEAD = 30.0
LOOP_SETTINGS = {
    "MLOOP_OUTBOX_POLL_INTERVAL": "0.05",
    "MLOOP_PREDICTION_FLUSH_INTERVAL": "0.1",
    "MLOOP_MONITOR_INTERVAL": "1",
    "MLOOP_MONITOR_EPISODE_WINDOWS": "2",
    "MLOOP_MONITOR_MIN_PREDICTIONS": "30",
    "MLOOP_MONITOR_MIN_LABELLED": "20",
    "MLOOP_SCHEDULER_TICK": "0.5",
    "MLOOP_TRIGGER_COOLDOWN": "5",
}
WINDOW_SECONDS = 6


def _ok(response: httpx.Response, platform: Platform, what: str) -> Any:
    if response.status_code >= 300:
        platform.check_alive()
        raise BenchmarkFailed(f"{what}: HTTP {response.status_code} {response.text[:1000]}")
    return response.json() if response.content else None


def _wait(what: str, check: Any, platform: Platform, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        platform.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkFailed(f"timed out waiting for {what}")
        time.sleep(0.2)
    return found


def _champion(client: httpx.Client, scenario: str) -> str | None:
    state = client.get(f"{scenario}/deployments").json()
    return state["champion"]["id"] if state["champion"] else None


def _served_by(answer: dict[str, Any]) -> set[str]:
    return {prediction["model_id"] for prediction in answer["predictions"]}


def run(
    rows: Annotated[int, typer.Option(min=200, help="Rows of each training data version.")] = 2000,
    timeout: Annotated[float, typer.Option(min=10, help="Seconds to wait for each step.")] = 600,
) -> None:
    """Inject drift into a live scenario and time the loop until the retrained model answers."""
    console = Console()
    with BenchStack() as stack:
        stack.env.update(LOOP_SETTINGS)
        platform = start_platform(stack, monitor=True)
        admin = {"Authorization": f"Bearer {stack.admin_key}"}
        url = platform.gateway.url
        with httpx.Client(timeout=REQUEST_TIMEOUT, headers=admin) as client:
            created = client.post(
                f"{url}/api/scenarios",
                json={
                    "name": "bench-loop",
                    "task_type": "classification",
                    "monitoring": {"window_seconds": WINDOW_SECONDS},
                },
            )
            sid = _ok(created, platform, "creating the scenario")["id"]
            scenario = f"{url}/api/scenarios/{sid}"

            def upload(data: Any) -> dict[str, Any]:
                sent = client.post(
                    f"{scenario}/data",
                    files={"file": ("data.csv", data.to_csv(index=False).encode())},
                    data={"path": "data.csv", "target": TARGET},
                )
                return _ok(sent, platform, "uploading data")

            first = upload(frame(rows, 1))
            experiment = client.post(
                f"{scenario}/experiments",
                json={
                    "name": "gbm",
                    "dataset_id": first["id"],
                    "target": TARGET,
                    "model": {"algorithm": "lightgbm", "parameters": {"n_estimators": 100}},
                },
            )
            experiment_id = _ok(experiment, platform, "creating the experiment")["id"]
            _ok(client.post(f"{scenario}/experiments/{experiment_id}/runs"), platform, "a run")
            before = _wait(
                "the first champion", lambda: _champion(client, scenario), platform, timeout
            )
            _ok(
                client.post(
                    f"{scenario}/triggers",
                    json={"name": "drift", "kind": "drift", "config": {"min_share": 0.3}},
                ),
                platform,
                "creating the trigger",
            )
            calm = frame(200, 2)
            _wait(  # the predictor learns of the promotion by event
                "the predictor to serve the champion",
                lambda: (
                    client.post(
                        f"{scenario}/predict", json={"records": records(calm.head(1))}
                    ).status_code
                    == 200
                ),
                platform,
                timeout,
            )
            for start in range(0, len(calm), 20):
                batch = records(calm.iloc[start : start + 20])
                _ok(client.post(f"{scenario}/predict", json={"records": batch}), platform, "calm")
                time.sleep(0.1)
            time.sleep(WINDOW_SECONDS)

            upload(frame(rows, 3, shift=3.0, rule="diff"))
            shifted = records(frame(4000, 4, shift=3.0, rule="diff"))
            injected = time.monotonic()
            answered_by = {before}
            sent = 0
            while answered_by == {before}:
                if time.monotonic() - injected > timeout:
                    raise BenchmarkFailed("no retrained model answered after the drift")
                batch = shifted[sent % 3980 : sent % 3980 + 20]
                answer = _ok(
                    client.post(f"{scenario}/predict", json={"records": batch}), platform, "shifted"
                )
                answered_by = _served_by(answer)
                sent += len(batch)
                time.sleep(0.1)
            loop_seconds = time.monotonic() - injected

            runs = client.get(f"{scenario}/runs").json()["items"]
            retrain = next(item for item in runs if item["model_id"] in answered_by - {before})
            training = float(retrain["resources"]["wall_seconds"] or 0.0)

    rest = loop_seconds - training
    verdict = "PASS" if rest <= TARGET_OVERHEAD else "MISS"
    console.print(
        f"drift injection → first answer by the retrained model: {loop_seconds:.1f} s "
        f"({sent:,} shifted records sent)\n"
        f"  training (run wall time, trigger {retrain['trigger']}): {training:.1f} s\n"
        f"  the rest (detection, trigger, promotion, loading): {rest:.1f} s "
        f"(target ≤ {TARGET_OVERHEAD:.0f} s) {verdict}"
    )
    write_results(
        "loop",
        {
            "loop_seconds": loop_seconds,
            "training_seconds": training,
            "overhead_seconds": rest,
            "target_overhead_seconds": TARGET_OVERHEAD,
            "settings": LOOP_SETTINGS | {"window_seconds": WINDOW_SECONDS},
            "shifted_records": sent,
        },
    )
