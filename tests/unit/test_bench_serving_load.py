"""The serving benchmark's wrk helpers: the Lua script it generates and the parser of wrk's
output (pure functions; no wrk run here)."""

from __future__ import annotations

import json

import pytest

from bench.serving_load import MARK, WrkError, lua_script, lua_string, parse_wrk

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8001
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.76ms  311.00us  11.73ms   89.19%
    Req/Sec     1.39k    64.02     1.52k    71.00%
  Latency Distribution
     50%    5.74ms
     75%    5.86ms
     90%    5.98ms
     99%    6.85ms
  14148 requests in 5.10s, 3.01MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   2774.46
Transfer/sec:    604.51KB
MLOOP_WRK {"requests": 14148, "duration_us": 5099374, "bytes": 3156000, "errors": {"connect": 0, \
"read": 1, "write": 0, "status": 3, "timeout": 0}, "latency_us": {"mean": 5762.4, \
"stdev": 311.0, "min": 3566, "max": 11725, "p50": 5744, "p90": 5979, "p99": 6850, "p999": 9187}}
"""


def test_parse_reads_the_figures_line_and_the_summary() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests == 14148
    assert result.seconds == pytest.approx(5.099374)
    assert result.requests_per_second == pytest.approx(14148 / 5.099374)
    assert result.wrk_requests_per_second == pytest.approx(2774.46)
    assert result.latency_ms["p50"] == pytest.approx(5.744)
    assert result.latency_ms["p99"] == pytest.approx(6.85)
    assert result.latency_ms["p999"] == pytest.approx(9.187)
    assert result.errors == {"connect": 0, "read": 1, "write": 0, "status": 3, "timeout": 0}
    assert result.failed == 4
    figures = result.as_json()
    assert figures["requests_per_second"] == pytest.approx(2774.5, abs=0.1)
    json.dumps(figures)


def test_parse_without_the_summary_line_still_reads_the_figures() -> None:
    only = "\n".join(line for line in WRK_OUTPUT.splitlines() if line.startswith(MARK))
    result = parse_wrk(only)
    assert result.requests == 14148
    assert result.wrk_requests_per_second is None


@pytest.mark.parametrize(
    "output",
    ["", "Running 10s test @ http://127.0.0.1:1\nunable to connect", MARK + "{not json"],
)
def test_parse_refuses_output_without_figures(output: str) -> None:
    with pytest.raises(WrkError):
        parse_wrk(output)


def test_zero_duration_gives_zero_rate() -> None:
    line = MARK + json.dumps(
        {
            "requests": 0,
            "duration_us": 0,
            "bytes": 0,
            "errors": {"connect": 16, "read": 0, "write": 0, "status": 0, "timeout": 0},
            "latency_us": {
                "mean": 0,
                "stdev": 0,
                "min": 0,
                "max": 0,
                "p50": 0,
                "p90": 0,
                "p99": 0,
                "p999": 0,
            },
        }
    )
    result = parse_wrk(line)
    assert result.requests_per_second == 0.0
    assert result.failed == 16


def test_lua_string_escapes_quotes_backslashes_and_newlines() -> None:
    assert lua_string('{"a": "b\\\\c"}\n') == '"{\\"a\\": \\"b\\\\\\\\c\\"}\\n"'


def test_script_posts_every_body_in_turn_with_the_headers() -> None:
    bodies = [json.dumps({"records": [{"f0": 1.5}]}), json.dumps({"records": [{"f0": -2.0}]})]
    script = lua_script(
        "/api/scenarios/abc/predict", bodies, {"Authorization": "Bearer k", "Content-Type": "x"}
    )
    assert 'local path = "/api/scenarios/abc/predict"' in script
    assert '["Authorization"] = "Bearer k"' in script
    assert '"{\\"records\\": [{\\"f0\\": 1.5}]}"' in script
    assert '"{\\"records\\": [{\\"f0\\": -2.0}]}"' in script
    assert 'wrk.format("POST", path, headers, bodies[next_body])' in script
    assert "done = function(summary, latency, requests)" in script
    assert "latency:percentile(99)" in script


def test_script_needs_a_body() -> None:
    with pytest.raises(ValueError):
        lua_script("/", [], {})
