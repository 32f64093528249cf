"""The in-process scoring path on a GPU, without Kafka: where does the time go?

Stages, as the inference consumer runs them (`inference/handler.py`):

    decode (bytes -> Document) -> batch (token budget) -> tokenise -> model (GPU)
    -> scores (softmax, TextScore) -> point building (ScoredDocument + JSON for the topic)

Each stage is timed alone over the same documents, then the whole path runs with the
consumer's overlap (tokenise batch k+1 on the main thread while the GPU runs batch k).
The report names the bound: the main thread's CPU stages together, or the GPU.

Needs the repository (finsent, inference) plus pydantic, pydantic-settings and
kafka-python, which the GPU machine lacks: carry them as wheels (docs/benchmarks.md).
Texts are random word pieces with the data's token-length histogram
(`benchmarks/gpu_bench.py`), since the data folder is not on the GPU machine.

    python benchmarks/gpu_pipeline_bench.py --device cuda:0 --docs 200000
    python benchmarks/gpu_pipeline_bench.py --device cpu --docs 2000 --model /tmp/tiny
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from benchmarks.gpu_bench import texts_like_the_data  # noqa: E402
from finsent.schemas import Document  # noqa: E402
from finsent.stream.batching import BatchBuilder, BatchPolicy  # noqa: E402
from finsent.topics import DOCUMENTS  # noqa: E402
from inference.handler import estimate_tokens, model_text, to_scored  # noqa: E402
from inference.model.classifier import Classifier  # noqa: E402


def synthetic_payloads(clf: Classifier, n: int, seed: int = 0) -> list[bytes]:
    """Document JSON with realistic token lengths (random word pieces)."""
    pool = texts_like_the_data(clf._tokenizer.get_vocab(), 4096, seed)  # the model's vocabulary
    start, now = datetime(2026, 1, 5, tzinfo=UTC), datetime.now(UTC)
    tickers = ("AAPL", "MSFT", "WMT", "JPM", "XOM")
    return [
        Document(
            id=f"g{i}",
            source="bench",
            text=pool[i % len(pool)],
            tickers=(tickers[i % 5],),
            published_at=start + timedelta(seconds=i),
            ingested_at=now,
        )
        .model_dump_json()
        .encode()
        for i in range(n)
    ]


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def batches(docs: Sequence[Document], policy: BatchPolicy, max_length: int) -> list[list[Document]]:
    builder: BatchBuilder[Document] = BatchBuilder(
        policy, lambda d: estimate_tokens(model_text(d), max_length)
    )
    out: list[list[Document]] = []
    for doc in docs:
        cost = estimate_tokens(model_text(doc), max_length)
        if not builder.fits(cost):
            out.append(builder.take())
        builder.add(doc, cost)
        if builder.full():
            out.append(builder.take())
    if len(builder):
        out.append(builder.take())
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.backends.cuda.matmul.allow_tf32 = True
    clf = Classifier.load(
        Path(args.model) if args.model else None,
        device=args.device,
        precision=args.precision,
        micro_batch_size=args.micro_batch,
    )
    max_length = clf.heads.max_length
    payloads = synthetic_payloads(clf, args.docs)
    policy = BatchPolicy(max_count=args.max_count, max_tokens=args.max_tokens, max_wait_s=0.1)

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    # Warm-up: kernels, allocator, tokenizer.
    warm = [DOCUMENTS.decode(p) for p in payloads[: args.max_count]]
    for _ in range(3):
        clf.score_encoded(clf.tokenize([model_text(d) for d in warm]))
    sync()

    now = datetime.now(UTC)
    if args.pipelined_only:
        return pipelined_result(args, clf, payloads, policy, max_length, now, sync)
    stage_s: dict[str, float] = {}
    docs: list[Document] = []
    stage_s["decode"] = timed(lambda: docs.extend(DOCUMENTS.decode(p) for p in payloads))
    groups: list[list[Document]] = []
    stage_s["batch"] = timed(lambda: groups.extend(batches(docs, policy, max_length)))
    encoded: list[Any] = []
    stage_s["tokenise"] = timed(
        lambda: encoded.extend(clf.tokenize([model_text(d) for d in g]) for g in groups)
    )

    def model_only() -> None:
        for e in encoded:
            clf.logits(e)
        sync()

    stage_s["model_gpu"] = timed(model_only)
    scores: list[Any] = []

    def score_all() -> None:
        scores.extend(clf.score_encoded(e) for e in encoded)
        sync()

    stage_s["model_plus_scores"] = timed(score_all)

    def build_points() -> None:
        for g, s in zip(groups, scores, strict=True):
            for d, r in zip(g, s, strict=True):
                to_scored(d, r, clf.model_version, now).model_dump_json()

    stage_s["points"] = timed(build_points)

    total_s = timed(lambda: run_pipelined(clf, payloads, policy, max_length, now, sync))
    return staged_result(args, clf, stage_s, groups, policy, total_s, len(payloads))


def run_pipelined(
    clf: Classifier,
    payloads: Sequence[bytes],
    policy: BatchPolicy,
    max_length: int,
    now: datetime,
    sync: Callable[[], None],
) -> None:
    """The whole path with the consumer's one-batch prefetch."""
    with ThreadPoolExecutor(1) as pool:
        pending: Any = None
        builder: BatchBuilder[Document] = BatchBuilder(
            policy, lambda d: estimate_tokens(model_text(d), max_length)
        )

        def finish(item: Any) -> None:
            group, future = item
            for d, r in zip(group, future.result(), strict=True):
                to_scored(d, r, clf.model_version, now).model_dump_json()

        def launch(group: list[Document]) -> None:
            nonlocal pending
            enc = clf.tokenize([model_text(d) for d in group])
            if pending is not None:
                finish(pending)
            pending = (group, pool.submit(clf.score_encoded, enc))

        for raw in payloads:
            doc = DOCUMENTS.decode(raw)
            cost = estimate_tokens(model_text(doc), max_length)
            if not builder.fits(cost):
                launch(builder.take())
            builder.add(doc, cost)
            if builder.full():
                launch(builder.take())
        if len(builder):
            launch(builder.take())
        if pending is not None:
            finish(pending)
    sync()


def pipelined_result(
    args: argparse.Namespace,
    clf: Classifier,
    payloads: Sequence[bytes],
    policy: BatchPolicy,
    max_length: int,
    now: datetime,
    sync: Callable[[], None],
) -> dict[str, Any]:
    """Only the pipelined path, started at `--start-at` (wall time) when given.

    Several processes sharing one GPU start together this way, and each reports its wall
    start and end: their aggregate rate is all documents over the union of those spans.
    """
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    started_at = time.time()
    total_s = timed(lambda: run_pipelined(clf, payloads, policy, max_length, now, sync))
    return {
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "docs": len(payloads),
        "policy": policy.model_dump(),
        "micro_batch": args.micro_batch,
        "pipelined_texts_per_s": round(len(payloads) / total_s, 1),
        "pipelined_started_at": round(started_at, 3),
        "pipelined_ended_at": round(started_at + total_s, 3),
    }


def staged_result(
    args: argparse.Namespace,
    clf: Classifier,
    stage_s: dict[str, float],
    groups: Sequence[Sequence[Document]],
    policy: BatchPolicy,
    total_s: float,
    n: int,
) -> dict[str, Any]:
    rates = {k: round(n / v, 1) for k, v in stage_s.items()}
    cpu_main = ["decode", "batch", "tokenise", "points"]
    cpu_main_s = sum(stage_s[k] for k in cpu_main)
    python_scores_s = max(0.0, stage_s["model_plus_scores"] - stage_s["model_gpu"])
    bound: dict[str, Any] = {
        "main_thread_cpu_texts_per_s": round(n / cpu_main_s, 1),
        "gpu_texts_per_s": rates["model_gpu"],
        "gpu_plus_score_objects_texts_per_s": rates["model_plus_scores"],
        "python_score_objects_share": round(python_scores_s / stage_s["model_plus_scores"], 3),
    }
    bound["limited_by"] = min(
        ("main-thread CPU (decode+batch+tokenise+points)", bound["main_thread_cpu_texts_per_s"]),
        ("GPU worker (model + score objects)", bound["gpu_plus_score_objects_texts_per_s"]),
        key=lambda kv: kv[1],
    )[0]
    return {
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "docs": n,
        "batches": len(groups),
        "mean_batch": round(n / len(groups), 1),
        "policy": policy.model_dump(),
        "micro_batch": args.micro_batch,
        "stage_seconds": {k: round(v, 3) for k, v in stage_s.items()},
        "stage_texts_per_s": rates,
        "pipelined_texts_per_s": round(n / total_s, 1),
        "bound": bound,
        "stretch_goal_texts_per_s": 25_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default=None, help="model folder (default: shipped)")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--max-count", type=int, default=1024)
    parser.add_argument("--max-tokens", type=int, default=65_536)
    parser.add_argument("--micro-batch", type=int, default=1024)
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument(
        "--pipelined-only",
        action="store_true",
        help="skip the per-stage passes (several processes)",
    )
    parser.add_argument(
        "--start-at",
        type=float,
        default=0.0,
        help="wall time (epoch s) to start the pipelined pass",
    )
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    out = Path(args.out) / "gpu_pipeline_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
