"""Pure pieces of the backbone: settings, the message catalogue, health, heartbeats."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from mloop_common import asyncapi, topics
from mloop_common.heartbeat import HeartbeatBoard
from mloop_common.messages import CATALOGUE
from mloop_common.messages.commands import TrainModel
from mloop_common.messages.events import ServiceHeartbeat
from mloop_common.settings import SERVICES, Settings
from mloop_gateway.domain.health import summarise
from pydantic import ValidationError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table_and_nothing_else() -> None:
    documented = set(re.findall(r"^\| `(MLOOP_[A-Z0-9_]+)` \|", README.read_text(), re.M))
    assert documented == {f"MLOOP_{name.upper()}" for name in Settings.model_fields}


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOOP_GATEWAY_PORT", "9100")
    monkeypatch.setenv("MLOOP_KAFKA_BOOTSTRAP", "kafka:9092")
    settings = Settings()
    assert settings.gateway_port == 9100
    assert settings.require_kafka() == "kafka:9092"
    assert settings.home.is_absolute()
    assert settings.resolved_artifact_url == (settings.home / "artifacts").as_uri()


def test_production_refuses_a_missing_or_weak_admin_key() -> None:
    with pytest.raises(ValidationError, match="MLOOP_ADMIN_KEY must be set"):
        Settings(environment="production", admin_key=None)
    with pytest.raises(ValidationError, match="at least 16"):
        Settings(admin_key="short")
    with pytest.raises(ValidationError):
        Settings(gateway_port=70000)


def test_catalogue_has_one_type_per_message_and_every_topic_is_declared() -> None:
    declared = {value for name, value in vars(topics).items() if name.isupper()}
    assert len(CATALOGUE) == 31
    for name, cls in CATALOGUE.items():
        assert cls(**_minimal(cls)).type == name
        assert cls.topic in declared, f"{name} publishes to an undeclared topic"
    assert len({cls.topic for cls in CATALOGUE.values()}) == len(CATALOGUE)


def _minimal(cls: type) -> dict:
    """Required fields filled with plausible values, to prove each type constructs."""
    values: dict = {}
    for field_name, field in cls.model_fields.items():
        if not field.is_required():
            continue
        annotation = str(field.annotation)
        values[field_name] = (
            {"version": 1, "champion_model_id": None}
            if "DeploymentState" in annotation
            else []
            if annotation.startswith("list")
            else {}
            if annotation.startswith("dict")
            else uuid.uuid4()
            if "UUID" in annotation
            else 1
            if "int" in annotation
            else 0.5
            if "float" in annotation
            else "succeeded"
            if field_name == "status"
            else "predict"
            if field_name == "kind"
            else "2026-01-01T00:00:00Z"
            if "datetime" in annotation
            else "x"
        )
    return values


def test_messages_are_frozen_and_partitioned_by_scenario() -> None:
    scenario = uuid.uuid4()
    command = TrainModel(run_id=uuid.uuid4(), scenario_id=scenario)
    assert command.partition_key == str(scenario).encode()
    with pytest.raises(ValidationError):
        command.trigger = "schedule"  # type: ignore[misc]
    caused = command.caused()
    assert caused == {
        "scenario_id": scenario,
        "correlation_id": command.event_id,
        "causation_id": command.event_id,
    }


def test_health_is_ok_only_when_every_part_is() -> None:
    services = dict.fromkeys(SERVICES, "ok")
    dependencies = {"kafka": "ok", "postgres": "ok", "storage": "ok"}
    assert summarise(services, dependencies).status == "ok"
    assert summarise({**services, "monitor": "down"}, dependencies).status == "degraded"
    assert summarise(services, {**dependencies, "storage": "down"}).status == "degraded"


def test_heartbeat_board_marks_silent_services_down(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("mloop_common.heartbeat.time.monotonic", lambda: now[0])
    board = HeartbeatBoard(timeout=10)
    assert set(board.status().values()) == {"down"}
    board.record(
        ServiceHeartbeat(service="trainer", instance="h:1", started_at="2026-01-01T00:00:00Z")
    )
    assert board.status()["trainer"] == "ok"
    now[0] += 10.5
    assert board.status()["trainer"] == "down"


def test_asyncapi_document_lists_every_message_with_its_described_payload() -> None:
    document = json.loads(asyncapi.as_json())
    channels = {channel["address"] for channel in document["channels"].values()}
    expected = {cls.topic for cls in CATALOGUE.values()} | {topics.DEAD_LETTER}
    assert channels == expected | {"mloop.feedback"}  # the default MLOOP_FEEDBACK_TOPIC
    schemas = document["components"]["schemas"]
    bare = schemas["ExternalFeedback"]  # the feedback topic's bare JSON, no envelope
    assert set(bare["required"]) == {"scenario_id", "prediction_id", "actual"}
    assert all("description" in spec for spec in bare["properties"].values())
    for name, cls in CATALOGUE.items():
        properties = schemas[name]["properties"]
        assert set(cls.model_fields) <= set(properties), name
        undescribed = {field for field, spec in properties.items() if "description" not in spec}
        assert undescribed <= {"type"}, f"{name}: {undescribed}"  # `type` is its constant name
