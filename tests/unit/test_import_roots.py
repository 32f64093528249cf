"""Guards on the import roots and on who may import whom.

- Every import root resolves inside this repository: `inference` and `alerts` are also
  PyPI distribution names, and a dependency that installs one of them would silently
  shadow ours.
- `finsent/` is the shared contract: it imports no service package.
- Serving code never imports the training modules, directly or through another module,
  so a service never loads sklearn, the teacher converters or the training loop.

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
SERVICES = ("ingest", "inference", "alerts", "dashboards", "cli")
ROOTS = ("finsent", *SERVICES)

TRAINING = frozenset(
    {
        "inference.model.train",  # multi-task fine-tuning, with distillation from teachers
        "inference.model.encoding",  # training examples tokenised, padded and scored
        "inference.model.distill",  # teachers' soft targets
        "inference.model.selection",  # holdout scores, calibration, saving the best model
        "inference.model.adapt",  # task-adaptive masked-LM pre-training
        "inference.model.teachers",  # fetching teacher encoders
        "inference.model.onnx_bert",  # converting a teacher's ONNX graph to torch
        "inference.model.evaluate",  # the valid-set report
        "inference.model.metrics",  # F1, calibration, temperature fit (sklearn)
    }
)
"""Training, adaptation, distillation and evaluation: never loaded by a service."""

TOOLING = frozenset(
    {
        "inference.model.cli",  # `finsent train`, `eval`, `adapt`, `classify`, `bench model`
        "inference.model.teachers_cmd",  # `finsent teachers list`, `import`
        "inference.model.bench",  # model throughput benchmark
        "inference.bench_pipeline",  # `finsent bench pipeline`
        "cli.main",  # the top-level CLI mounts the model commands
        "cli.bench_cmd",  # `finsent bench ...`
    }
)
"""Developer commands that may reach training. Everything else is serving code, including
the shared model modules `classifier`, `network`, `hardware`, `onnx_int8`, `settings` and
`data` (`prepare_text`, the text normalisation serving and training must share)."""


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
            # `from inference.model import cli` imports the submodule `inference.model.cli`.
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


def test_the_module_lists_name_real_modules() -> None:
    missing = (TRAINING | TOOLING) - _modules().keys()
    assert not missing, sorted(missing)
    assert "inference.model.classifier" in _modules()
    # The graph sees lazy imports: the model CLI imports `train` inside a command.
    assert "inference.model.train" in _edges("inference.model.cli")
    assert "inference.model.cli" in _edges("cli.main")  # `from inference.model import cli`


def test_finsent_imports_no_service_package() -> None:
    found = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        if name.split(".")[0] == "finsent"
        for target in _imported(path)
        if target.split(".")[0] in SERVICES
    ]
    assert found == []


def test_serving_code_never_reaches_the_training_modules() -> None:
    serving = sorted(_modules().keys() - TRAINING - TOOLING)
    assert "inference.service" in serving and "alerts.engine" in serving
    chains = [
        " -> ".join(chain)
        for name in serving
        if (chain := _path_to(name, TRAINING | TOOLING)) is not None
    ]
    assert chains == []
