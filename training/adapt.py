"""Task-adaptive pre-training: masked-language-model steps on the training tweets.

The base encoder (MiniLM-L6 from sentence-transformers) was tuned for sentence
similarity on general text; finance tweets are a narrow domain with their own vocabulary
(cashtags, tickers, "bullish", "guidance"). Continuing the encoder's pre-training on the
unlabelled text of both train files before fine-tuning is "task-adaptive pre-training"
(Gururangan et al., 2020, "Don't Stop Pretraining").

Only train texts are read, never the valid files, so evaluation stays honest. The result
is a plain Hugging Face BERT folder: pass it to ``finsent train --base-model``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from tqdm import tqdm  # type: ignore[import-untyped]
from transformers import (
    AutoTokenizer,
    BertForMaskedLM,
    DataCollatorForLanguageModeling,
    PreTrainedTokenizerBase,
)

from inference.model.data import TASKS, length_bucketed_batches, prepare_text, read_examples
from inference.model.hardware import autocast_bf16
from training.train import seed_everything, warmup_linear_decay

logger = logging.getLogger(__name__)


class AdaptConfig(BaseModel):
    """The MLM recipe; written next to the adapted encoder as ``adapt.json``.

    Attributes:
        seed: Seeds masking and batch order.
        steps: Optimiser steps.
        batch_size: Texts per step.
        lr: Peak learning rate (linear warm-up, then linear decay to 0).
        warmup_frac: Fraction of steps spent warming up.
        weight_decay: AdamW decoupled weight decay.
        mlm_probability: Share of tokens selected for prediction (80% masked, 10%
            random, 10% kept, as in BERT).
        max_length: Truncation length in tokens.
        bf16: Autocast matmuls to bfloat16; ``None`` decides by hardware, as training does
            (``inference.model.hardware.bf16_native``).
    """

    model_config = ConfigDict(frozen=True)

    seed: int = 13
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-4
    warmup_frac: float = 0.06
    weight_decay: float = 0.01
    mlm_probability: float = 0.15
    max_length: int = 64
    bf16: bool | None = None


@dataclass(frozen=True)
class AdaptResult:
    """Losses of the first and last 50 steps, and all of them."""

    first_loss: float
    last_loss: float
    losses: list[float]


def train_texts(data_dir: Path) -> list[str]:
    """Every train text of both tasks, as the model will see it (links replaced)."""
    return [prepare_text(e.text) for task in TASKS for e in read_examples(data_dir, task, "train")]


def adapt_encoder(
    base_model: Path,
    texts: Sequence[str],
    out_dir: Path,
    config: AdaptConfig,
    *,
    device: str = "cpu",
    tokenizer: PreTrainedTokenizerBase | None = None,
    model: BertForMaskedLM | None = None,
) -> AdaptResult:
    """Run MLM steps on ``texts`` and save the encoder (without the MLM head) to ``out_dir``.

    Args:
        base_model: Local BERT checkpoint (ignored when ``model`` is given). A sentence
            encoder has no MLM head; a fresh one is initialised and tied to the embeddings.
        texts: Unlabelled training text.
        out_dir: Gets ``config.json``, ``model.safetensors``, the tokenizer and ``adapt.json``.
        config: The recipe.
        device: ``"cpu"`` or ``"cuda:N"``.
        tokenizer: Use this tokenizer (tests, with ``model``).
        model: Start from this masked-LM (tests: a tiny random one).
    """
    bf16 = autocast_bf16(device, config.bf16)
    config = config.model_copy(update={"bf16": bf16})  # adapt.json says what ran
    seed_everything(config.seed)
    if model is None:
        tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
        model = BertForMaskedLM.from_pretrained(
            str(base_model), local_files_only=True, dtype=torch.float32
        )
    if tokenizer is None:
        raise ValueError("pass the tokenizer that goes with model")
    cast(torch.nn.Module, model).to(device)
    ids = tokenizer(list(texts), truncation=True, max_length=config.max_length)["input_ids"]
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=config.mlm_probability, return_tensors="pt"
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = warmup_linear_decay(optimizer, config.steps, config.warmup_frac)
    lengths = [len(x) for x in ids]
    losses: list[float] = []
    progress = tqdm(total=config.steps, desc="adapt (MLM)", unit="step", dynamic_ncols=True)
    epoch, started = 0, time.monotonic()
    model.train()
    while len(losses) < config.steps:
        for index in length_bucketed_batches(lengths, config.batch_size, seed=config.seed + epoch):
            batch = collator([{"input_ids": ids[i]} for i in index])
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
                out = model(
                    input_ids=batch["input_ids"].to(device),
                    attention_mask=batch["attention_mask"].to(device),
                    labels=batch["labels"].to(device),
                )
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(out.loss.detach()))
            progress.update(1)
            progress.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", epoch=epoch)
            if len(losses) >= config.steps:
                break
        epoch += 1
    progress.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.bert.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    record = {
        **config.model_dump(),
        "base_model": base_model.name,
        "texts": len(texts),
        "epochs_seen": round(len(losses) * config.batch_size / max(1, len(texts)), 2),
        "first_loss": float(np.mean(losses[:50])),
        "last_loss": float(np.mean(losses[-50:])),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    (out_dir / "adapt.json").write_text(json.dumps(record, indent=1) + "\n")
    logger.info("adapted encoder written", extra={"out": str(out_dir), **record})
    return AdaptResult(
        first_loss=record["first_loss"], last_loss=record["last_loss"], losses=losses
    )
