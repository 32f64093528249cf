"""ONNX-to-BERT conversion: a tiny encoder survives the round trip through ONNX exactly."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import onnx
import pytest
import torch
from transformers import BertConfig, BertModel

from training.onnx_bert import OnnxConversionError, convert
from training.teachers import TEACHERS

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


class _Export(torch.nn.Module):
    """Positional inputs, first output only: the shape of the published teacher graphs."""

    def __init__(self, model: BertModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        return out.last_hidden_state  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[BertModel, Path]:
    torch.manual_seed(0)
    shape: dict[str, Any] = dict(
        vocab_size=60,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=32,
        max_position_embeddings=32,
        layer_norm_eps=1e-7,
        attn_implementation="eager",  # the published graphs scale explicit scores
    )
    model = BertModel(BertConfig(**shape), add_pooling_layer=False).eval()  # type: ignore[no-untyped-call]
    with torch.no_grad():  # distinct values everywhere, so no two tensors are deduplicated
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    ids = torch.randint(0, 60, (2, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Export(model),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(path),
            input_names=INPUTS,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in INPUTS},
            dynamo=False,
            opset_version=14,
        )
    return model, path


def test_a_tiny_encoder_round_trips_exactly(tiny: tuple[BertModel, Path]) -> None:
    original, path = tiny
    converted = convert(path)
    assert converted.config.num_attention_heads == 4
    assert converted.config.num_hidden_layers == 2
    assert converted.config.intermediate_size == 32
    assert converted.config.layer_norm_eps == pytest.approx(1e-7)
    ours = converted.model.state_dict()
    for name, tensor in original.state_dict().items():
        if not name.endswith("position_ids"):
            assert torch.equal(ours[name], tensor), name
    assert converted.max_abs_diff < 1e-5


def test_a_linear_weight_without_a_named_bias_is_refused(
    tiny: tuple[BertModel, Path], tmp_path: Path
) -> None:
    model = onnx.load(str(tiny[1]))
    renamed: dict[str, str] = {}
    for tensor in model.graph.initializer:
        if tensor.name.endswith("attention.self.query.bias"):
            renamed[tensor.name] = f"anonymous_{len(renamed)}"
            tensor.name = renamed[tensor.name]
    for node in model.graph.node:
        node.input[:] = [renamed.get(i, i) for i in node.input]
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    with pytest.raises(OnnxConversionError, match="no named bias"):
        convert(broken)


def test_the_teacher_catalogue_names_maven_artifacts() -> None:
    for source in TEACHERS.values():
        group, _artifact, version = source.artifact.split(":")
        assert group == "dev.langchain4j" and version
        assert source.onnx_member.endswith(".onnx")
        assert source.tokenizer_member.endswith("tokenizer.json")
