"""Per-token int8 in torch: accuracy, batch invariance and speed against fp32, one run.

Dynamic int8 (ONNX Runtime) quantises each activation with one range per call, so run
over a whole batch a text's scores depend on its batch mates (served, it runs one text per
call since 2026-12-01, which this script measures too); static
int8 fixes the ranges but loses accuracy (``benchmarks/int8_static.py``). This script
measures the third way: every encoder Linear runs on int8 with **one range per token row**
(symmetric, scale = max |x| / 127) against int8 weights with one range per output channel,
multiplied exactly in int32 (``torch._int_mm``). A row's result depends only on that row,
so scores are batch-invariant by construction, and the range adapts to each token. The
same per-row scheme is also measured in ONNX Runtime, rewritten from its dynamic graph
(``per_row_onnx``):

    python -m benchmarks.int8_per_token --data ../shared/data --json out.json

Reported per path: dedup valid accuracy / macro-F1 for both tasks (``training.evaluate``),
the largest change of a probability between three batchings of 600 valid tweets, the
labels that change, and texts/s on those tweets at batch 64 (``--threads``), eager and as
the frozen TorchScript graph serving uses.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerFast

from benchmarks.int8_static import measure as static_measure
from inference.model.classifier import Classifier
from inference.model.data import read_examples
from inference.model.network import FinsentNet
from inference.model.onnx_int8 import OnnxForward, open_session, quantize_int8
from inference.model.settings import SHIPPED_MODEL_DIR


def quantise_rows(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one scale per row (``max |row| / 127``): values and scales."""
    scale = matrix.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
    return torch.round(matrix / scale).clamp_(-127, 127).to(torch.int8), scale


class PerTokenInt8Linear(nn.Module):
    """``nn.Linear`` on int8: per-output-channel weights, per-row activations, int32 sums."""

    weight_t: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        quantised, scale = quantise_rows(linear.weight.detach().float())  # per output channel
        self.register_buffer("weight_t", quantised.t().contiguous())  # [in, out]
        self.register_buffer("weight_scale", scale.squeeze(1))
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        quantised, scale = quantise_rows(x.reshape(-1, x.shape[-1]))  # per token
        out = torch._int_mm(quantised, self.weight_t).to(torch.float32)
        out.mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.reshape(*x.shape[:-1], out.shape[-1])


def per_token_int8(net: FinsentNet) -> FinsentNet:
    """A copy of ``net`` whose encoder Linears are per-token int8 (heads stay fp32)."""
    quantised = copy.deepcopy(net).float().eval()
    for module in list(quantised.encoder.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, child_name, PerTokenInt8Linear(child))
    return quantised


def per_row_onnx(dynamic: Path, out: Path) -> None:
    """Rewrite ONNX Runtime's dynamic int8 graph to quantise activations per row.

    Each ``DynamicQuantizeLinear`` (one range per call) becomes ``scale = max |x| / 127``
    over the last axis, ``q = round(x / scale) + 128`` as uint8 with the scalar zero point
    128, so ``MatMulInteger`` still runs ONNX Runtime's u8 x s8 kernels. The activation
    scale is applied after the weight scale, in its own ``Mul``: left inside the combined
    scale, ONNX Runtime's ``MatMulIntegerToFloat`` fusion (extended optimisations) mis-reads
    a per-row scale and the scores drift far from fp32 (measured, no error raised).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(dynamic))
    graph = model.graph
    users: dict[str, list[tuple[Any, int]]] = collections.defaultdict(list)
    for node in graph.node:
        for index, name in enumerate(node.input):
            users[name].append((node, index))
    graph.initializer.extend(
        numpy_helper.from_array(np.array(value, dtype=dtype), name)
        for name, value, dtype in (
            ("pr_127", 127.0, np.float32),
            ("pr_m127", -127.0, np.float32),
            ("pr_128", 128.0, np.float32),
            ("pr_eps", 1e-12, np.float32),
            ("pr_zp", 128, np.uint8),
        )
    )
    after: dict[int, Any] = {}  # id(node) -> the row-scale Mul that follows it
    for node in graph.node:
        if node.op_type == "Mul" and node.output[0].endswith("_quant_scales_mul:0"):
            row_scale, weight_scale = node.input
            for user, index in users[node.output[0]]:
                user.input[index] = weight_scale
                final = user.output[0]
                user.output[0] = final + "_w"
                after[id(user)] = helper.make_node("Mul", [final + "_w", row_scale], [final])
    nodes: list[Any] = []
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            y, scale, zero = node.output
            assert all(u.op_type == "MatMulInteger" and i == 0 for u, i in users[y]), node.name
            x, p = node.input[0], node.name + "_pr"
            nodes += [
                helper.make_node("Abs", [x], [p + "_abs"]),
                helper.make_node("ReduceMax", [p + "_abs"], [p + "_max"], axes=[-1], keepdims=1),
                helper.make_node("Max", [p + "_max", "pr_eps"], [p + "_maxe"]),
                helper.make_node("Div", [p + "_maxe", "pr_127"], [scale]),
                helper.make_node("Div", [x, scale], [p + "_q"]),
                helper.make_node("Round", [p + "_q"], [p + "_r"]),
                helper.make_node("Clip", [p + "_r", "pr_m127", "pr_127"], [p + "_c"]),
                helper.make_node("Add", [p + "_c", "pr_128"], [p + "_s"]),
                helper.make_node("Cast", [p + "_s"], [y], to=TensorProto.UINT8),
                helper.make_node("Identity", ["pr_zp"], [zero]),
            ]
        elif not node.output[0].endswith("_quant_scales_mul:0"):
            nodes.append(node)
            if id(node) in after:
                nodes.append(after[id(node)])
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def measure(classifier: Classifier, data_dir: Path, texts: list[str]) -> dict[str, Any]:
    """``int8_static.measure`` (accuracy, batch drift, flips), plus texts/s at batch 64."""
    result = static_measure(classifier, data_dir, texts)
    batches = [classifier.tokenize(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    classifier.score_arrays(batches[0])  # warm-up
    started = time.perf_counter()
    for batch in batches:
        classifier.score_arrays(batch)
    rate = len(texts) / (time.perf_counter() - started)
    return {**result, "texts_per_s": round(rate, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = FinsentNet.load(SHIPPED_MODEL_DIR).float().eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(
        str(SHIPPED_MODEL_DIR), local_files_only=True
    )
    texts = [row.text for row in read_examples(args.data, "sentiment", "valid")[:600]]
    quantised = per_token_int8(net)
    with tempfile.TemporaryDirectory(prefix="finsent-int8-") as tmp:
        folder = Path(tmp)
        per_row_onnx(quantize_int8(net, folder), folder / "per-row.onnx")
        per_row = OnnxForward(
            open_session(str(folder / "per-row.onnx"), args.threads), per_text=False
        )
        per_batch = OnnxForward(
            open_session(quantize_int8(net, folder).read_bytes(), args.threads), per_text=False
        )
    paths = {
        "fp32 eager": Classifier(net, tokenizer, frozen=False),
        "fp32 graph": Classifier(net, tokenizer, frozen=True),
        "int8-per-token eager": Classifier(quantised, tokenizer, frozen=False),
        "int8-per-token graph": Classifier(quantised, tokenizer, frozen=True),
        "int8-dynamic per batch (onnx)": Classifier(net, tokenizer, forward=per_batch),
        "int8-dynamic per text (onnx, served)": Classifier.load(precision="int8"),
        "int8-per-row (onnx)": Classifier(net, tokenizer, forward=per_row),
    }
    results = {}
    for name, classifier in paths.items():
        results[name] = measure(classifier, args.data, texts)
        print(name, json.dumps(results[name]), flush=True)
    base = results["fp32 graph"]["texts_per_s"]  # the serving default on CPU
    for name, result in results.items():
        print(f"{name:22s} {result['texts_per_s'] / base:5.2f}x fp32 graph", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
