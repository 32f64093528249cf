"""CPU/GPU throughput and latency of the serving path on real tweet texts.

Every timed call is ``score_batch`` end to end: tokenisation, sorting, padding, the
forward pass, softmax and building ``TextScore`` tuples.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from inference.model.classifier import Classifier
from inference.model.data import read_examples
from inference.model.hardware import Precision


class BenchRow(BaseModel):
    """Result for one batch size.

    Attributes:
        batch_size: Texts per ``score_batch`` call.
        batches: Timed calls.
        texts_per_s: Texts scored per second of wall time, all calls together.
        p50_ms: Median call latency.
        p99_ms: 99th-percentile call latency.
        mean_tokens: Mean tokens per text (with specials) in the timed texts.
    """

    batch_size: int
    batches: int
    texts_per_s: float
    p50_ms: float
    p99_ms: float
    mean_tokens: float


def bench_texts(data_dir: Path, n: int) -> list[str]:
    """``n`` real texts, alternating sentiment-valid and topic-valid tweets.

    Interleaving matters: topic tweets run ~40% longer than sentiment tweets.
    """
    sent = [e.text for e in read_examples(data_dir, "sentiment", "valid")]
    topic = [e.text for e in read_examples(data_dir, "topic", "valid")]
    # Files are grouped by label; a fixed stride mixes labels without randomness.
    sent = [sent[(i * 7919) % len(sent)] for i in range(len(sent))]
    topic = [topic[(i * 7919) % len(topic)] for i in range(len(topic))]
    mixed = [t for pair in zip(sent, topic, strict=False) for t in pair]
    return (mixed * (n // max(1, len(mixed)) + 1))[:n]


def bench_model(
    classifier: Classifier,
    texts: Sequence[str],
    batch_sizes: Sequence[int],
    min_seconds: float = 5.0,
    max_batches: int = 200,
    warmup_batches: int = 2,
) -> list[BenchRow]:
    """Time ``score_batch`` at each batch size over consecutive slices of ``texts``.

    Args:
        classifier: The model, in the precision to measure.
        texts: Texts to cycle through.
        batch_sizes: Batch sizes to try.
        min_seconds: Keep timing one batch size at least this long...
        max_batches: ...or until this many calls.
        warmup_batches: Untimed calls first (allocator, thread pools, kernels).

    Returns:
        One row per batch size.
    """
    rows = []
    for size in batch_sizes:
        position = 0

        def next_batch(size: int = size) -> list[str]:
            nonlocal position
            batch = [texts[(position + i) % len(texts)] for i in range(size)]
            position += size
            return batch

        for _ in range(warmup_batches):
            classifier.score_batch(next_batch())
        latencies: list[float] = []
        tokens = 0
        started = time.perf_counter()
        while len(latencies) < max_batches and (
            time.perf_counter() - started < min_seconds or len(latencies) < 3
        ):
            batch = next_batch()
            tokens += sum(classifier.count_tokens(batch))
            t0 = time.perf_counter()
            classifier.score_batch(batch)
            latencies.append(time.perf_counter() - t0)
        total = sum(latencies)
        rows.append(
            BenchRow(
                batch_size=size,
                batches=len(latencies),
                texts_per_s=size * len(latencies) / total,
                p50_ms=float(np.percentile(latencies, 50) * 1000),
                p99_ms=float(np.percentile(latencies, 99) * 1000),
                mean_tokens=tokens / (size * len(latencies)),
            )
        )
    return rows


def format_bench(rows: Sequence[BenchRow], title: str) -> str:
    """Markdown table of bench rows."""
    lines = [
        title,
        "",
        "| batch | calls | texts/s | p50 ms | p99 ms | mean tokens |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines.extend(
        f"| {r.batch_size} | {r.batches} | {r.texts_per_s:.0f} | {r.p50_ms:.1f} | "
        f"{r.p99_ms:.1f} | {r.mean_tokens:.1f} |"
        for r in rows
    )
    return "\n".join(lines)


def bench_matrix(
    folder: Path, device: str, texts: Sequence[str], batch_size: int, seconds: float
) -> list[dict[str, object]]:
    """Texts/s of each serving path at one batch size: the table of docs/model.md.

    Rows bf16, fp32 and int8; columns the compiled graph (frozen TorchScript, or ONNX
    Runtime for int8) and torch eager (none for int8: it serves through ONNX Runtime
    only). Each cell loads its own classifier, so one slow path does not warm another.
    """
    table: list[dict[str, object]] = []
    precisions: tuple[Precision, ...] = ("bf16", "fp32", "int8")
    for precision in precisions:
        cells: dict[str, float | None] = {"graph": None, "eager": None}
        for column, frozen in (("graph", None), ("eager", False)):
            if precision == "int8" and column == "eager":
                continue
            clf = Classifier.load(folder, device=device, precision=precision, frozen=frozen)
            rows = bench_model(clf, texts, [batch_size], min_seconds=seconds, max_batches=50)
            cells[column] = rows[0].texts_per_s
        table.append({"precision": precision, **cells})
    return table
