"""The serving-path matrix (docs/model.md) on N pinned cores, written as JSON.

A lent GPU machine has another CPU class than the development VMs: pinned to two cores
(`taskset -c 0,1`), it gives the 2-core figures of that class. Runs the same
`bench_matrix` as `finsent bench model --matrix`, without the CLI's imports.

    taskset -c 0,1 python benchmarks/cpu_matrix.py --data DIR --threads 2 --out "$OUT"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with the valid CSVs")
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "finsent-minilm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    import torch

    torch.set_num_threads(args.threads)
    from inference.model.bench import bench_matrix, bench_texts
    from inference.model.hardware import detect_cpu

    texts = bench_texts(args.data, 1024)
    rows = bench_matrix(args.model, "cpu", texts, args.batch, args.seconds)
    result = {
        "cpu": detect_cpu().describe(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": args.threads,
        "batch": args.batch,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cpu_matrix.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
