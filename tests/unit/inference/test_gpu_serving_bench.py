"""The GPU loan's model-alone benchmark runs (on CPU, tiny model) and reports every variant.

A loan is 15 minutes for a whole session: a script that breaks there wastes it, so the
suite's first phase is proven here on every run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from inference.model.classifier import Classifier

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_serving_bench_reports_each_variant_on_the_same_batches(tmp_path: Path) -> None:
    model = tmp_path / "tiny"
    Classifier.random_tiny(seed=7).save(model)
    argv = [sys.executable, "benchmarks/gpu_serving_bench.py", "--device", "cpu",
            "--model", str(model), "--precision", "fp32", "--seconds", "0.05",
            "--batch-sizes", "40,100", "--micro-batches", "16,64", "--out", str(tmp_path)]  # fmt: skip
    subprocess.run(argv, cwd=REPO_ROOT, check=True, capture_output=True, timeout=120)
    result = json.loads((tmp_path / "gpu_serving_bench.json").read_text())
    rows = {(r["variant"], r["micro_batch"], r["batch_size"]): r for r in result["rows"]}
    variants = ("per_chunk_sync", "serving", "on_device")
    assert set(rows) == {(v, m, b) for v in variants for m in (16, 64) for b in (40, 100)}
    for (_, micro, size), row in rows.items():
        assert row["texts_per_s"] > 0 and row["calls"] >= 5
        assert row["forward_passes"] >= -(-size // micro)  # at least one per micro-batch
    assert result["precision"] == "fp32" and result["model_version"] == "random-tiny"
