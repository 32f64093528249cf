"""Static (calibrated) int8 through ONNX Runtime: accuracy and batch invariance.

Dynamic int8 quantises activations with one range per call, so over a whole batch a text's
scores depend on its batch mates (served, it runs one text per call). Static quantisation
fixes the ranges from calibration text, which makes the scores batch-invariant; this
script measures what that costs in accuracy, for each calibration variant, against fp32
in the same run:

    python -m benchmarks.int8_static --data ../shared/data --json out.json

Calibration uses 512 random rows of the train files (never valid). Variants:
``minmax`` / ``percentile`` (99.999) ranges; ``-w`` keeps the two activation x activation
MatMuls of each attention block in fp32; ``-xffn`` also keeps each FFN's second MatMul
(it reads GELU outputs with long tails) in fp32. Results in docs/model.md, "Serving paths".
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from inference.model.classifier import Classifier, EncodedBatch
from inference.model.data import read_examples
from inference.model.network import FinsentNet
from inference.model.onnx_int8 import INPUTS, OnnxForward, export_onnx, open_session
from inference.model.settings import SHIPPED_MODEL_DIR
from training.evaluate import evaluate

VARIANTS = ("minmax", "percentile", "minmax-w", "percentile-w", "minmax-xffn")
CALIBRATION_ROWS = 512
CAL_BATCH, CAL_WIDTH = 16, 64  # histogram calibrators need every batch in one shape


def calibration_batches(encoded: EncodedBatch) -> list[dict[str, np.ndarray]]:
    """Every calibration text padded to ``CAL_WIDTH`` tokens, in batches of ``CAL_BATCH``."""

    def widen(part: torch.Tensor) -> np.ndarray:
        return np.pad(part.numpy(), ((0, 0), (0, CAL_WIDTH - part.shape[1])))

    ids = np.concatenate([widen(chunk[0]) for chunk in encoded.chunks])
    mask = np.concatenate([widen(chunk[1]) for chunk in encoded.chunks])
    return [
        {INPUTS[0]: ids[i : i + CAL_BATCH], INPUTS[1]: mask[i : i + CAL_BATCH]}
        for i in range(0, len(ids) - CAL_BATCH + 1, CAL_BATCH)
    ]


def excluded_nodes(fp32: Path, variant: str) -> list[str]:
    """MatMul nodes the variant keeps in fp32."""
    import onnx

    graph = onnx.load(str(fp32)).graph
    weights = {init.name for init in graph.initializer}
    matmuls = [node for node in graph.node if node.op_type == "MatMul"]
    keep: list[str] = []
    if "-w" in variant or "-xffn" in variant:
        keep += [n.name for n in matmuls if not any(i in weights for i in n.input)]
    if "-xffn" in variant:
        keep += [
            n.name for n in matmuls if "/output/dense/" in n.name and "attention" not in n.name
        ]
    return keep


def quantize_static_variant(fp32: Path, out: Path, variant: str, batches: list[Any]) -> None:
    """Write the static int8 graph of ``variant`` (QDQ, per-channel int8 weights)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it: Iterator[Any] = iter(batches)

        def get_next(self) -> Any:
            return next(self._it, None)

    percentile = variant.startswith("percentile")
    extra: dict[str, Any] = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if percentile:
        extra["CalibPercentile"] = 99.999
    quantize_static(
        str(fp32),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        calibrate_method=CalibrationMethod.Percentile if percentile else CalibrationMethod.MinMax,
        nodes_to_exclude=excluded_nodes(fp32, variant),
        extra_options=extra,
    )


def measure(classifier: Classifier, data_dir: Path, texts: list[str]) -> dict[str, Any]:
    """Dedup valid accuracy / macro-F1, and how far scores move between batchings."""
    started = time.perf_counter()
    report = evaluate(classifier, data_dir)
    accuracy = {
        task: [round(report[task]["dedup"][k], 4) for k in ("accuracy", "macro_f1")]
        for task in ("sentiment", "topic")
    }
    seconds = time.perf_counter() - started
    runs = []
    for size in (600, 128, 37):
        parts = [
            classifier.score_arrays(classifier.tokenize(texts[i : i + size])).sentiment_probs
            for i in range(0, len(texts), size)
        ]
        runs.append(np.concatenate(parts))
    drift = max(float(np.abs(run - runs[0]).max()) for run in runs[1:])
    flips = max(int((run.argmax(1) != runs[0].argmax(1)).sum()) for run in runs[1:])
    return {"dedup": accuracy, "eval_s": round(seconds, 1), "batch_drift": drift, "flips": flips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fp32_clf = Classifier.load(precision="fp32")
    net = FinsentNet.load(SHIPPED_MODEL_DIR).float().eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(
        str(SHIPPED_MODEL_DIR), local_files_only=True
    )
    rows = read_examples(args.data, "sentiment", "train") + read_examples(
        args.data, "topic", "train"
    )
    calibration = [row.text for row in random.Random(7).sample(rows, CALIBRATION_ROWS)]
    batches = calibration_batches(fp32_clf.tokenize(calibration))
    texts = [row.text for row in read_examples(args.data, "sentiment", "valid")[:600]]
    results = {"fp32": measure(fp32_clf, args.data, texts)}
    print("fp32", json.dumps(results["fp32"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="finsent-int8-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_onnx(net, fp32)
        for variant in args.variants.split(","):
            out = Path(tmp) / f"{variant}.onnx"
            quantize_static_variant(fp32, out, variant, batches)
            forward = OnnxForward(open_session(str(out), args.threads), per_text=False)
            clf = Classifier(net, tokenizer, forward=forward)
            results[variant] = measure(clf, args.data, texts)
            print(variant, json.dumps(results[variant]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
