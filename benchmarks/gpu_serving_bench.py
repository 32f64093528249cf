"""The model alone, as the consumer serves it: ``Classifier.logits`` on tokenised batches.

"Model alone" here is everything after tokenisation: host-to-device copies, one forward
pass per micro-batch (texts grouped by their own padded width, ``PAD_MULTIPLE``), and the
logits back on the host. Batches are tokenised before the clock starts. Three variants,
timed in the same run on the same batches:

- ``per_chunk_sync``: the serving loop before 2026-11-30 (issue 14), which copied each
  micro-batch's logits back to the host before launching the next: the baseline.
- ``serving``: today's ``Classifier.logits``, which queues every micro-batch and copies
  the results back once.
- ``on_device``: the forward passes alone, inputs already on the device and one
  synchronisation per batch: the ceiling the model itself sets.

Each variant runs for each micro-batch size (texts per forward pass) and batch size (texts
per ``logits`` call, what the consumer's batch policy hands over). Texts are random word
pieces with the data's token-length histogram (``benchmarks/gpu_bench.py``). Needs the
repository plus pydantic, pydantic-settings and kafka-python (docs/benchmarks.md).

    python benchmarks/gpu_serving_bench.py --device cuda:0 --out "$OUT"
    python benchmarks/gpu_serving_bench.py --device cpu --model /tmp/tiny --seconds 0.3 \\
        --batch-sizes 64 --micro-batches 16,64 --out /tmp/serving
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from benchmarks.gpu_bench import percentile, texts_like_the_data  # noqa: E402
from benchmarks.results import save  # noqa: E402
from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS  # noqa: E402
from inference.model.classifier import Classifier, EncodedBatch  # noqa: E402


def per_chunk_sync(clf: Classifier, encoded: EncodedBatch) -> None:
    """The serving loop as it was: each micro-batch's logits copied back before the next."""
    n = len(encoded)
    sent = torch.empty((n, len(SENTIMENT_LABELS)), dtype=torch.float32)
    topic = torch.empty((n, len(TOPIC_LABELS)), dtype=torch.float32)
    positions = torch.tensor(encoded.order, dtype=torch.long)
    start = 0
    with torch.inference_mode():
        for input_ids, mask in encoded.chunks:
            s, t = clf._forward(
                input_ids.to(clf.device, non_blocking=True), mask.to(clf.device, non_blocking=True)
            )
            index = positions[start : start + len(input_ids)]
            sent[index] = s.float().cpu()
            topic[index] = t.float().cpu()
            start += len(input_ids)


def time_calls(
    call: Callable[[int], None], rounds: int, seconds: float, sync: Callable[[], None]
) -> list[float]:
    """Latency of ``call(k)`` for k = 0, 1, ... (cycling batches), after 3 untimed calls."""
    for k in range(3):
        call(k % rounds)
    sync()
    latencies: list[float] = []
    started = time.perf_counter()
    k = 0
    while len(latencies) < 5 or time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        call(k % rounds)
        sync()
        latencies.append(time.perf_counter() - t0)
        k += 1
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--batch-sizes", default="1024,4096,16384")
    parser.add_argument("--micro-batches", default="64,1024,4096")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per row")
    parser.add_argument("--rounds", type=int, default=4, help="distinct batches per size")
    parser.add_argument("--budget-s", type=float, default=150.0, help="no new row after this")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    args = parser.parse_args()
    begun = time.perf_counter()
    torch.backends.cuda.matmul.allow_tf32 = True
    cuda = args.device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    sizes = [int(b) for b in args.batch_sizes.split(",")]
    micro_sizes = [int(m) for m in args.micro_batches.split(",")]
    base = Classifier.load(args.model, device=args.device, precision=args.precision)
    pool = texts_like_the_data(base._tokenizer.get_vocab(), max(sizes) * args.rounds)
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if cuda else platform.processor() or "cpu",
        "precision": base.precision,
        "torch": torch.__version__,
        "model_version": base.model_version,
        "rows": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "gpu_serving_bench.json"
    for micro in micro_sizes:
        clf = Classifier(
            base.net, base._tokenizer, args.device, micro_batch_size=micro, plan=base.plan
        )
        for size in sizes:
            if time.perf_counter() - begun > args.budget_s:
                result["stopped"] = f"budget of {args.budget_s:.0f} s spent"
                break
            batches = [clf.tokenize(pool[k * size : (k + 1) * size]) for k in range(args.rounds)]
            on_device = [
                [(i.to(clf.device), m.to(clf.device)) for i, m in b.chunks] for b in batches
            ]

            def forward_only(k: int, c: Classifier = clf, d: list[Any] = on_device) -> None:
                with torch.inference_mode():
                    for input_ids, mask in d[k]:
                        c._forward(input_ids, mask)

            def before(k: int, c: Classifier = clf, b: list[EncodedBatch] = batches) -> None:
                per_chunk_sync(c, b[k])

            def serving(k: int, c: Classifier = clf, b: list[EncodedBatch] = batches) -> None:
                c.logits(b[k])

            variants = {"per_chunk_sync": before, "serving": serving, "on_device": forward_only}
            for name, call in variants.items():
                latencies = time_calls(call, args.rounds, args.seconds, sync)
                row = {
                    "variant": name,
                    "micro_batch": micro,
                    "batch_size": size,
                    "forward_passes": len(batches[0].chunks),
                    "calls": len(latencies),
                    "texts_per_s": round(size * len(latencies) / sum(latencies), 1),
                    "p50_ms": round(percentile(latencies, 50) * 1000, 3),
                    "p99_ms": round(percentile(latencies, 99) * 1000, 3),
                }
                result["rows"].append(row)
                print(json.dumps(row), flush=True)
            del on_device
            save(target, result, begun)
    save(target, result, begun)
    print(f"wrote {target} after {result['elapsed_s']} s")


if __name__ == "__main__":
    main()
