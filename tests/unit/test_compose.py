"""The deployment files, checked without a Docker engine.

- `docker-compose.yml` (and the GPU override) validate against the Compose Specification
  schema, vendored in deploy/schema/ (see its NOTICE.md: docker-compose 1.29.2, Apache-2.0);
- every finsent service runs a real `finsent` command with real options;
- every FINSENT_* variable set is one a settings class reads;
- Prometheus scrapes every service's metrics port; the web view reads the same endpoints;
- the Dockerfile installs exactly pyproject.toml's dependencies and copies every package.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
import typer
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from cli.main import app

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
GPU_OVERRIDE = REPO / "deploy" / "compose.gpu.yml"
SCHEMA = REPO / "deploy" / "schema" / "compose_spec.json"
PACKAGES = ("finsent", "ingest", "inference", "alerts", "dashboards")
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET")


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


COMPOSE_DATA = _yaml(COMPOSE)
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DATA["services"]
FINSENT_SERVICES = {name: s for name, s in SERVICES.items() if "build" in s}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _env_example() -> dict[str, str]:
    out = {}
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("# FINSENT_"):
            line = line[2:]  # documented optional variables count too
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


# -- schema -----------------------------------------------------------------------------


def _validator() -> Any:
    # The schema names draft 2019-09 by a URL jsonschema does not know; say it explicitly.
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft201909Validator(schema)


@pytest.mark.parametrize("path", [COMPOSE, GPU_OVERRIDE], ids=lambda p: p.name)
def test_compose_file_is_valid_against_the_compose_spec(path: Path) -> None:
    validator = _validator()
    errors = sorted(validator.iter_errors(_yaml(path)), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_file() -> None:
    """Guards the guard: the vendored schema really constrains services."""
    broken = {"services": {"web": {"image": "x", "restart_policy": "always", "ports": 5}}}
    assert len(list(_validator().iter_errors(broken))) >= 2


def test_every_service_has_a_health_check_and_a_restart_policy() -> None:
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no health check"
        assert service.get("restart") in ("unless-stopped", "always"), f"{name}: no restart"


def test_gpu_override_reserves_a_gpu_for_inference_only() -> None:
    override = _yaml(GPU_OVERRIDE)["services"]
    assert set(override) == {"inference"}
    devices = override["inference"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in SERVICES["inference"], "the base file must run without a GPU"


def test_redis_is_8_with_append_only_persistence_on_a_volume() -> None:
    redis = SERVICES["redis"]
    assert re.fullmatch(r"redis:8(\.\d+)*", redis["image"])
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--requirepass" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", SERVICES["kafka"]["image"])
    assert "controller" in SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]


# -- commands ---------------------------------------------------------------------------


def _click_command(path: list[str]) -> Any:
    # Typer vendors its own click: walk groups by their `commands` mapping.
    command: Any = typer.main.get_command(app)
    for name in path:
        assert hasattr(command, "commands"), f"{name}: parent is not a group"
        sub = command.commands.get(name)
        assert sub is not None, f"`finsent {' '.join(path)}` is not a command"
        command = sub
    return command


@pytest.mark.parametrize("name", sorted(FINSENT_SERVICES))
def test_service_command_is_a_real_finsent_command(name: str) -> None:
    argv = FINSENT_SERVICES[name]["command"]
    # The leading words are the command path; the rest are options and their values.
    words: list[str] = []
    for arg in argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, f"`finsent {' '.join(words)}`: {result.output}"
    command = _click_command(words)
    options = {opt for p in command.params for opt in p.opts}
    for arg in argv[len(words) :]:
        if arg.startswith("--"):
            assert arg.split("=")[0] in options, f"{name}: unknown option {arg}"
    assert words, f"{name} runs no command"


def test_dockerfile_entrypoint_is_the_finsent_script() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert 'ENTRYPOINT ["finsent"]' in (REPO / "Dockerfile").read_text()
    assert scripts["finsent"] == "cli.main:main"


# -- settings ---------------------------------------------------------------------------


def _settings_classes() -> list[type[BaseSettings]]:
    found: list[type[BaseSettings]] = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("settings.py")):
            module_name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            module = importlib.import_module(module_name)
            found.extend(
                obj
                for obj in vars(module).values()
                if isinstance(obj, type)
                and issubclass(obj, BaseSettings)
                and obj.__module__ == module_name
            )
    return found


def _env_names(model: type[BaseModel], prefix: str, delimiter: str | None) -> set[str]:
    names = set()
    for field_name, field in model.model_fields.items():
        name = (prefix + (field.alias or field_name)).upper()
        names.add(name)
        nested = [
            t
            for t in (field.annotation, *get_args(field.annotation))
            if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        if nested and delimiter:
            names |= _env_names(nested[0], name + delimiter, delimiter)
    return names


def _readable_variables() -> set[str]:
    names: set[str] = set()
    for cls in _settings_classes():
        config = cls.model_config
        names |= _env_names(cls, config.get("env_prefix", ""), config.get("env_nested_delimiter"))
    return names


def test_settings_classes_of_every_service_are_found() -> None:
    classes = {c.__name__ for c in _settings_classes()}
    assert {"FinsentSettings", "WebSettings", "GrafanaSettings"} <= classes


@pytest.mark.parametrize("name", sorted(FINSENT_SERVICES))
def test_every_finsent_variable_a_service_sets_is_read_by_settings(name: str) -> None:
    readable = _readable_variables()
    # Variables for the runtime itself (e.g. OMP_WAIT_POLICY for torch) are not ours to read.
    unread = [
        k
        for k in _environment(FINSENT_SERVICES[name])
        if k.startswith("FINSENT_") and k.upper() not in readable
    ]
    assert not unread, f"{name} sets variables no settings class reads: {unread}"


def test_every_finsent_variable_in_env_example_is_read_by_settings() -> None:
    readable = _readable_variables()
    unread = [k for k in _env_example() if k.startswith("FINSENT_") and k.upper() not in readable]
    assert not unread, unread


def test_every_variable_in_env_example_reaches_compose() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for key in _env_example():
        if key != "COMPOSE_PROJECT_NAME":  # read by compose itself
            assert "${" + key in text, f"{key} is in .env.example but never substituted"


def test_secrets_come_from_the_env_file_never_the_compose_file() -> None:
    for name, service in SERVICES.items():
        assert "env_file" not in service, f"{name}: would receive every secret in .env"
        for key, value in _environment(service).items():
            if any(word in key for word in SECRET_WORDS):
                assert value.startswith("${") and value.endswith("}"), f"{name}: {key} is inline"
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert ".env" in (REPO / ".dockerignore").read_text().splitlines()


# -- metrics ----------------------------------------------------------------------------


def _metrics_ports() -> dict[str, int]:
    """Where each finsent service serves /metrics, from its own configuration."""
    env = {name: _environment(s) for name, s in FINSENT_SERVICES.items()}
    rss = FINSENT_SERVICES["ingest-rss"]["command"]
    return {
        "ingest-push": int(env["ingest-push"]["FINSENT_INGEST_PUSH_PORT"]),
        "ingest-rss": int(rss[rss.index("--metrics-port") + 1]),
        "inference": int(env["inference"]["FINSENT_INFERENCE_METRICS_PORT"]),
        "alerts": int(env["alerts"]["FINSENT_ALERTS_METRICS_PORT"]),
        "web": int(env["web"]["FINSENT_WEB_PORT"]),
    }


def _scrape_targets() -> set[tuple[str, int]]:
    config = _yaml(REPO / "deploy" / "prometheus.yml")
    targets = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                targets.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            targets |= {(host, int(dns["port"])) for host in dns["names"]}
    return targets


def test_prometheus_scrapes_every_finsent_service_with_metrics() -> None:
    expected = set(_metrics_ports().items())
    assert expected <= _scrape_targets()
    assert set(_metrics_ports()) == set(FINSENT_SERVICES)
    volumes = SERVICES["prometheus"]["volumes"]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes


def test_web_view_reads_the_same_metrics_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards.settings import WebSettings

    for key, value in _environment(FINSENT_SERVICES["web"]).items():
        monkeypatch.setenv(key, value)
    settings = WebSettings()
    assert settings.host == "0.0.0.0"
    urls = {
        (u.split("//")[1].split(":")[0], int(u.split(":")[2].split("/")[0]))
        for u in settings.metrics_urls
    }
    others = {(name, port) for name, port in _metrics_ports().items() if name != "web"}
    assert urls == others


def test_grafana_gets_the_plugin_and_the_provisioned_dashboards() -> None:
    grafana = SERVICES["grafana"]
    assert "redis-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    for volume in grafana["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (REPO / source).exists(), source
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO / "dashboards" / "grafana" / Path(home).name).is_file()


def test_bind_mounts_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source}"


# -- Dockerfile -------------------------------------------------------------------------


def _dockerfile_lines() -> list[str]:
    return (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ").splitlines()


def test_dockerfile_installs_exactly_the_pyproject_dependencies() -> None:
    """Run the Dockerfile's own requirements step and compare with pyproject.toml."""
    step = next(line for line in _dockerfile_lines() if "tomllib" in line)
    argv = shlex.split(step.removeprefix("RUN").split("&&")[0].split(">")[0])
    assert argv[:2] == ["python", "-c"]
    out = subprocess.run(
        [sys.executable, "-c", argv[2]], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert out == [d.replace(" ", "") for d in project["dependencies"]]
    pip_lines = [line for line in _dockerfile_lines() if "pip install" in line]
    for line in pip_lines:
        args = line.split("pip install", 1)[1].split("&&")[0].split()
        named = [a for a in args if not a.startswith(("-", '"', "$", "/", "."))]
        assert not named, f"package installed outside pyproject.toml: {named}"


def test_dockerfile_python_satisfies_requires_python() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    minimum = tuple(int(x) for x in project["requires-python"].removeprefix(">=").split("."))
    arg = next(line for line in _dockerfile_lines() if line.startswith("ARG PYTHON_VERSION="))
    version = tuple(int(x) for x in arg.split("=")[1].split("."))
    assert version >= minimum


def test_dockerfile_copies_every_package_and_the_context_allows_it() -> None:
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {p.rstrip("*") for p in find["packages"]["find"]["include"]}
    copies = [line.split()[1:-1] for line in _dockerfile_lines() if line.startswith("COPY ")]
    copied = {src.rstrip("/") for sources in copies for src in sources}
    assert packages <= copied, packages - copied
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert copied <= allowed, copied - allowed
    for src in copied:
        assert (REPO / src).exists(), f"COPY {src}: missing from the repository"
