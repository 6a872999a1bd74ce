"""Upload benchmark: a large CSV through the gateway against a bare streaming endpoint.

The same multipart request (`file`, `path`, `target`) goes to two servers that write to the same
artifact store: the bare endpoint (`bench.bare_upload`, parse and store, nothing else: the
floor) and the gateway's `POST /api/scenarios/{id}/data`. For each upload the benchmark times
the request and samples the server process's resident memory. Targets (reported, not asserted):
the gateway's peak RSS under 300 MB, its rate at least half the bare endpoint's.
"""

from __future__ import annotations

import hashlib
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import typer
from mloop_common.localstack.parts import free_port
from rich.console import Console
from rich.table import Table

from bench import BenchmarkFailed
from bench.data import MB, TARGET, upload_csv
from bench.memory import PeakRss
from bench.options import DEFAULT_DATA_DIR, S3, DataDir, KeepData
from bench.results import write_results
from bench.stack import BenchStack, Server

TARGET_PEAK_MB = 300.0
TARGET_RATIO = 0.5
REQUEST_TIMEOUT = httpx.Timeout(1800.0, connect=10.0)


@dataclass
class Attempt:
    seconds: float
    rate_mb_s: float
    baseline_rss_mb: float
    peak_rss_mb: float
    sampled_peak_rss_mb: float
    kernel_peak_rss_mb: float | None
    status: int
    stored_size: int | None
    stored_sha256: str | None
    rows: int | None = None
    profile_status: str | None = None
    profile_seconds: float | None = None
    profile_peak_rss_mb: float | None = None


@dataclass
class Figures:
    """Every upload to one server; the best rate and the worst peak count."""

    server: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def rate_mb_s(self) -> float:
        return max(attempt.rate_mb_s for attempt in self.attempts)

    @property
    def peak_rss_mb(self) -> float:
        return max(attempt.peak_rss_mb for attempt in self.attempts)

    @property
    def baseline_rss_mb(self) -> float:
        return min(attempt.baseline_rss_mb for attempt in self.attempts)

    @property
    def profile_peak_rss_mb(self) -> float | None:
        peaks = [a.profile_peak_rss_mb for a in self.attempts if a.profile_peak_rss_mb is not None]
        return max(peaks) if peaks else None

    def as_json(self) -> dict[str, object]:
        return {
            "rate_mb_s": round(self.rate_mb_s, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "baseline_rss_mb": round(self.baseline_rss_mb, 1),
            "profile_peak_rss_mb": self.profile_peak_rss_mb,
            "attempts": [asdict(attempt) for attempt in self.attempts],
        }


def _mb(size: int) -> float:
    return round(size / MB, 1)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def _problem(response: httpx.Response, server: Server, what: str) -> BenchmarkFailed:
    return BenchmarkFailed(
        f"{what}: HTTP {response.status_code}\n"
        f"body: {response.text[:2000]}\n"
        f"{server.name} log tail:\n{server.log_tail()}"
    )


def _upload(
    client: httpx.Client,
    server: Server,
    url: str,
    csv: Path,
    *,
    path: str,
) -> tuple[Attempt, httpx.Response]:
    """POST the CSV as a streamed multipart body; time it and watch the server's memory."""
    size = csv.stat().st_size
    with PeakRss(server.pid) as rss, csv.open("rb") as stream:
        started = time.perf_counter()
        try:
            response = client.post(
                url,
                files={"file": (csv.name, stream, "text/csv")},
                data={"path": path, "target": TARGET},
            )
        except httpx.HTTPError as error:
            server.check_alive()
            raise BenchmarkFailed(
                f"upload to {server.name} failed: {error!r}\nlog tail:\n{server.log_tail()}"
            ) from error
        seconds = time.perf_counter() - started
    body = response.json() if response.is_success else {}
    attempt = Attempt(
        seconds=round(seconds, 3),
        rate_mb_s=round(size / MB / seconds, 1),
        baseline_rss_mb=_mb(rss.baseline),
        peak_rss_mb=_mb(rss.peak),
        sampled_peak_rss_mb=_mb(rss.sampled_peak),
        kernel_peak_rss_mb=None if rss.kernel_peak is None else _mb(rss.kernel_peak),
        status=response.status_code,
        stored_size=body.get("size"),
        stored_sha256=body.get("sha256"),
    )
    return attempt, response


def _upload_bare(client: httpx.Client, server: Server, csv: Path) -> Attempt:
    attempt, response = _upload(client, server, f"{server.url}/upload", csv, path=csv.name)
    if response.status_code != 201:
        raise _problem(response, server, "the bare endpoint refused the upload")
    return attempt


def _upload_gateway(
    client: httpx.Client, server: Server, csv: Path, round_: int, profile_timeout: float
) -> Attempt:
    """Each round uploads into a new scenario, so no upload is answered from an earlier one.

    The gateway profiles a new version in the background (on `DatasetUploaded`), in a child
    process: the memory of both is watched until the profile is done (reported, without a
    target: the target is the upload's), and the next upload waits for it.
    """
    response = client.post(
        f"{server.url}/api/scenarios",
        json={"name": f"bench-{round_}-{uuid.uuid4().hex[:8]}", "task_type": "classification"},
    )
    if response.status_code != 201:
        raise _problem(response, server, "creating the scenario failed")
    scenario = f"{server.url}/api/scenarios/{response.json()['id']}"
    attempt, response = _upload(client, server, f"{scenario}/data", csv, path=csv.name)
    if response.status_code not in (200, 201):
        raise _problem(response, server, "the gateway refused the upload")
    version = response.json()
    attempt.rows = version.get("rows")
    attempt.profile_status = version.get("profile_status")
    profile_url = f"{scenario}/data/{version['path']}/profile"
    started = time.perf_counter()
    with PeakRss(server.pid) as rss:
        while attempt.profile_status == "pending":
            if time.perf_counter() - started > profile_timeout:
                attempt.profile_status = "pending (timed out)"
                break
            time.sleep(0.25)
            server.check_alive()
            answer = client.get(profile_url, params={"version": version["version"]})
            if answer.status_code != 200:
                raise _problem(answer, server, "reading the profile failed")
            attempt.profile_status = answer.json()["status"]
    attempt.profile_seconds = round(time.perf_counter() - started, 2)
    attempt.profile_peak_rss_mb = _mb(rss.peak)
    return attempt


def _verify(figures: Figures, size: int, sha256: str, console: Console) -> None:
    for number, attempt in enumerate(figures.attempts, start=1):
        if attempt.stored_size != size or attempt.stored_sha256 != sha256:
            console.print(
                f"[yellow]warning[/]: {figures.server} upload {number} reports size "
                f"{attempt.stored_size} sha256 {attempt.stored_sha256}; "
                f"the file has {size} and {sha256}"
            )


def _verdict(passed: bool) -> str:
    return "[green]PASS[/]" if passed else "[red]MISS[/]"


def _each(figures: Figures | None, name: str, digits: int = 0) -> str:
    """One attempt figure of every try, comma-separated."""
    if figures is None:
        return "-"
    values = [getattr(attempt, name) for attempt in figures.attempts]
    return ", ".join("-" if value is None else f"{value:.{digits}f}" for value in values)


def _report(
    console: Console, size: int, store: str, bare: Figures, gateway: Figures | None
) -> dict[str, object]:
    table = Table(title=f"Upload of a {size / MB:.0f} MB CSV (store: {store})")
    table.add_column("figure")
    table.add_column("bare", justify="right")
    table.add_column("gateway", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    figures: dict[str, object] = {
        "size_bytes": size,
        "size_mb": round(size / MB, 1),
        "store": store,
        "targets": {"gateway_peak_rss_mb_below": TARGET_PEAK_MB, "ratio_at_least": TARGET_RATIO},
        "bare": bare.as_json(),
        "gateway": gateway.as_json() if gateway else None,
    }
    table.add_row(
        "upload seconds, each try", _each(bare, "seconds", 2), _each(gateway, "seconds", 2)
    )
    table.add_row(
        "best rate MB/s", f"{bare.rate_mb_s:.1f}", f"{gateway.rate_mb_s:.1f}" if gateway else "-"
    )
    if gateway is None:
        table.add_row("RSS before MB, each try", _each(bare, "baseline_rss_mb"), "-")
        table.add_row("peak RSS MB, each try", _each(bare, "peak_rss_mb"), "-")
        console.print(table)
        return figures

    ratio = gateway.rate_mb_s / bare.rate_mb_s
    passed = {
        "ratio": ratio >= TARGET_RATIO,
        "gateway_peak_rss": gateway.peak_rss_mb < TARGET_PEAK_MB,
    }
    table.add_row(
        "rate ratio gateway/bare",
        "",
        f"{ratio:.2f}",
        f">= {TARGET_RATIO:.2f}",
        _verdict(passed["ratio"]),
    )
    table.add_row(
        "RSS before MB, each try",
        _each(bare, "baseline_rss_mb"),
        _each(gateway, "baseline_rss_mb"),
    )
    table.add_row(
        "peak RSS MB, each try",
        _each(bare, "peak_rss_mb"),
        _each(gateway, "peak_rss_mb"),
    )
    table.add_row(
        "peak RSS MB, highest",
        f"{bare.peak_rss_mb:.0f}",
        f"{gateway.peak_rss_mb:.0f}",
        f"< {TARGET_PEAK_MB:.0f}",
        _verdict(passed["gateway_peak_rss"]),
    )
    if gateway.profile_peak_rss_mb is not None:
        table.add_row("profiling seconds, each try", "", _each(gateway, "profile_seconds", 1))
        table.add_row(
            "profiling peak MB (gateway + its profiler child)",
            "",
            _each(gateway, "profile_peak_rss_mb"),
        )
    figures["ratio"] = round(ratio, 3)
    figures["pass"] = passed
    console.print(table)
    return figures


def run(
    size_mb: Annotated[int, typer.Option(min=1, help="Size of the CSV to upload, in MB.")] = 1024,
    repeat: Annotated[int, typer.Option(min=1, help="Uploads to each server; best rate kept.")] = 2,
    s3: S3 = False,
    gateway: Annotated[
        bool, typer.Option(help="Also upload through the gateway (--no-gateway: floor only).")
    ] = True,
    keep_data: KeepData = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    profile_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for the gateway's background profile.")
    ] = 600.0,
) -> None:
    """Upload a large CSV through the gateway and through a bare streaming endpoint."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 100)  # a log file: keep the table's rows on one line
    store = "s3 (moto)" if s3 else "local folder"
    with (
        upload_csv(size_mb, data_dir=data_dir.expanduser(), keep_data=keep_data) as csv,
        BenchStack(s3=s3) as stack,
    ):
        size = csv.stat().st_size
        console.print(f"CSV: {csv} ({size / MB:.0f} MB); hashing it to check what is stored")
        sha256 = _sha256(csv)
        bare_port = free_port()
        bare_server = stack.start_server(
            "bare",
            [sys.executable, "-m", "bench.bare_upload", "--port", str(bare_port)],
            port=bare_port,
        )
        gateway_server = stack.start_gateway() if gateway else None
        bare = Figures("bare")
        through_gateway = Figures("gateway") if gateway_server else None
        headers = {"Authorization": f"Bearer {stack.admin_key}"}
        failure: BenchmarkFailed | None = None
        with httpx.Client(timeout=REQUEST_TIMEOUT, headers=headers) as client:
            for round_ in range(1, repeat + 1):
                bare.attempts.append(_upload_bare(client, bare_server, csv))
                console.print(f"round {round_}: bare {bare.attempts[-1].rate_mb_s:.1f} MB/s")
                if gateway_server is None or through_gateway is None:
                    continue
                try:
                    attempt = _upload_gateway(client, gateway_server, csv, round_, profile_timeout)
                except BenchmarkFailed as error:
                    failure = error
                    break
                through_gateway.attempts.append(attempt)
                console.print(
                    f"round {round_}: gateway {attempt.rate_mb_s:.1f} MB/s, "
                    f"profile {attempt.profile_status} after {attempt.profile_seconds} s"
                )
        if through_gateway is not None and not through_gateway.attempts:
            through_gateway = None
        for figures in (bare, through_gateway):
            if figures is not None:
                _verify(figures, size, sha256, console)
        results = _report(console, size, store, bare, through_gateway)
        if failure is not None:
            results["error"] = str(failure)
        path = write_results("upload-s3" if s3 else "upload", results)
        console.print(f"figures written to {path}")
        if failure is not None:
            raise failure
