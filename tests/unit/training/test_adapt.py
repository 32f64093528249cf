"""Task-adaptive pre-training: MLM steps lower the loss and leave a fine-tunable encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import BertForMaskedLM

from inference.model.network import FinsentNet, HeadsConfig
from inference.model.tiny import tiny_bert_config, tiny_tokenizer
from training.adapt import AdaptConfig, adapt_encoder

TEXTS = [
    f"$AAPL shares {verb} after earnings beat #{i}"
    for i in range(60)
    for verb in ("rise", "jump", "climb")
]


def test_mlm_steps_lower_the_loss_and_save_a_loadable_encoder(tmp_path: Path) -> None:
    tokenizer = tiny_tokenizer()
    model = BertForMaskedLM(tiny_bert_config(len(tokenizer)))
    out = tmp_path / "adapted"
    result = adapt_encoder(
        tmp_path / "unused",
        TEXTS,
        out,
        AdaptConfig(steps=120, batch_size=16, lr=2e-3, bf16=False),
        tokenizer=tokenizer,
        model=model,
    )
    assert len(result.losses) == 120
    assert np.mean(result.losses[-20:]) < 0.7 * np.mean(result.losses[:20])
    record = json.loads((out / "adapt.json").read_text())
    assert record["steps"] == 120 and record["texts"] == len(TEXTS)
    # The folder is a plain BERT checkpoint that fine-tuning starts from.
    net = FinsentNet.from_base(out, HeadsConfig(model_version="adapted-tiny"))
    key = "embeddings.word_embeddings.weight"
    assert torch.equal(net.encoder.state_dict()[key], model.bert.state_dict()[key].cpu())
