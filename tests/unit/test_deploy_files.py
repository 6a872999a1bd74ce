"""The deployment files agree with the code: `deploy/compose.yaml`, `Dockerfile`, `.dockerignore`.

No Docker engine runs in the tests, so the files are parsed and checked against what the code
really has: runnable modules, `Settings` fields and defaults, ports, paths in the repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from mloop_common.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# Non-MLoop variables the project image may receive: boto3 reads these for S3.
ALLOWED_FOREIGN_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
# Services whose bind address is a setting; the others always listen on 127.0.0.1.
HOST_SETTING = {"gateway": "gateway_host", "predictor": "predictor_host"}
HEALTH_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost):(\d+)/(?:api/)?health\b")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# ---------------------------------------------------------------- compose helpers


def _load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


COMPOSE = _load_compose()
COMPOSE_SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _is_project_image(service: dict[str, Any]) -> bool:
    return "build" in service


PROJECT_SERVICES = sorted(name for name, s in COMPOSE_SERVICES.items() if _is_project_image(s))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _module_of(command: list[str]) -> str:
    assert len(command) == 3 and command[0] in ("python", "python3") and command[1] == "-m", (
        f"expected `python -m <module>`, got {command!r}"
    )
    return command[2]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _resolve(value: str) -> str:
    """Interpolate like compose with nothing set: defaults used, required ones filled in."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if op and op.endswith("-"):
            return arg
        return f"placeholder-{name.lower()}-0123456789"

    return INTERPOLATION.sub(replace, value).replace("$$", "$")


def _settings_for(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The `Settings` a service would build from its compose environment."""
    for key in list(os.environ):
        if key.startswith("MLOOP_"):
            monkeypatch.delenv(key)
    for key, value in _environment(service).items():
        if key.startswith("MLOOP_"):
            monkeypatch.setenv(key, _resolve(value))
    return Settings()


def _container_ports(service: dict[str, Any]) -> list[int]:
    ports = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.append(int(entry["target"]))
        else:
            ports.append(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    if test is None:
        return ""
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


# ---------------------------------------------------------------- compose: services and commands


def test_compose_has_the_five_services_and_migrate() -> None:
    missing = {*SERVICES, "migrate"} - set(PROJECT_SERVICES)
    assert not missing, f"compose lacks project-image services {sorted(missing)}"


def test_project_services_build_this_repository_dockerfile() -> None:
    for name in PROJECT_SERVICES:
        build = COMPOSE_SERVICES[name]["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == ROOT, f"{name}: build context {context} is not the repository root"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


@pytest.mark.parametrize("name", PROJECT_SERVICES)
def test_project_service_command_runs_a_real_module(name: str) -> None:
    module = _module_of(_command(COMPOSE_SERVICES[name]))
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{name}: module {module} is not importable"
    if spec.submodule_search_locations is not None:  # a package runs its __main__
        assert importlib.util.find_spec(f"{module}.__main__") is not None, (
            f"{name}: package {module} has no __main__ module"
        )
    else:
        assert spec.origin is not None
        assert 'if __name__ == "__main__"' in Path(spec.origin).read_text(), (
            f"{name}: module {module} does nothing when run with -m"
        )


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_its_own_package(service: str) -> None:
    assert _module_of(_command(COMPOSE_SERVICES[service])) == f"mloop_{service}"


def test_migrate_job_runs_prestart_once() -> None:
    migrate = COMPOSE_SERVICES["migrate"]
    assert _module_of(_command(migrate)) == "mloop_common.prestart"
    assert str(migrate.get("restart", "no")) == "no", "a one-off job must not restart"
    assert "healthcheck" not in migrate and "ports" not in migrate


def test_no_service_but_migrate_runs_prestart() -> None:
    runners = [n for n in PROJECT_SERVICES if "prestart" in " ".join(_command(COMPOSE_SERVICES[n]))]
    assert runners == ["migrate"]


# ---------------------------------------------------------------- compose: dependencies


@pytest.mark.parametrize("name", sorted(COMPOSE_SERVICES))
def test_depends_on_names_existing_services(name: str) -> None:
    deps = _depends_on(COMPOSE_SERVICES[name])
    assert name not in deps, f"{name} depends on itself"
    unknown = set(deps) - set(COMPOSE_SERVICES)
    assert not unknown, f"{name} depends on unknown services {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(COMPOSE_SERVICES))
def test_depends_on_conditions_are_satisfiable(name: str) -> None:
    for dep, condition in _depends_on(COMPOSE_SERVICES[name]).items():
        target = COMPOSE_SERVICES[dep]
        if condition == "service_healthy":
            assert _healthcheck_text(target), f"{name} waits for {dep} healthy; it has no check"
        elif condition == "service_completed_successfully":
            assert str(target.get("restart", "no")) == "no", f"{dep} is a job: it must not restart"
        else:
            assert condition == "service_started", f"{name}: unknown condition {condition}"


def test_migrate_waits_for_healthy_postgres_and_kafka() -> None:
    deps = _depends_on(COMPOSE_SERVICES["migrate"])
    assert deps.get("postgres") == "service_healthy"
    assert deps.get("kafka") == "service_healthy"


def test_bucket_job_waits_for_healthy_minio() -> None:
    assert _depends_on(COMPOSE_SERVICES["minio-init"]).get("minio") == "service_healthy"


@pytest.mark.parametrize("service", SERVICES)
def test_services_start_after_migrate_and_bucket(service: str) -> None:
    deps = _depends_on(COMPOSE_SERVICES[service])
    assert deps.get("migrate") == "service_completed_successfully"
    assert deps.get("minio-init") == "service_completed_successfully"


# ---------------------------------------------------------------- compose: environment


@pytest.mark.parametrize("name", sorted(COMPOSE_SERVICES))
def test_mloop_variables_name_settings_fields(name: str) -> None:
    fields = set(Settings.model_fields)
    for key in _environment(COMPOSE_SERVICES[name]):
        if key.startswith("MLOOP_"):
            field = key.removeprefix("MLOOP_").lower()
            assert field in fields, f"{name}: {key} is not a Settings field"


@pytest.mark.parametrize("name", PROJECT_SERVICES)
def test_project_image_gets_only_known_variables(name: str) -> None:
    foreign = {
        key
        for key in _environment(COMPOSE_SERVICES[name])
        if not key.startswith("MLOOP_") and key not in ALLOWED_FOREIGN_ENV
    }
    assert not foreign, f"{name}: variables the code never reads {sorted(foreign)}"


@pytest.mark.parametrize("name", PROJECT_SERVICES)
def test_environment_builds_valid_production_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings_for(COMPOSE_SERVICES[name], monkeypatch)
    assert settings.environment == "production"
    assert settings.database_url and settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.kafka_bootstrap and settings.artifact_url
    assert settings.artifact_url.startswith("s3://") and settings.s3_endpoint_url


@pytest.mark.parametrize("name", PROJECT_SERVICES)
@pytest.mark.parametrize("secret", ["MLOOP_ADMIN_KEY", "MLOOP_PREDICTION_SECRET"])
def test_secrets_are_required_not_defaulted(name: str, secret: str) -> None:
    value = _environment(COMPOSE_SERVICES[name]).get(secret, "")
    match = INTERPOLATION.fullmatch(value)
    assert match is not None and match.group(1) == secret, value
    assert match.group(2) == ":?", f"{secret} must fail when unset, not fall back"


@pytest.mark.parametrize("name", PROJECT_SERVICES)
def test_infrastructure_hosts_are_compose_services(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings_for(COMPOSE_SERVICES[name], monkeypatch)
    hosts = {
        "database": urlsplit(settings.require_database()).hostname,
        "s3": urlsplit(settings.s3_endpoint_url or "").hostname,
        **{
            f"kafka {server}": server.rsplit(":", 1)[0]
            for server in settings.require_kafka().split(",")
        },
    }
    for what, host in hosts.items():
        assert host in COMPOSE_SERVICES, f"{name}: {what} host {host!r} is not a compose service"


def test_database_url_matches_postgres_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    url = urlsplit(_settings_for(COMPOSE_SERVICES["migrate"], monkeypatch).require_database())
    pg = {key: _resolve(value) for key, value in _environment(COMPOSE_SERVICES["postgres"]).items()}
    assert url.username == pg["POSTGRES_USER"]
    assert url.password == pg["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == pg.get("POSTGRES_DB", pg["POSTGRES_USER"])
    assert url.port == 5432


def test_kafka_advertises_the_bootstrap_address(monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = _settings_for(COMPOSE_SERVICES["migrate"], monkeypatch).require_kafka()
    advertised = _environment(COMPOSE_SERVICES["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert bootstrap in advertised, f"clients use {bootstrap}; broker advertises {advertised}"


def test_kafka_runs_kraft_broker_and_controller() -> None:
    env = _environment(COMPOSE_SERVICES["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert f"{controller}://" in env["KAFKA_LISTENERS"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")


def test_bucket_job_creates_the_artifact_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    artifact_url = _settings_for(COMPOSE_SERVICES["migrate"], monkeypatch).artifact_url or ""
    bucket = urlsplit(artifact_url).netloc
    script = " ".join(_command(COMPOSE_SERVICES["minio-init"]))
    assert re.search(rf"mc mb\b.*/{re.escape(bucket)}\b", script), (
        f"minio-init does not create bucket {bucket!r}: {script}"
    )


def test_s3_credentials_are_minio_credentials() -> None:
    env = _environment(COMPOSE_SERVICES["migrate"])
    minio = _environment(COMPOSE_SERVICES["minio"])
    assert _resolve(env["AWS_ACCESS_KEY_ID"]) == _resolve(minio["MINIO_ROOT_USER"])
    assert _resolve(env["AWS_SECRET_ACCESS_KEY"]) == _resolve(minio["MINIO_ROOT_PASSWORD"])


# ---------------------------------------------------------------- compose: ports and health


@pytest.mark.parametrize("service", SERVICES)
def test_healthcheck_hits_the_service_port(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = COMPOSE_SERVICES[service]
    port = _settings_for(spec, monkeypatch).service_port(service)
    text = _healthcheck_text(spec)
    found = HEALTH_URL.findall(text)
    assert found, f"{service}: healthcheck does not GET /health: {text!r}"
    assert {int(p) for p in found} == {port}, f"{service}: checks {found}, serves on {port}"


@pytest.mark.parametrize("service", SERVICES)
def test_healthcheck_uses_only_python(service: str) -> None:
    test = COMPOSE_SERVICES[service]["healthcheck"]["test"]
    assert isinstance(test, list) and test[:3] == ["CMD", "python", "-c"], test
    compile(test[3], f"<{service} healthcheck>", "exec")


@pytest.mark.parametrize(
    "name", [n for n in sorted(COMPOSE_SERVICES) if _container_ports(COMPOSE_SERVICES[n])]
)
def test_published_ports_target_the_service_port(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = COMPOSE_SERVICES[name]
    if name not in PROJECT_SERVICES:
        return  # infrastructure ports are the images' own business
    assert name in HOST_SETTING, f"{name} listens on 127.0.0.1 only; publishing it is useless"
    settings = _settings_for(spec, monkeypatch)
    assert _container_ports(spec) == [settings.service_port(name)]
    assert getattr(settings, HOST_SETTING[name]) == "0.0.0.0", f"{name} must bind 0.0.0.0"


@pytest.mark.parametrize("service", ["gateway", "predictor"])
def test_gateway_and_predictor_are_published(service: str) -> None:
    assert _container_ports(COMPOSE_SERVICES[service]), f"{service} publishes no port"


def test_gateway_reaches_the_predictor(monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = _settings_for(COMPOSE_SERVICES["predictor"], monkeypatch)
    gateway = _settings_for(COMPOSE_SERVICES["gateway"], monkeypatch)
    assert gateway.predictor_url is not None, "the gateway needs MLOOP_PREDICTOR_URL"
    url = urlsplit(gateway.predictor_url)
    assert url.hostname == "predictor" and "predictor" in COMPOSE_SERVICES
    assert url.port == predictor.predictor_port
    assert predictor.predictor_host == "0.0.0.0", "other containers cannot reach 127.0.0.1"


def test_infrastructure_has_healthchecks() -> None:
    for name in ("kafka", "postgres", "minio"):
        assert _healthcheck_text(COMPOSE_SERVICES[name]), f"{name} has no healthcheck"
    assert COMPOSE_SERVICES["kafka"]["image"] == "apache/kafka:3.9.0"
    assert str(COMPOSE_SERVICES["postgres"]["image"]).startswith("postgres:16")


def test_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, spec in COMPOSE_SERVICES.items():
        for volume in spec.get("volumes") or []:
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source} is not declared"


# ---------------------------------------------------------------- Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


INSTRUCTIONS = _dockerfile_instructions()


def _exec_form(arguments: str) -> list[str]:
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


def _copies() -> list[tuple[int, list[str]]]:
    """(instruction index, source paths) of every COPY/ADD from the build context."""
    copies = []
    for index, (keyword, arguments) in enumerate(INSTRUCTIONS):
        if keyword not in ("COPY", "ADD"):
            continue
        parts = _exec_form(arguments)
        flags = [part for part in parts if part.startswith("--")]
        if any(flag.startswith("--from=") for flag in flags):
            continue
        paths = [part for part in parts if not part.startswith("--")]
        assert len(paths) >= 2, f"{keyword} {arguments}: needs a source and a destination"
        copies.append((index, paths[:-1]))
    return copies


def _first_index(predicate: Callable[[str, str], bool]) -> int:
    for index, (keyword, arguments) in enumerate(INSTRUCTIONS):
        if predicate(keyword, arguments):
            return index
    raise AssertionError("instruction not found in the Dockerfile")


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append((negate, re.compile(regex)))
    return patterns


def _ignored(relative: str) -> bool:
    """Whether the build context leaves `relative` out (a path or one of its parents matches)."""
    parts = Path(relative).parts
    ignored = False
    for negate, regex in _dockerignore_patterns():
        for depth in range(1, len(parts) + 1):
            if regex.fullmatch("/".join(parts[:depth])):
                ignored = not negate
                break
    return ignored


def _sources(pattern: str) -> list[Path]:
    if pattern in (".", "./"):
        return [ROOT]
    return sorted(ROOT.glob(pattern)) if any(c in pattern for c in "*?[") else [ROOT / pattern]


def _workspace_members() -> list[Path]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = pyproject["tool"]["uv"]["workspace"]["members"]
    return sorted(path for pattern in members for path in ROOT.glob(pattern))


def _covered_by_copy(path: Path, before: int) -> bool:
    for index, sources in _copies():
        if index >= before:
            continue
        for pattern in sources:
            for source in _sources(pattern):
                if path == source or source in path.parents:
                    return True
    return False


@pytest.mark.parametrize("sources", [s for _, s in _copies()], ids=lambda s: " ".join(s))
def test_dockerfile_copies_existing_paths(sources: list[str]) -> None:
    for pattern in sources:
        found = [path for path in _sources(pattern) if path.exists()]
        assert found, f"COPY source {pattern} matches nothing in the repository"


@pytest.mark.parametrize("sources", [s for _, s in _copies()], ids=lambda s: " ".join(s))
def test_dockerignore_keeps_copied_paths(sources: list[str]) -> None:
    for pattern in sources:
        for path in _sources(pattern):
            relative = path.relative_to(ROOT).as_posix()
            assert not _ignored(relative), f"COPY {relative}: .dockerignore excludes it"


@pytest.mark.parametrize("path", [".venv", ".mloop", ".git", ".venv/bin/python", "x/.venv"])
def test_dockerignore_excludes_local_state(path: str) -> None:
    assert _ignored(path), f".dockerignore sends {path} to the build"


def test_dockerfile_base_image() -> None:
    froms = [arguments for keyword, arguments in INSTRUCTIONS if keyword == "FROM"]
    assert froms and froms[-1].split()[0] == "python:3.11-slim"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11", "the base image's Python no longer matches requires-python"


def test_dependency_layer_has_every_member_pyproject_and_the_lock() -> None:
    cached_sync = _first_index(
        lambda k, a: k == "RUN" and "uv sync" in a and "--no-install-workspace" in a
    )
    assert "--locked" in INSTRUCTIONS[cached_sync][1] and "--no-dev" in INSTRUCTIONS[cached_sync][1]
    needed = [ROOT / "pyproject.toml", ROOT / "uv.lock"]
    needed += [member / "pyproject.toml" for member in _workspace_members()]
    for path in needed:
        assert _covered_by_copy(path, cached_sync), f"{path.relative_to(ROOT)} not copied in time"
    package_dirs = [
        p for m in _workspace_members() for p in m.iterdir() if p.name.startswith("mloop")
    ]
    early = [p for p in package_dirs if _covered_by_copy(p, cached_sync)]
    assert not early, f"sources copied before the cached layer: {early}"


def test_final_sync_follows_every_package_source() -> None:
    final_sync = _first_index(
        lambda k, a: k == "RUN" and "uv sync" in a and "--no-install-workspace" not in a
    )
    assert "--locked" in INSTRUCTIONS[final_sync][1] and "--no-dev" in INSTRUCTIONS[final_sync][1]
    for member in _workspace_members():
        pyproject = tomllib.loads((member / "pyproject.toml").read_text())
        backend = pyproject.get("tool", {}).get("uv", {}).get("build-backend", {})
        module = backend.get("module-name", pyproject["project"]["name"].replace("-", "_"))
        package = member / backend.get("module-root", "src") / module
        assert (package / "__init__.py").exists(), f"{package} is not the member's package"
        assert _covered_by_copy(package, final_sync), f"{package.relative_to(ROOT)} not copied"


def test_dockerfile_installs_uv_with_pip() -> None:
    runs = " ".join(arguments for keyword, arguments in INSTRUCTIONS if keyword == "RUN")
    assert re.search(r"pip install\b.*\buv\b", runs)
    assert "curl" not in runs and "wget" not in runs


def test_dockerfile_runs_as_non_root() -> None:
    users = [arguments.split(":")[0] for keyword, arguments in INSTRUCTIONS if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    assert _first_index(lambda k, a: k == "USER") < _first_index(lambda k, a: k == "CMD")


def test_dockerfile_default_command_is_a_real_module() -> None:
    entrypoint = [a for k, a in INSTRUCTIONS if k == "ENTRYPOINT"]
    cmd = [a for k, a in INSTRUCTIONS if k == "CMD"]
    assert cmd, "the Dockerfile has no CMD"
    command = (_exec_form(entrypoint[-1]) if entrypoint else []) + _exec_form(cmd[-1])
    module = _module_of(command)
    assert module == "mloop_gateway"
    assert importlib.util.find_spec(f"{module}.__main__") is not None
