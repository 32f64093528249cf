"""The deployment files, checked without a Docker engine.

- `docker-compose.yml` validates against the Compose Specification schema, vendored in
  deploy/schema/ (see its NOTICE.md: docker-compose 1.29.2, Apache-2.0);
- each image is used the way its documentation says: Redis starts
  with `redis-server` first, Kafka has a consistent KRaft configuration, Grafana's plugin is
  pinned and its provisioning lands where Grafana reads it, GPUs are reserved by id, and
  Prometheus loads rule files that exist, parse, and name metrics somebody exports. Each
  check is also run on copies of the file with one known mistake put back, and must fail;
- every finsent service runs a real `finsent` command with real options;
- every FINSENT_* variable set is one a settings class reads;
- Prometheus scrapes every service's metrics port; the web view reads the same endpoints;
- the Dockerfile installs exactly pyproject.toml's dependencies and copies every package.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
import typer
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from cli.main import app

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SCHEMA = REPO / "deploy" / "schema" / "compose_spec.json"
START_SCRIPT = REPO / "deploy" / "redis" / "start.sh"
PACKAGES = ("finsent", "ingest", "inference", "alerts", "dashboards", "training", "devstack")
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


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    validator = _validator()
    errors = sorted(validator.iter_errors(COMPOSE_DATA), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_file() -> None:
    """Guards the guard: the vendored schema really constrains services."""
    broken = {"services": {"web": {"image": "x", "restart_policy": "always", "ports": 5}}}
    assert len(list(_validator().iter_errors(broken))) >= 2


def test_every_service_has_a_health_check_and_a_restart_policy() -> None:
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no health check"
        assert service.get("restart") in ("unless-stopped", "always"), f"{name}: no restart"


def test_the_base_stack_runs_without_a_gpu() -> None:
    for name, service in SERVICES.items():
        if "deploy" in service:
            assert service.get("profiles") == ["gpu"], f"{name} reserves a GPU by default"
    assert "deploy" not in SERVICES["inference"]


def test_redis_is_8_with_append_only_persistence_on_a_volume() -> None:
    redis = SERVICES["redis"]
    assert re.fullmatch(r"redis:8(\.\d+)*", redis["image"])
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--requirepass" not in command
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", SERVICES["kafka"]["image"])


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
    gpu_scorers = {name for name in FINSENT_SERVICES if name.startswith("inference-gpu")}
    assert set(_metrics_ports()) == set(FINSENT_SERVICES) - gpu_scorers
    for name in gpu_scorers:
        # Found by the `inference` DNS name Prometheus resolves, on the same port.
        service = FINSENT_SERVICES[name]
        assert "inference" in service["networks"]["default"]["aliases"], name
        port = _environment(service)["FINSENT_INFERENCE_METRICS_PORT"]
        assert int(port) == _metrics_ports()["inference"]
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


def test_pages_link_to_the_web_view_where_compose_publishes_it() -> None:
    """Unset, pages carried no link to the web view (and `alerts run` warned at start)."""
    value = _environment(FINSENT_SERVICES["alerts"])["FINSENT_ALERTS_WEB_URL"]
    assert value.startswith("${FINSENT_ALERTS_WEB_URL:-"), value  # the operator overrides it
    default = value.removeprefix("${FINSENT_ALERTS_WEB_URL:-").removesuffix("}")
    host, _, port = default.removeprefix("http://").partition(":")
    published = {p.split(":")[-1] for p in SERVICES["web"]["ports"]}
    web_port = _environment(FINSENT_SERVICES["web"])["FINSENT_WEB_PORT"]
    assert host == "localhost" and port in published and port == web_port, default


def test_bind_mounts_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source}"


# -- Dockerfile -------------------------------------------------------------------------


def _dockerfile_lines() -> list[str]:
    return (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ").splitlines()


LOCK = REPO / "requirements.lock"
CUDA_ONLY = re.compile(r"(torch|triton|nvidia-.+|cuda-.+)")


def _lock() -> dict[str, tuple[str, list[str], list[str]]]:
    """requirements.lock as name -> (version, hashes, what it is there for)."""
    out: dict[str, tuple[str, list[str], list[str]]] = {}
    name = ""
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+) \\", line):
            name = canonicalize_name(match[1])
            out[name] = (match[2], [], [])
        elif match := re.fullmatch(r"\s+--hash=sha256:([0-9a-f]{64})( \\)?", line):
            out[name][1].append(match[1])
        elif match := re.fullmatch(r"\s+#( via|  )\s+(.+)", line):
            out[name][2].append(match[2])
    return out


def test_the_lock_pins_every_runtime_dependency_with_hashes_and_nothing_stale() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(d) for d in project["dependencies"]]
    lock = _lock()
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name == "torch":
            continue  # from TORCH_INDEX_URL, by itself (below)
        assert name in lock, f"{name} is in pyproject.toml but not in requirements.lock"
        version, hashes, _ = lock[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
        assert hashes, f"{name} has no hash"
    direct = {name for name, (_, _, via) in lock.items() if "finsent (pyproject.toml)" in via}
    assert direct == {canonicalize_name(r.name) for r in wanted} - {"torch"}, "run `make lock`"
    assert all(hashes for _, hashes, _ in lock.values())
    assert not [n for n in lock if CUDA_ONLY.fullmatch(n)], "CUDA wheels in the CPU image"


def test_dockerfile_installs_the_lock_with_hashes_and_torch_at_its_pin() -> None:
    """Run the Dockerfile's own torch step and compare with pyproject.toml."""
    step = next(
        line for line in _dockerfile_lines() if "requirements.lock" in line and "RUN" in line
    )
    commands = [c.strip() for c in step.removeprefix("RUN").split("&&")]
    assert commands[0] == "pip install --require-hashes --no-deps -r requirements.lock"
    # torch by itself from the index the build argument names, at pyproject.toml's pin,
    # which the step reads with its own one-liner (run here as the build would).
    inner = re.fullmatch(
        r'pip install --no-deps --index-url "\$\{TORCH_INDEX_URL\}" "\$\(python -c "(.+)"\)"',
        commands[1],
    )
    assert inner is not None, commands[1]
    printed = subprocess.run(
        [sys.executable, "-c", inner[1]], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert printed in project["dependencies"] and printed.startswith("torch==")
    assert commands[2] == "pip check"
    for line in _dockerfile_lines():
        if "pip install" in line and "requirements.lock" not in line:
            args = line.split("pip install", 1)[1].split("&&")[0].split()
            named = [a for a in args if not a.startswith(("-", '"', "$", "/", "."))]
            assert not named, f"package installed outside the lock: {named}"


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


# -- each image's documented contract ---------------------------------------------------
#
# Every check takes the compose data (and the files it mounts) and returns the problems it
# finds. The real files must give none; `MISTAKES` below puts known mistakes back into a
# copy of the data and each must give at least one.

Compose = dict[str, Any]

REDIS_MODULE_CHECK = "MODULE LIST"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
REDIS_PLUGIN_MIN = (2, 2, 0)  # first release with TS.MRANGE GROUPBY/REDUCE
STORE_BACKEND_VARIABLES = {  # command word -> the variable that selects its store backend
    "infer": "FINSENT_INFERENCE_STORE_BACKEND",
    "alerts": "FINSENT_ALERTS_STORE_BACKEND",
    "web": "FINSENT_WEB_STORE_BACKEND",
}
KAFKA_EXPORTER_METRICS = frozenset(  # danielqsj/kafka-exporter's documented metrics
    {
        "kafka_brokers",
        "kafka_topic_partitions",
        "kafka_topic_partition_current_offset",
        "kafka_consumergroup_current_offset",
        "kafka_consumergroup_lag",
        "kafka_consumergroup_lag_sum",
        "kafka_consumergroup_members",
    }
)
PROMETHEUS_METRICS = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


def _services(data: Compose) -> dict[str, dict[str, Any]]:
    return data["services"]  # type: ignore[no-any-return]


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host source of every short-syntax bind mount."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        out[target] = source
    return out


REDIS_START = "/usr/local/etc/finsent/redis-start.sh"
"""Where compose mounts deploy/redis/start.sh in the Redis container."""


def check_redis(data: Compose) -> list[str]:
    """The official image loads its modules and drops root only for `redis-server …`.

    The one allowed wrapper is deploy/redis/start.sh, mounted read-only: it writes the
    password into a config file and re-enters the image's docker-entrypoint.sh with that
    `.conf` first, which the entrypoint turns back into `redis-server <conf> …`.
    """
    problems = []
    redis = _services(data)["redis"]
    command = redis.get("command")
    volumes = redis.get("volumes", [])
    if not isinstance(command, list) or not command:
        problems.append(f"redis: command must be a list, not {command!r}")
    elif command[:2] == ["sh", REDIS_START]:
        if f"./deploy/redis/start.sh:{REDIS_START}:ro" not in volumes:
            problems.append(f"redis: {REDIS_START} is not deploy/redis/start.sh (read-only)")
        last = START_SCRIPT.read_text(encoding="utf-8").strip().splitlines()[-1]
        if not last.startswith("exec docker-entrypoint.sh "):
            problems.append("redis: start.sh does not hand over to the image's entrypoint")
    elif command[0] != "redis-server":
        problems.append(f"redis: first argument must be redis-server, not {command!r}")
    if isinstance(command, list) and any(w in ("bash", "-c") for w in command):
        problems.append("redis: command wraps the server in a shell")
    if isinstance(command, list) and any("PASSWORD" in str(w) for w in command):
        problems.append("redis: a password on the command line (readable in /proc)")
    if redis.get("entrypoint") is not None:
        problems.append("redis: entrypoint overridden (the image's loads the modules)")
    if redis.get("user") not in (None, "redis"):
        problems.append("redis: user set (the entrypoint drops root itself)")
    health = " ".join(redis.get("healthcheck", {}).get("test", []))
    if REDIS_MODULE_CHECK not in health or "timeseries" not in health.lower():
        problems.append("redis: health check does not require the timeseries module")
    return problems


def check_store_backend(data: Compose) -> list[str]:
    """Every service that opens the store asks for `timeseries` explicitly (no fallback)."""
    problems = []
    for name, service in _services(data).items():
        if "build" not in service:
            continue
        word = service["command"][0]
        variable = STORE_BACKEND_VARIABLES.get(word)
        if variable and _environment(service).get(variable) != "timeseries":
            problems.append(f"{name}: {variable} must be timeseries")
    return problems


def _listener_names(listeners: str) -> dict[str, int]:
    out = {}
    for item in listeners.split(","):
        name, _, address = item.partition("://")
        out[name] = int(address.rpartition(":")[2])
    return out


def check_kafka(data: Compose) -> list[str]:
    """apache/kafka in KRaft mode: the variables its docker docs require, consistent."""
    kafka = _services(data)["kafka"]
    env = _environment(kafka)
    required = (
        "KAFKA_NODE_ID",
        "KAFKA_PROCESS_ROLES",
        "KAFKA_LISTENERS",
        "KAFKA_ADVERTISED_LISTENERS",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
        "KAFKA_CONTROLLER_LISTENER_NAMES",
        "KAFKA_CONTROLLER_QUORUM_VOTERS",
        "CLUSTER_ID",
    )
    missing = [k for k in required if not env.get(k)]
    if missing:
        return [f"kafka: missing {missing}"]
    problems = []
    if "zookeeper" in " ".join(env).lower():
        problems.append("kafka: ZooKeeper settings in a KRaft broker")
    roles = set(env["KAFKA_PROCESS_ROLES"].split(","))
    if not roles <= {"broker", "controller"} or "controller" not in roles:
        problems.append(f"kafka: a single node needs broker,controller roles, has {roles}")
    listeners = _listener_names(env["KAFKA_LISTENERS"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    if controller not in listeners:
        problems.append(f"kafka: controller listener {controller} is not in KAFKA_LISTENERS")
    unmapped = set(listeners) - set(protocols)
    if unmapped:
        problems.append(f"kafka: listeners without a security protocol: {unmapped}")
    advertised = _listener_names(env["KAFKA_ADVERTISED_LISTENERS"])
    if controller in advertised:
        problems.append("kafka: the controller listener must not be advertised")
    if set(advertised) - set(listeners):
        problems.append("kafka: advertised listeners that do not listen")
    inter = env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")
    if inter not in advertised:
        problems.append(f"kafka: inter-broker listener {inter} is not advertised")
    for voter in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","):
        node, _, address = voter.partition("@")
        host, _, port = address.rpartition(":")
        if node == env["KAFKA_NODE_ID"] and (
            host not in (kafka.get("hostname"), "kafka", "localhost")
            or int(port) != listeners.get(controller)
        ):
            problems.append(f"kafka: voter {voter} is not this node's controller listener")
    if env.get("KAFKA_LOG_DIRS") not in _mounts(kafka) and not any(
        env.get("KAFKA_LOG_DIRS", "").startswith(t) for t in _mounts(kafka)
    ):
        problems.append("kafka: KAFKA_LOG_DIRS is not on a volume")
    return problems


def _provider_paths() -> list[str]:
    config = _yaml(REPO / "dashboards" / "provisioning" / "dashboards" / "finsent.yaml")
    return [p["options"]["path"] for p in config["providers"]]


def check_grafana(data: Compose) -> list[str]:
    """Pinned plugin via GF_PLUGINS_PREINSTALL_SYNC; provisioning where Grafana reads it."""
    problems = []
    grafana = _services(data)["grafana"]
    env = _environment(grafana)
    if "GF_INSTALL_PLUGINS" in env:
        problems.append("grafana: GF_INSTALL_PLUGINS is deprecated")
    plugins = dict(
        item.partition("@")[::2] for item in env.get("GF_PLUGINS_PREINSTALL_SYNC", "").split(",")
    )
    version = plugins.get("redis-datasource", "")
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        problems.append(f"grafana: redis-datasource is not pinned ({version!r})")
    elif tuple(int(x) for x in version.split(".")) < REDIS_PLUGIN_MIN:
        problems.append(f"grafana: redis-datasource {version} has no TS.MRANGE GROUPBY")
    mounts = _mounts(grafana)
    for kind in ("datasources", "dashboards"):
        target = f"{GRAFANA_PROVISIONING}/{kind}"
        if mounts.get(target) != f"./dashboards/provisioning/{kind}":
            problems.append(f"grafana: {target} is not provisioned from the repository")
    generated = [t for t, source in mounts.items() if source == "./dashboards/grafana"]
    for path in _provider_paths():
        if path not in generated:
            problems.append(f"grafana: the dashboard provider reads {path}, nothing mounted")
    home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "")
    if not any(home.startswith(t + "/") for t in generated):
        problems.append("grafana: the home dashboard is not in the mounted folder")
    elif not (REPO / "dashboards" / "grafana" / Path(home).name).is_file():
        problems.append(f"grafana: {home} is not a generated dashboard")
    return problems


def check_gpus(data: Compose) -> list[str]:
    """One GPU per service by `device_ids`: `count` with `--scale` shares one device."""
    problems = []
    seen: dict[str, str] = {}
    for name, service in _services(data).items():
        devices = (
            service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
        )
        if not devices:
            continue
        for device in devices:
            if "count" in device or not device.get("device_ids"):
                problems.append(f"{name}: reserve GPUs by device_ids, not count")
            for gpu in device.get("device_ids", []):
                if gpu in seen:
                    problems.append(f"{name}: GPU {gpu} is already reserved by {seen[gpu]}")
                seen[gpu] = name
        replicas = service.get("deploy", {}).get("replicas", 1)
        if service.get("scale", 1) != 1 or replicas != 1:
            problems.append(f"{name}: replicas of a GPU service share its devices")
        if not _environment(service).get("FINSENT_INFERENCE_DEVICE", "").startswith("cuda"):
            problems.append(f"{name}: reserves a GPU but runs on the CPU")
    return problems


def _prometheus_config() -> dict[str, Any]:
    return _yaml(REPO / "deploy" / "prometheus.yml")


def _rule_files(data: Compose, config: dict[str, Any]) -> tuple[list[Path], list[str]]:
    """Host paths of the rule files Prometheus loads, through its bind mounts."""
    problems: list[str] = []
    mounts = _mounts(_services(data)["prometheus"])
    files: list[Path] = []
    patterns = config.get("rule_files") or []
    if not patterns:
        problems.append("prometheus: no rule_files")
    for pattern in patterns:
        folder, _, glob = pattern.rpartition("/")
        source = mounts.get(folder)
        if source is None:
            problems.append(f"prometheus: {folder} (rule_files) is not mounted")
            continue
        found = sorted((REPO / source).glob(glob))
        if not found:
            problems.append(f"prometheus: {pattern} matches no file in {source}")
        files.extend(found)
    return files, problems


_PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
    | {"unless", "offset", "inf", "nan"}
)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (strings, matchers, ranges and groupings cut)."""
    for pattern in (r'"(?:[^"\\]|\\.)*"', r"\{[^}]*\}", r"\[[^\]]*\]"):
        expr = re.sub(pattern, " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"(?<![A-Za-z0-9_:])[0-9][0-9.]*(?:[eE][-+]?[0-9]+)?", " ", expr)  # numbers
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group()
        follows = expr[match.end() :].lstrip()[:1]
        if follows != "(" and word.lower() not in _PROMQL_KEYWORDS:
            names.add(word)
    return names


def promql_problems(expr: str) -> list[str]:
    """What promtool would reject that we can see without it: unbalanced brackets."""
    depth = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', "", expr):
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            if depth[closing[char]] < 0:
                return [f"unbalanced {char!r}"]
    return [f"unclosed {k!r}" for k, v in depth.items() if v]


def exported_metric_names() -> set[str]:
    """Every series name a finsent service exports, as Prometheus stores it."""
    from alerts.metrics import AlertMetrics
    from dashboards.web.metrics import WebMetrics
    from finsent.observability import instrument_process
    from inference.metrics import InferenceMetrics
    from ingest.metrics import IngestMetrics

    names: set[str] = set()
    for build in (IngestMetrics, InferenceMetrics, AlertMetrics, WebMetrics):
        registry = CollectorRegistry()
        build(registry)
        instrument_process(registry, model_version="m")
        for family in registry.collect():  # labelled families may have no sample yet
            suffixes = {
                "counter": ("_total",),
                "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("_sum", "_count", ""),
            }.get(family.type, ("",))
            names |= {family.name + suffix for suffix in suffixes}
    return names


def check_prometheus(data: Compose) -> list[str]:
    """Rule files mounted, referenced, well-formed, naming exported metrics; Alertmanager."""
    config = _prometheus_config()
    files, problems = _rule_files(data, config)
    known = exported_metric_names() | KAFKA_EXPORTER_METRICS | PROMETHEUS_METRICS
    alerts = set()
    for path in files:
        for group in _yaml(path).get("groups", []):
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                alerts.add(name)
                expr = str(rule.get("expr", ""))
                for problem in promql_problems(expr):
                    problems.append(f"{path.name}: {name}: {problem}")
                unknown = promql_metric_names(expr) - known
                if unknown:
                    problems.append(f"{path.name}: {name}: nobody exports {sorted(unknown)}")
                if "alert" in rule and not rule.get("labels", {}).get("severity"):
                    problems.append(f"{path.name}: {name}: no severity label")
                if "alert" in rule and not rule.get("annotations", {}).get("summary"):
                    problems.append(f"{path.name}: {name}: no summary")
    services = _services(data)
    targets = {
        t
        for am in config.get("alerting", {}).get("alertmanagers", [])
        for s in am.get("static_configs", [])
        for t in s["targets"]
    }
    if "alertmanager" not in services or "alertmanager:9093" not in targets:
        problems.append("prometheus: alerts go to no Alertmanager service")
    if "kafka-exporter" not in services or ("kafka-exporter", 9308) not in _scrape_targets():
        problems.append("prometheus: no Kafka exporter scraped")
    return problems


CHECKS = {
    "redis": check_redis,
    "store_backend": check_store_backend,
    "kafka": check_kafka,
    "grafana": check_grafana,
    "gpus": check_gpus,
    "prometheus": check_prometheus,
}


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_compose_file_keeps_each_image_contract(check: str) -> None:
    assert CHECKS[check](COMPOSE_DATA) == []


def test_rule_files_cover_the_operations_the_issue_asks_for() -> None:
    files, problems = _rule_files(COMPOSE_DATA, _prometheus_config())
    assert not problems
    exprs = [str(r["expr"]) for f in files for g in _yaml(f)["groups"] for r in g["rules"]]
    for needed in (
        "finsent_inference_consumer_lag_seconds",
        "finsent_ingest_feed_up",
        "finsent_alerts_notification_failures_total",
        "finsent_inference_dlq_total",
        "absent(up",
    ):
        assert any(needed in e for e in exprs), needed


def test_promql_metric_names_ignores_functions_labels_and_groupings() -> None:
    expr = 'sum by (partition) (rate(a_total{job="x",le="+Inf"}[5m])) / on(job) absent(up)'
    assert promql_metric_names(expr) == {"a_total", "up"}
    assert promql_metric_names("x / clamp_min(y, 1e-9) > 0.05 * 3600") == {"x", "y"}
    assert promql_problems("sum(rate(x[5m])") == ["unclosed '('"]


def _mutate(edit: Callable[[Compose], None]) -> Compose:
    data = copy.deepcopy(COMPOSE_DATA)
    edit(data)
    return data


def _parent(data: Compose, path: str) -> tuple[Any, str]:
    """The mapping that holds `path`'s last key (`services/redis/command`), and that key."""
    *parents, leaf = path.split("/")
    node: Any = data
    for key in parents:
        node = node[key]
    return node, leaf


def _set(path: str, value: Any) -> Callable[[Compose], None]:
    def edit(data: Compose) -> None:
        node, leaf = _parent(data, path)
        node[leaf] = value

    return edit


def _drop(path: str) -> Callable[[Compose], None]:
    def edit(data: Compose) -> None:
        node, leaf = _parent(data, path)
        del node[leaf]

    return edit


def _replace_volume(service: str, old: str, new: str | None) -> Callable[[Compose], None]:
    def edit(data: Compose) -> None:
        volumes = data["services"][service]["volumes"]
        index = next(i for i, v in enumerate(volumes) if v.startswith(old))
        if new is None:
            del volumes[index]
        else:
            volumes[index] = new

    return edit


def _gpu_count(data: Compose) -> None:
    devices = data["services"]["inference-gpu0"]["deploy"]["resources"]["reservations"]
    devices["devices"] = [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def _same_gpu_twice(data: Compose) -> None:
    devices = data["services"]["inference-gpu1"]["deploy"]["resources"]["reservations"]
    devices["devices"][0]["device_ids"] = ["0"]


SHELL_WRAPPED_REDIS = ["sh", "-c", "exec redis-server --appendonly yes --requirepass x"]
S = "services"
MISTAKES: dict[str, tuple[str, Callable[[Compose], None]]] = {
    "redis under sh -c": ("redis", _set(f"{S}/redis/command", SHELL_WRAPPED_REDIS)),
    "redis options only": ("redis", _set(f"{S}/redis/command", ["--appendonly", "yes"])),
    "redis entrypoint": ("redis", _set(f"{S}/redis/entrypoint", ["redis-server"])),
    "redis password on its command line": (
        "redis",
        _set(
            f"{S}/redis/command",
            ["redis-server", "--appendonly", "yes", "--requirepass", "${FINSENT_REDIS__PASSWORD}"],
        ),
    ),
    "redis start script not mounted": (
        "redis",
        _replace_volume("redis", "./deploy/redis/start.sh", None),
    ),
    "redis health without module": (
        "redis",
        _set(f"{S}/redis/healthcheck/test", ["CMD", "redis-cli", "ping"]),
    ),
    "inference store auto": (
        "store_backend",
        _set(f"{S}/inference/environment/FINSENT_INFERENCE_STORE_BACKEND", "auto"),
    ),
    "alerts store unset": (
        "store_backend",
        _drop(f"{S}/alerts/environment/FINSENT_ALERTS_STORE_BACKEND"),
    ),
    "web store core": (
        "store_backend",
        _set(f"{S}/web/environment/FINSENT_WEB_STORE_BACKEND", "core"),
    ),
    "kafka without controller role": (
        "kafka",
        _set(f"{S}/kafka/environment/KAFKA_PROCESS_ROLES", "broker"),
    ),
    "kafka voter on the broker port": (
        "kafka",
        _set(f"{S}/kafka/environment/KAFKA_CONTROLLER_QUORUM_VOTERS", "1@kafka:9092"),
    ),
    "kafka without cluster id": ("kafka", _drop(f"{S}/kafka/environment/CLUSTER_ID")),
    "kafka controller advertised": (
        "kafka",
        _set(
            f"{S}/kafka/environment/KAFKA_ADVERTISED_LISTENERS",
            "PLAINTEXT://kafka:9092,CONTROLLER://kafka:9093",
        ),
    ),
    "kafka listener without protocol": (
        "kafka",
        _set(f"{S}/kafka/environment/KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT"),
    ),
    "grafana deprecated plugin install": (
        "grafana",
        _set(f"{S}/grafana/environment/GF_INSTALL_PLUGINS", "redis-datasource"),
    ),
    "grafana plugin unpinned": (
        "grafana",
        _set(f"{S}/grafana/environment/GF_PLUGINS_PREINSTALL_SYNC", "redis-datasource"),
    ),
    "grafana plugin without groupby": (
        "grafana",
        _set(f"{S}/grafana/environment/GF_PLUGINS_PREINSTALL_SYNC", "redis-datasource@2.1.2"),
    ),
    "grafana provisioning elsewhere": (
        "grafana",
        _replace_volume(
            "grafana",
            "./dashboards/provisioning/dashboards",
            "./dashboards/provisioning/dashboards:/etc/grafana/dashboards:ro",
        ),
    ),
    "grafana dashboards not mounted": (
        "grafana",
        _replace_volume("grafana", "./dashboards/grafana", None),
    ),
    "gpu by count": ("gpus", _gpu_count),
    "one gpu for two services": ("gpus", _same_gpu_twice),
    "gpu service scaled": ("gpus", _set(f"{S}/inference-gpu0/scale", 2)),
    "gpu service on cpu": (
        "gpus",
        _set(f"{S}/inference-gpu1/environment/FINSENT_INFERENCE_DEVICE", "cpu"),
    ),
    "rules not mounted": ("prometheus", _replace_volume("prometheus", "./deploy/rules", None)),
    "rules mounted elsewhere": (
        "prometheus",
        _replace_volume("prometheus", "./deploy/rules", "./deploy/rules:/rules:ro"),
    ),
    "no alertmanager": ("prometheus", _drop(f"{S}/alertmanager")),
    "no kafka exporter": ("prometheus", _drop(f"{S}/kafka-exporter")),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_contract_check_catches_its_mistake(mistake: str) -> None:
    check, edit = MISTAKES[mistake]
    assert CHECKS[check](COMPOSE_DATA) == []
    problems = CHECKS[check](_mutate(edit))
    assert problems, f"{check} did not notice: {mistake}"


def test_the_prometheus_check_catches_a_rule_on_a_metric_nobody_exports(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yml").write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "g",
                        "rules": [
                            {
                                "alert": "Typo",
                                "expr": "max(finsent_inference_consumer_lag_second) > 1",
                                "labels": {"severity": "page"},
                                "annotations": {"summary": "s"},
                            },
                            {
                                "alert": "Broken",
                                "expr": "sum(rate(up[5m])",
                                "labels": {"severity": "page"},
                                "annotations": {"summary": "s"},
                            },
                        ],
                    }
                ]
            }
        )
    )
    edit = _replace_volume("prometheus", "./deploy/rules", f"{rules}:/etc/prometheus/rules:ro")
    problems = check_prometheus(_mutate(edit))
    assert any("finsent_inference_consumer_lag_second" in p for p in problems), problems
    assert any("unclosed" in p for p in problems), problems


def test_the_schema_rejects_gpu_reservations_with_unknown_keys() -> None:
    data = _mutate(_set(f"{S}/inference-gpu0/deploy/resources/reservations/gpus", 1))
    assert list(_validator().iter_errors(data))


def test_alertmanager_routes_only_to_receivers_it_defines() -> None:
    config = _yaml(REPO / "deploy" / "alertmanager.yml")
    receivers = {r["name"] for r in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert {r["receiver"] for r in routes} <= receivers
    mounts = _mounts(SERVICES["alertmanager"])
    assert mounts["/etc/alertmanager/alertmanager.yml"] == "./deploy/alertmanager.yml"
