"""Guards on the import roots and on who may import whom.

- Every import root resolves inside this repository: `inference` and `alerts` are also
  PyPI distribution names, and a dependency that installs one of them would silently
  shadow ours.
- `finsent/` is the shared contract: it imports no service package and no tooling package.
- Serving code (`finsent` and the services) never imports a tooling package (`training`,
  `devstack`), directly or through another module, so a service never loads sklearn, the
  teacher converters or the training loop, nor the stack supervisor.
- `training` builds on `finsent` and the serving model (`inference.model`) only;
  `devstack` on `finsent` only.

The import checks read the source (every `import`, lazy ones inside functions included)
rather than importing it, so they see imports that only run on some code paths.
"""

import ast
import importlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "inference", "alerts", "dashboards")
"""Each runs as its own process; they talk through Kafka, Redis and HTTP only."""
SERVING = ("finsent", *SERVICES)
"""Code a running service may load: the shared contracts and the services."""
TOOLING = ("training", "devstack")
"""Developer tooling (training the model; the local stack and the soak): never loaded by a
service."""
ROOTS = (*SERVING, "cli", *TOOLING)
"""`cli` mounts every service's and every tool's commands."""


@pytest.mark.parametrize("name", ROOTS)
def test_import_root_is_ours(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(REPO), module.__file__


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of our packages, by dotted name."""
    return {
        _module_name(path): path
        for root in ROOTS
        for path in sorted((REPO / root).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _imported(path: Path) -> Iterator[str]:
    """Every module an import statement of `path` names, anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from training import cli` imports the submodule `training.cli`.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


@cache
def _edges(name: str) -> frozenset[str]:
    """Our modules that importing `name` loads: each one named, and its parent packages."""
    out: set[str] = set()
    for target in _imported(_modules()[name]):
        parts = target.split(".")
        out.update(
            prefix
            for prefix in (".".join(parts[:i]) for i in range(1, len(parts) + 1))
            if prefix in _modules() and prefix != name
        )
    return frozenset(out)


def _path_to(start: str, goal: frozenset[str]) -> list[str] | None:
    """An import chain from `start` to a module in `goal` (breadth first), or None."""
    seen = {start}
    queue = [[start]]
    while queue:
        chain = queue.pop(0)
        for nxt in sorted(_edges(chain[-1])):
            if nxt in goal:
                return [*chain, nxt]
            if nxt not in seen:
                seen.add(nxt)
                queue.append([*chain, nxt])
    return None


def _package(name: str) -> str:
    return name.split(".")[0]


def test_the_graph_sees_every_kind_of_import() -> None:
    assert {"inference.model.classifier", "training.train", "cli.main"} <= _modules().keys()
    # Lazy imports count: the training CLI imports `train` inside a command.
    assert "training.train" in _edges("training.cli")
    assert "training.cli" in _edges("cli.main")  # `from training import cli`


def test_finsent_imports_no_service_and_no_tooling_package() -> None:
    found = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        if _package(name) == "finsent"
        for target in _imported(path)
        if _package(target) in (*SERVICES, "cli", *TOOLING)
    ]
    assert found == []


def test_serving_code_never_reaches_a_tooling_package() -> None:
    serving = sorted(name for name in _modules() if _package(name) in SERVING)
    assert "inference.service" in serving and "alerts.engine" in serving
    tooling = frozenset(name for name in _modules() if _package(name) in TOOLING)
    assert {"training.train", "training.metrics", "devstack.stack", "devstack.soak.run"} <= tooling
    chains = [
        " -> ".join(chain) for name in serving if (chain := _path_to(name, tooling)) is not None
    ]
    assert chains == []


TOOLING_BUILDS_ON = {
    "training": ("finsent", "training", "inference.model"),  # the network, data, classifier
    "devstack": ("finsent", "devstack"),  # the soak runs the services as subprocesses
}


@pytest.mark.parametrize("package", TOOLING)
def test_tooling_builds_only_on_what_it_needs(package: str) -> None:
    def allowed(target: str) -> bool:
        return any(target == ok or target.startswith(f"{ok}.") for ok in TOOLING_BUILDS_ON[package])

    found = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        if _package(name) == package
        for target in _imported(path)
        if _package(target) in ROOTS and not allowed(target)
    ]
    assert found == []
