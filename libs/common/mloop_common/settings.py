"""One settings class for every service, read from `MLOOP_*` environment variables.

The names are a contract (README lists them all). Local defaults describe the embedded stack;
pointing `MLOOP_KAFKA_BOOTSTRAP`, `MLOOP_DATABASE_URL` or `MLOOP_ARTIFACT_URL` at real parts
replaces the embedded ones. Every lease, window and time-to-live is here so tests can shrink it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("gateway", "trainer", "predictor", "monitor", "scheduler")
DEVELOPMENT_PREDICTION_SECRET = "development-only-prediction-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOOP_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = Field(
        "development", description="`production` refuses generated or well-known secrets."
    )
    home: Path = Field(
        Path(".mloop"), description="Local data: Postgres files, artifacts, logs, admin key."
    )
    log_level: str = Field("INFO", description="Python logging level of every service.")

    gateway_host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    gateway_port: int = Field(8000, ge=1, le=65535, description="Gateway HTTP port.")
    predictor_host: str = Field("127.0.0.1", description="Address the predictor listens on.")
    predictor_port: int = Field(8001, ge=1, le=65535, description="Predictor HTTP port.")
    predictor_url: str | None = Field(
        None, description="Where the gateway reaches the predictor; default from host and port."
    )
    trainer_port: int = Field(8002, ge=1, le=65535, description="Trainer health/metrics port.")
    monitor_port: int = Field(8003, ge=1, le=65535, description="Monitor health/metrics port.")
    scheduler_port: int = Field(8004, ge=1, le=65535, description="Scheduler health port.")

    kafka_bootstrap: str | None = Field(
        None, description="Kafka bootstrap servers; when unset `make run` starts a local broker."
    )
    local_kafka_port: int | None = Field(
        None, ge=1, le=65535, description="Port of the local broker; a free one when unset."
    )
    kafka_partitions: int = Field(3, ge=1, description="Partitions of every topic MLoop creates.")
    feedback_topic: str = Field(
        "mloop.feedback", description="Topic where apps publish bare feedback JSON."
    )

    database_url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql+asyncpg://...); unset: embedded Postgres."
    )
    artifact_url: str | None = Field(
        None, description="`file:///dir` or `s3://bucket/prefix`; unset: `$MLOOP_HOME/artifacts`."
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint (MinIO, moto); credentials come from the AWS variables."
    )
    admin_key: str | None = Field(
        None, description="Bootstrap admin API key; generated and kept under MLOOP_HOME if unset."
    )
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP endpoint for traces and metrics; unset: no export."
    )

    heartbeat_interval: float = Field(2.0, gt=0, description="Seconds between heartbeats.")
    heartbeat_timeout: float = Field(
        10.0, gt=0, description="A service without a heartbeat for this long is down."
    )
    consumer_max_attempts: int = Field(
        4, ge=1, description="Tries of a failing message before it is dead-lettered."
    )
    consumer_backoff: float = Field(
        0.5, ge=0, description="First retry delay in seconds; doubles on every try."
    )
    outbox_poll_interval: float = Field(
        0.2, gt=0, description="Seconds between outbox polls when idle."
    )
    outbox_batch_size: int = Field(500, ge=1, description="Outbox rows published per round.")
    outbox_retention: float = Field(
        86400.0, gt=0, description="Seconds published outbox rows are kept for replay."
    )
    broker_check_interval: float = Field(
        5.0, gt=0, description="Seconds between checks that the broker was not replaced."
    )
    lease_ttl: float = Field(
        60.0, gt=0, description="Seconds a claimed piece of long work stays leased unrenewed."
    )
    reconcile_interval: float = Field(
        10.0, gt=0, description="Seconds between re-queues of work whose lease expired."
    )

    trainer_concurrency: int = Field(
        1, ge=1, le=64, description="Runs one trainer executes at once (each in a child process)."
    )
    trainer_poll_interval: float = Field(
        2.0, gt=0, description="Seconds between looks for queued runs when no command woke it."
    )
    run_max_attempts: int = Field(
        2, ge=1, description="Starts of a run before one whose trainer died is failed."
    )
    run_max_seconds: float | None = Field(
        None, gt=0, description="Ceiling on any run's wall time, whatever its profile says."
    )
    run_max_memory_mb: float | None = Field(
        None, gt=0, description="Ceiling on any run's resident memory, whatever its profile says."
    )
    trainer_gpus: int | None = Field(
        None, ge=0, description="GPUs a trainer offers; unset: counted with nvidia-smi."
    )

    prediction_secret: str = Field(
        DEVELOPMENT_PREDICTION_SECRET,
        min_length=16,
        description="Key that signs prediction ids (shared by gateway, predictor and monitor).",
    )
    predict_max_records: int = Field(
        1000, ge=1, description="Most records one online predict request may carry."
    )
    predictor_timeout: float = Field(
        10.0, gt=0, description="Seconds the gateway waits for the predictor to answer."
    )
    prediction_batch_size: int = Field(
        1000, ge=1, description="Predictions per PredictionMade message at most."
    )
    prediction_flush_interval: float = Field(
        0.25, gt=0, description="Seconds a logged prediction waits at most before it is sent."
    )
    prediction_buffer_max: int = Field(
        100_000,
        ge=1,
        description="Predictions held for sending at most; past it the oldest are dropped "
        "(counted), so a slow broker never slows answers.",
    )
    batch_chunk_rows: int = Field(
        100_000, ge=1, description="Rows a batch prediction reads, scores and writes at a time."
    )
    batch_poll_interval: float = Field(
        2.0, gt=0, description="Seconds between looks for queued batch jobs when none woke it."
    )

    # The closed loop (issue 6). Feedback and the monitor's storage:
    feedback_ttl: float = Field(
        3600.0,
        gt=0,
        description="Seconds feedback waits for its prediction to be logged before it is "
        "dead-lettered.",
    )
    feedback_max_items: int = Field(
        1000, ge=1, description="Most feedback items one REST request may carry."
    )
    feedback_batch_size: int = Field(
        5000, ge=1, description="Feedback-topic messages the monitor stores per statement at most."
    )
    retention_days: int = Field(
        30, ge=1, description="Days of predictions and feedback kept; older daily partitions drop."
    )
    retention_interval: float = Field(
        3600.0, gt=0, description="Seconds between retention and feedback time-to-live sweeps."
    )
    # Monitoring windows (each has a per-scenario override: the scenario's `monitoring` field):
    monitor_window: float = Field(
        3600.0, gt=0, description="Seconds of predictions one monitoring window covers."
    )
    monitor_interval: float = Field(
        60.0, gt=0, description="Seconds between monitoring windows (the window slides by this)."
    )
    monitor_episode_windows: int = Field(
        3,
        ge=1,
        description="Consecutive windows over a threshold that start an episode (and under it "
        "that end one).",
    )
    monitor_min_predictions: int = Field(
        100, ge=1, description="Predictions a window needs before drift is measured on it."
    )
    monitor_min_labelled: int = Field(
        30, ge=1, description="Labelled predictions a window needs before live metrics count."
    )
    drift_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of drifted features at which a window's inputs count as drifted.",
    )
    performance_margin: float = Field(
        0.1,
        ge=0,
        description="Relative fall of the live primary metric below the model's holdout value "
        "that degrades performance.",
    )
    # Triggers and automatic deployment (scheduler):
    scheduler_tick: float = Field(
        5.0, gt=0, description="Seconds between the scheduler's looks at the clock and A/B tests."
    )
    trigger_cooldown: float = Field(
        3600.0, ge=0, description="Default seconds after a trigger fires before it fires again."
    )
    retrain_max_concurrent: int = Field(
        1, ge=1, description="Retrains one scenario may have running at once; more are skipped."
    )
    deploy_margin: float = Field(
        0.0,
        ge=0,
        description="How much better (in the primary metric) a candidate must be for `auto` to "
        "promote it.",
    )
    ab_alpha: float = Field(
        0.05, gt=0, lt=1, description="Significance level of automatic A/B decisions."
    )
    ab_share: float = Field(
        0.5, gt=0, lt=1, description="Share of traffic the challenger gets in a policy A/B test."
    )
    ab_min_samples: int = Field(
        200, ge=2, description="Labelled predictions per arm before a policy A/B test decides."
    )
    ab_max_samples: int = Field(
        5000,
        ge=2,
        description="Labelled predictions per arm at which an inconclusive test keeps the "
        "champion.",
    )
    probation_predictions: int = Field(
        200,
        ge=1,
        description="Labelled predictions a new champion is watched for after an automatic "
        "promotion.",
    )
    probation_margin: float = Field(
        0.05,
        ge=0,
        description="Fall of the new champion's live primary metric below the old one's that "
        "rolls it back.",
    )
    workflow_step_attempts: int = Field(
        2, ge=1, description="Default tries of a workflow step before it fails."
    )
    # Webhooks (scheduler):
    webhook_allow: list[str] = Field(
        default_factory=list,
        description="Hosts or networks (CIDR) on loopback or private ranges webhooks may target.",
    )
    webhook_max_attempts: int = Field(
        8, ge=1, description="Tries of a webhook delivery before it is given up."
    )
    webhook_backoff: float = Field(
        1.0, gt=0, description="First retry delay of a webhook delivery in seconds; doubles."
    )
    webhook_timeout: float = Field(5.0, gt=0, description="Seconds a webhook target may take.")

    request_max_bytes: int = Field(
        1024**2, gt=0, description="Largest request body other than an upload, in bytes."
    )
    upload_max_bytes: int = Field(
        2 * 1024**3, gt=0, description="Largest dataset upload accepted, in bytes."
    )
    upload_max_columns: int = Field(
        2000, ge=1, description="Most columns a dataset upload may have."
    )
    idempotency_ttl: float = Field(
        86400.0, gt=0, description="Seconds an Idempotency-Key's first answer is replayed."
    )
    key_refresh_interval: float = Field(
        5.0, gt=0, description="Seconds between full reloads of a replica's in-memory API keys."
    )
    web_session_ttl: float = Field(
        43200.0, gt=0, description="Seconds a dashboard sign-in lasts before it must be renewed."
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @model_validator(mode="after")
    def _no_generated_secrets_in_production(self) -> Settings:
        if self.environment == "production" and not self.admin_key:
            raise ValueError("MLOOP_ADMIN_KEY must be set when MLOOP_ENVIRONMENT=production")
        if (
            self.environment == "production"
            and self.prediction_secret == DEVELOPMENT_PREDICTION_SECRET
        ):
            raise ValueError(
                "MLOOP_PREDICTION_SECRET must be set when MLOOP_ENVIRONMENT=production"
            )
        if self.admin_key is not None and len(self.admin_key) < 16:
            raise ValueError("MLOOP_ADMIN_KEY must be at least 16 characters")
        return self

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or (self.home / "artifacts").as_uri()

    def service_port(self, service: str) -> int:
        return getattr(self, f"{service}_port")

    def require_kafka(self) -> str:
        if not self.kafka_bootstrap:
            raise RuntimeError("MLOOP_KAFKA_BOOTSTRAP is not set (run the stack with `make run`)")
        return self.kafka_bootstrap

    def require_database(self) -> str:
        if not self.database_url:
            raise RuntimeError("MLOOP_DATABASE_URL is not set (run the stack with `make run`)")
        return self.database_url
