"""The dashboard benchmark's database: one real scenario made through the API, cloned in bulk.

`template` makes scenario `bench-000` the way a user would (data upload, an experiment whose run
a real trainer completes, three triggers, a train workflow), so every row the pages read has
the shape the services write. `seed` then grows the database with set-based SQL only
(`INSERT ... SELECT` over `generate_series`, never a row at a time): the other scenarios are
clones of the template's rows, and runs, models, logged predictions, feedback, monitoring
windows, trigger firings and workflow runs are generated. One scenario (the template, the
"heavy" one) gets a `heavy_share` of the runs and predictions and a week of monitoring windows,
so the scenario pages are timed on the biggest scenario rather than an average one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench import BenchmarkFailed
from bench.loop_data import FEATURES, TARGET, frame

WORKFLOW = """\
steps:
  - name: preprocess
    type: data_preprocessing
    config:
      inputPath: data.csv
      outputPath: data/prepared.csv
      derive: {x3: "x1 * x2"}
  - name: train
    type: model_training
    needs: [preprocess]
    config: {algorithm: lightgbm, parameters: {n_estimators: 10}}
  - name: gate
    type: evaluation
    needs: [train]
    config: {gates: ["accuracy >= 0.5"]}
  - name: deploy
    type: deployment
    needs: [gate]
"""
TRIGGERS = (
    {"name": "nightly", "kind": "schedule", "config": {"cron": "0 3 * * *"}},
    {"name": "drift", "kind": "drift", "config": {"min_share": 0.3}},
    {
        "name": "accuracy",
        "kind": "performance",
        "config": {"metric": "accuracy", "comparison": "lt", "threshold": 0.8},
    },
)
WINDOW_STEP = 60  # seconds between monitoring windows (MLOOP_MONITOR_INTERVAL's default)
DAYS = 7  # predictions over the last week


@dataclass(frozen=True)
class Template:
    scenario_id: str
    dataset_id: str
    experiment_id: str
    run_id: str
    model_id: str


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise BenchmarkFailed(f"{what}: HTTP {response.status_code} {response.text[:1000]}")
    return response.json() if response.content else None


def template(
    client: httpx.Client, *, check: Callable[[], None], timeout: float = 600.0
) -> Template:
    """Scenario `bench-000` through the API (`client` carries the admin key), its run trained
    by a real trainer."""
    created = _ok(
        client.post(
            "/api/scenarios",
            json={
                "name": "bench-000",
                "task_type": "classification",
                "deployment_policy": "manual",
                "description": "The dashboard benchmark's template scenario.",
                "tags": ["bench"],
            },
        ),
        "creating the scenario",
    )
    sid = created["id"]
    version = _ok(
        client.post(
            f"/api/scenarios/{sid}/data",
            files={"file": ("data.csv", frame(1000, 1).to_csv(index=False).encode())},
            data={"path": "data.csv", "target": TARGET},
        ),
        "uploading data",
    )
    experiment = _ok(
        client.post(
            f"/api/scenarios/{sid}/experiments",
            json={
                "name": "gbm",
                "dataset_id": version["id"],
                "target": TARGET,
                "features": FEATURES,
                "model": {"algorithm": "lightgbm", "parameters": {"n_estimators": 10}},
            },
        ),
        "creating the experiment",
    )
    run = _ok(client.post(f"/api/scenarios/{sid}/experiments/{experiment['id']}/runs"), "a run")
    deadline = time.monotonic() + timeout
    while True:
        check()
        found = _ok(client.get(f"/api/scenarios/{sid}/runs/{run['id']}"), "reading the run")
        if found["status"] == "completed":
            break
        if found["status"] == "failed":
            raise BenchmarkFailed(f"the template run failed: {found.get('error')}")
        if time.monotonic() > deadline:
            raise BenchmarkFailed("the template run did not finish in time")
        time.sleep(0.3)
    for trigger in TRIGGERS:
        _ok(client.post(f"/api/scenarios/{sid}/triggers", json=trigger), "creating a trigger")
    _ok(
        client.post(
            f"/api/scenarios/{sid}/workflows/train",
            content=WORKFLOW.encode(),
            headers={"Content-Type": "application/yaml"},
        ),
        "defining the workflow",
    )
    return Template(sid, version["id"], experiment["id"], run["id"], found["model_id"])


# --- bulk SQL ----------------------------------------------------------------------------------


async def _columns(connection: asyncpg.Connection, table: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    return [row["column_name"] for row in rows]


async def clone(
    connection: asyncpg.Connection,
    table: str,
    *,
    source: str,
    overrides: dict[str, str],
    args: Sequence[Any] = (),
) -> None:
    """INSERT INTO `table` the rows of `SELECT ... FROM {source}` where `t` is the template row
    (`source` joins it to the generating rows): each column is `t.<column>` unless
    `overrides` gives its expression."""
    columns = await _columns(connection, table)
    if not columns:
        raise BenchmarkFailed(f"no table {table}")
    unknown = set(overrides) - set(columns)
    if unknown:
        raise BenchmarkFailed(f"{table} has no column {sorted(unknown)}")
    exprs = [overrides.get(column, f"t.{column}") for column in columns]
    quoted = ", ".join(f'"{column}"' for column in columns)
    await connection.execute(
        f"INSERT INTO {table} ({quoted}) SELECT {', '.join(exprs)} FROM {source}", *args
    )


def _days(now: datetime) -> list[date]:
    return [(now - timedelta(days=offset)).date() for offset in range(DAYS + 1)]


async def _partitions(connection: asyncpg.Connection, now: datetime) -> None:
    for day in _days(now):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        for parent in ("predictions", "feedback"):
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {parent}_{day:%Y%m%d} PARTITION OF {parent} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )


async def seed(
    database_url: str,
    made: Template,
    *,
    scenarios: int,
    runs: int,
    predictions: int,
    labelled_share: float,
    heavy_share: float,
    log: Callable[[str], None],
) -> dict[str, int]:
    """Grow the database around the template; returns the row counts of the main tables."""
    connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        return await _seed(
            connection,
            made,
            scenarios=scenarios,
            runs=runs,
            predictions=predictions,
            labelled_share=labelled_share,
            heavy_share=heavy_share,
            log=log,
        )
    finally:
        await connection.close()


async def _step(
    connection: asyncpg.Connection,
    log: Callable[[str], None],
    what: str,
    statement: str,
    *args: Any,
) -> None:
    started = time.perf_counter()
    await connection.execute(statement, *args)
    log(f"{what}: {time.perf_counter() - started:.1f} s")


async def _seed(
    connection: asyncpg.Connection,
    made: Template,
    *,
    scenarios: int,
    runs: int,
    predictions: int,
    labelled_share: float,
    heavy_share: float,
    log: Callable[[str], None],
) -> dict[str, int]:
    now = datetime.now(UTC)
    t_sid, t_model, t_run = made.scenario_id, made.model_id, made.run_id
    heavy_runs = max(1, int(runs * heavy_share))
    heavy_predictions = int(predictions * heavy_share)
    await connection.execute("SET synchronous_commit = off")
    # Scenario n (0 = the template) and its new id; per scenario its dataset, feature set,
    # model config and five experiments (fifty for the heavy one).
    await connection.execute(
        """
        CREATE TEMP TABLE s AS
        SELECT n, CASE WHEN n = 0 THEN CAST($1 AS uuid) ELSE gen_random_uuid() END AS id
        FROM generate_series(0, $2 - 1) AS n
        """,
        t_sid,
        scenarios,
    )
    started = time.perf_counter()
    await clone(
        connection,
        "scenarios",
        source="s JOIN scenarios t ON t.id = CAST($1 AS uuid) WHERE s.n > 0",
        overrides={
            "id": "s.id",
            "name": "'bench-' || lpad(s.n::text, 3, '0')",
            "created_at": "now() - s.n * interval '1 hour'",
            "updated_at": "now() - s.n * interval '1 hour'",
        },
        args=(t_sid,),
    )
    for table in ("dataset_versions", "feature_sets", "model_configs"):
        await connection.execute(
            f"CREATE TEMP TABLE map_{table} AS SELECT s.n, s.id AS scenario_id, "
            f"gen_random_uuid() AS id FROM s WHERE s.n > 0"
        )
        lookup = {
            "dataset_versions": "SELECT dataset_id FROM experiments WHERE id = CAST($1 AS uuid)",
            "feature_sets": "SELECT feature_set_id FROM experiments WHERE id = CAST($1 AS uuid)",
            "model_configs": "SELECT model_config_id FROM experiments WHERE id = CAST($1 AS uuid)",
        }[table]
        overrides = {"id": "m.id", "scenario_id": "m.scenario_id"}
        if table == "feature_sets":
            overrides["dataset_id"] = "d.id"
            source = (
                f"map_{table} m JOIN map_dataset_versions d USING (n) "
                f"JOIN {table} t ON t.id = ({lookup})"
            )
        else:
            source = f"map_{table} m JOIN {table} t ON t.id = ({lookup})"
        await clone(
            connection, table, source=source, overrides=overrides, args=(made.experiment_id,)
        )
    log(f"scenarios, datasets, feature sets, configs: {time.perf_counter() - started:.1f} s")
    await connection.execute(
        """
        CREATE TEMP TABLE e AS
        SELECT s.n, s.id AS scenario_id, k,
               CASE WHEN s.n = 0 AND k = 0 THEN CAST($1 AS uuid) ELSE gen_random_uuid() END AS id
        FROM s, generate_series(0, CASE WHEN s.n = 0 THEN 49 ELSE 4 END) AS k
        """,
        made.experiment_id,
    )
    await clone(
        connection,
        "experiments",
        source=(
            "e LEFT JOIN map_dataset_versions d USING (n) "
            "LEFT JOIN map_feature_sets f USING (n) LEFT JOIN map_model_configs c USING (n) "
            "JOIN experiments t ON t.id = CAST($1 AS uuid) WHERE NOT (e.n = 0 AND e.k = 0)"
        ),
        overrides={
            "id": "e.id",
            "scenario_id": "e.scenario_id",
            "name": "'exp-' || e.k",
            "dataset_id": "coalesce(d.id, t.dataset_id)",
            "feature_set_id": "coalesce(f.id, t.feature_set_id)",
            "model_config_id": "coalesce(c.id, t.model_config_id)",
            "created_at": "now() - (e.k * 7 + e.n) * interval '1 hour'",
        },
        args=(made.experiment_id,),
    )
    # Runs: `heavy_runs` in the template scenario, the rest spread over the others; 85 %
    # completed (each with its model), 10 % failed, the rest running.
    await connection.execute(
        """
        CREATE TEMP TABLE r AS
        SELECT i, scn.n, scn.id AS scenario_id, ex.id AS experiment_id, gen_random_uuid() AS id,
               gen_random_uuid() AS model_id,
               CASE WHEN i % 20 < 17 THEN 'completed' WHEN i % 20 < 19 THEN 'failed'
                    ELSE 'running' END AS status,
               now() - (i % 43200) * interval '1 minute' AS created_at
        FROM generate_series(1, $1 - 1) AS i
        CROSS JOIN LATERAL (
            SELECT CASE WHEN i < $2 THEN 0 ELSE 1 + (i % greatest($3 - 1, 1)) END AS n
        ) AS pick
        JOIN s AS scn ON scn.n = pick.n
        JOIN e AS ex ON ex.n = scn.n AND ex.k = i % CASE WHEN scn.n = 0 THEN 50 ELSE 5 END
        """,
        runs,
        heavy_runs,
        scenarios,
    )
    started = time.perf_counter()
    await clone(
        connection,
        "runs",
        source="r JOIN runs t ON t.id = CAST($1 AS uuid)",
        overrides={
            "id": "r.id",
            "scenario_id": "r.scenario_id",
            "experiment_id": "r.experiment_id",
            "status": "r.status",
            "progress": "CASE WHEN r.status = 'running' THEN 0.4 ELSE 1.0 END",
            "model_id": "CASE WHEN r.status = 'completed' THEN r.model_id END",
            "error": "CASE WHEN r.status = 'failed' THEN 'bench: a failed run' END",
            "metrics": "CASE WHEN r.status = 'completed' THEN t.metrics ELSE '{}' END",
            "created_at": "r.created_at",
            "started_at": "r.created_at + interval '1 second'",
            "finished_at": (
                "CASE WHEN r.status = 'running' THEN NULL "
                "ELSE r.created_at + interval '30 seconds' END"
            ),
            "lease_owner": "NULL",
            "lease_expires_at": "NULL",
        },
        args=(t_run,),
    )
    log(f"runs: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    await clone(
        connection,
        "models",
        source=(
            "r JOIN experiments ex ON ex.id = r.experiment_id "
            "JOIN models t ON t.id = CAST($1 AS uuid) WHERE r.status = 'completed'"
        ),
        overrides={
            "id": "r.model_id",
            "scenario_id": "r.scenario_id",
            "run_id": "r.id",
            "experiment_id": "r.experiment_id",
            "dataset_id": "ex.dataset_id",
            "feature_set_id": "ex.feature_set_id",
            "model_config_id": "ex.model_config_id",
            "created_at": "r.created_at + interval '30 seconds'",
        },
        args=(t_model,),
    )
    log(f"models: {time.perf_counter() - started:.1f} s")
    # Every scenario's champion: its newest model (the template's own model for the template).
    await connection.execute(
        """
        CREATE TEMP TABLE champ AS
        SELECT s.n, s.id AS scenario_id,
               coalesce((SELECT r.model_id FROM r WHERE r.n = s.n AND r.status = 'completed'
                         ORDER BY r.created_at DESC LIMIT 1), CAST($1 AS uuid)) AS model_id
        FROM s
        """,
        t_model,
    )
    await connection.execute(
        """
        UPDATE champ SET model_id = CAST($1 AS uuid) WHERE n = 0;
        """,
        t_model,
    )
    await connection.execute(
        """
        INSERT INTO deployments (scenario_id, version, champion_model_id, challenger_model_id,
                                 mode, ab_test_id, challenger_share, sticky_column, updated_at)
        SELECT scenario_id, 1, model_id, NULL, 'single', NULL, 0, NULL, now() FROM champ
        ON CONFLICT (scenario_id) DO NOTHING
        """
    )
    await connection.execute(
        """
        INSERT INTO deployment_history (scenario_id, version, action, alias, model_id,
                                        previous_model_id, reason, requested_by, at)
        SELECT scenario_id, 1, 'promote', 'champion', model_id, NULL, 'manual', NULL, now()
        FROM champ
        ON CONFLICT DO NOTHING
        """
    )
    # Logged predictions over the last week, `labelled_share` of them with feedback.
    await _partitions(connection, now)
    await connection.execute(
        """
        CREATE TEMP TABLE p AS
        SELECT i, c.scenario_id, c.model_id,
               $3::timestamptz - (random() * $4) * interval '1 second' AS predicted_at
        FROM generate_series(0, $1 - 1) AS i
        JOIN champ c ON c.n = CASE WHEN i < $2 THEN 0 ELSE 1 + (i % greatest($5 - 1, 1)) END
        """,
        predictions,
        heavy_predictions,
        now,
        float(DAYS * 86400),
        scenarios,
    )
    sample = await connection.fetchval(
        "SELECT sample -> 0 FROM models WHERE id = CAST($1 AS uuid)", t_model
    )
    await _step(
        connection,
        log,
        f"{predictions:,} predictions",
        """
        INSERT INTO predictions (scenario_id, prediction_id, predicted_at, model_id, arm,
                                 inputs, output, latency_ms)
        SELECT scenario_id, 'bench-' || i, predicted_at, model_id, 'champion',
               coalesce(CAST($1 AS jsonb), '{}'),
               CASE WHEN i % 2 = 0 THEN '"yes"'::jsonb ELSE '"no"'::jsonb END,
               2 + random() * 8
        FROM p
        """,
        sample,
    )
    await _step(
        connection,
        log,
        "feedback",
        """
        INSERT INTO feedback (predicted_at, scenario_id, prediction_id, actual, received_at,
                              source)
        SELECT predicted_at, scenario_id, 'bench-' || i,
               CASE WHEN i % 3 = 0 THEN '"no"'::jsonb ELSE '"yes"'::jsonb END,
               predicted_at + interval '5 minutes', 'api'
        FROM p WHERE random() < $1
        """,
        labelled_share,
    )
    # Monitoring windows every minute: the last day of every scenario, the last week of the
    # heavy one; drift per feature with the deciding method's score.
    await _step(
        connection,
        log,
        "monitoring windows",
        """
        INSERT INTO monitoring_windows (scenario_id, model_id, arm, window_start, window_end,
            predictions, latency_p50, latency_p95, latency_p99, labelled, metrics, drift,
            prediction_drift, drifted, drifted_share, details, computed_at)
        SELECT c.scenario_id, c.model_id, 'champion', w.end_at - interval '1 hour', w.end_at,
               200 + (w.k % 60), 4 + random(), 8 + random(), 12 + random() * 3, 40 + (w.k % 20),
               jsonb_build_object('accuracy', 0.8 + random() * 0.1,
                                  'f1', 0.75 + random() * 0.1),
               d.drift, jsonb_build_object('method', 'chisquare', 'score', random(),
                                           'drifted', false),
               d.drifted, d.share, '{}'::jsonb, w.end_at
        FROM champ c
        CROSS JOIN LATERAL (
            SELECT k, date_trunc('minute', $1::timestamptz) - k * interval '1 minute' AS end_at
            FROM generate_series(0, CASE WHEN c.n = 0 THEN $2 * 1440 ELSE 1440 END - 1) AS k
        ) AS w
        CROSS JOIN LATERAL (
            SELECT jsonb_object_agg(f.name, jsonb_build_object(
                       'method', f.method, 'score', f.score, 'drifted', f.score > 0.1)) AS drift,
                   bool_or(f.score > 0.1) AS drifted,
                   avg(CASE WHEN f.score > 0.1 THEN 1.0 ELSE 0.0 END) AS share
            FROM (
                SELECT name, CASE WHEN name = 'colour' THEN 'jensenshannon'
                                  ELSE 'wasserstein' END AS method,
                       random() * 0.12 + 0 * w.k AS score
                FROM unnest(CAST($3 AS text[])) AS name
            ) AS f
        ) AS d
        """,
        now,
        DAYS,
        FEATURES,
    )
    # Triggers (the template's three in every scenario), firings, workflows and their runs.
    await clone(
        connection,
        "triggers",
        source="s JOIN triggers t ON t.scenario_id = CAST($1 AS uuid) WHERE s.n > 0",
        overrides={"id": "gen_random_uuid()", "scenario_id": "s.id"},
        args=(t_sid,),
    )
    await _step(
        connection,
        log,
        "trigger firings",
        """
        INSERT INTO trigger_firings (id, trigger_id, scenario_id, at, kind, reason, outcome,
                                     dedup_key, run_id, workflow_run_id, detail)
        SELECT gen_random_uuid(), t.id, t.scenario_id, now() - k * interval '2 hours', t.kind,
               'bench: ' || t.kind || ' fired',
               CASE WHEN k % 4 = 0 THEN 'started' ELSE 'cooldown' END,
               'bench-' || k, NULL, NULL, '{}'::jsonb
        FROM triggers t
        CROSS JOIN LATERAL generate_series(
            0, CASE WHEN t.scenario_id = CAST($1 AS uuid) THEN 299 ELSE 4 END) AS k
        """,
        t_sid,
    )
    await clone(
        connection,
        "workflows",
        source="s JOIN workflows t ON t.scenario_id = CAST($1 AS uuid) WHERE s.n > 0",
        overrides={"id": "gen_random_uuid()", "scenario_id": "s.id"},
        args=(t_sid,),
    )
    await connection.execute(
        """
        CREATE TEMP TABLE wr AS
        SELECT gen_random_uuid() AS id, w.id AS workflow_id, w.scenario_id, w.kind, w.spec, k,
               now() - k * interval '3 hours' AS started_at
        FROM workflows w
        CROSS JOIN LATERAL generate_series(
            0, CASE WHEN w.scenario_id = CAST($1 AS uuid) THEN 199 ELSE 2 END) AS k
        """,
        t_sid,
    )
    await connection.execute(
        """
        INSERT INTO workflow_runs (id, workflow_id, scenario_id, kind, status, trigger, reason,
                                   requested_by, started_at, finished_at, context)
        SELECT id, workflow_id, scenario_id, kind,
               CASE WHEN k % 5 = 4 THEN 'failed' ELSE 'succeeded' END, 'schedule',
               'bench: scheduled', NULL, started_at, started_at + interval '2 minutes',
               '{}'::jsonb
        FROM wr
        """
    )
    step_columns = set(await _columns(connection, "workflow_steps"))
    command = ", command_id" if "command_id" in step_columns else ""
    await connection.execute(
        f"""
        INSERT INTO workflow_steps (workflow_run_id, name, position, type, needs, config,
                                    max_attempts, status, attempts, retry_at, started_at,
                                    finished_at, error, output{command})
        SELECT wr.id, step ->> 'name', CAST(pos AS int) - 1, step ->> 'type', step -> 'needs',
               step -> 'config', 1 + CAST(step ->> 'retries' AS int),
               CASE WHEN wr.k % 5 = 4 AND pos > 2 THEN 'failed' ELSE 'succeeded' END, 1, NULL,
               wr.started_at, wr.started_at + interval '1 minute',
               CASE WHEN wr.k % 5 = 4 AND pos > 2 THEN 'bench: a failed step' END, '{{}}'::jsonb
               {", NULL" if command else ""}
        FROM wr CROSS JOIN LATERAL jsonb_array_elements(wr.spec -> 'steps')
             WITH ORDINALITY AS x(step, pos)
        """
    )
    started = time.perf_counter()
    await connection.execute("ANALYZE")
    log(f"analyze: {time.perf_counter() - started:.1f} s")
    counts = {}
    for table in (
        "scenarios",
        "experiments",
        "runs",
        "models",
        "predictions",
        "feedback",
        "monitoring_windows",
        "trigger_firings",
        "workflow_runs",
    ):
        counts[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")
    return counts
