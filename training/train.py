"""Multi-task fine-tuning of the two-headed model on CPU (or GPU).

Every example carries a label for one task only; the other head's loss is masked.
Batches mix both tasks, are length-bucketed and padded only to their longest row.
Model selection and early stopping use a stratified holdout carved from train
(the official valid files are the test sets). The best model so far is written in
the shipped format after every evaluation, so a run cut short still leaves a
usable model. Optionally a teacher model (or the previous generation) supplies soft
targets for the head each row has no gold label for (``distill_weight``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from tqdm import tqdm  # type: ignore[import-untyped]
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from inference.model.data import (
    TASKS,
    Example,
    Task,
    length_bucketed_batches,
    read_examples,
    stratified_split,
)
from inference.model.hardware import autocast_bf16
from inference.model.network import FinsentNet, HeadsConfig, Pooling
from training.distill import ensemble_probabilities, soft_cross_entropy
from training.encoding import IGNORE, N_CLASSES, collate, encode, predict_logits
from training.selection import holdout_metrics, save_best

logger = logging.getLogger(__name__)


class TrainConfig(BaseModel):
    """The full training recipe; recorded in the shipped ``finsent.json``.

    Attributes:
        seed: Seeds Python, numpy and torch, the holdout split and batch order.
        epochs: Maximum epochs (the lr schedule decays linearly over all of them).
        max_steps: Stop after this many optimiser steps (for tests and smoke runs).
        batch_size: Examples per step, both tasks mixed.
        lr: Peak learning rate of the top encoder layer.
        layer_lr_decay: Each layer below the top gets ``lr * decay**depth``.
        head_lr: Peak learning rate of the two (randomly initialised) heads.
        weight_decay: AdamW decoupled weight decay (not on biases and LayerNorms).
        warmup_frac: Fraction of total steps with linear warm-up.
        label_smoothing: Cross-entropy label smoothing.
        class_weight_power: Class weights are ``(n_max / n_class) ** power``,
            normalised to mean 1; 0 disables, 0.5 is the square root.
        holdout_frac: Stratified fraction of each train file held out.
        sentiment_repeat: Each sentiment training row appears this many times per
            epoch (sentiment has 9.5k rows against topic's 17k).
        patience: Stop after this many evaluations without improvement.
        evals_per_epoch: Holdout evaluations (and checkpoints) per epoch.
        max_length: Truncation length in tokens.
        pooling: ``mean`` or ``cls``.
        dropout: Dropout on the pooled vector.
        bf16: Autocast matmuls to bfloat16. ``None`` (the default) decides by hardware
            (``bf16_native``): on CUDA and CPUs with native bf16 it is faster; elsewhere
            torch emulates it (2.9x slower per step than fp32, measured). The run records
            what was used.
        distill_weight: Weight of a soft cross-entropy against a teacher model's
            (calibrated) probabilities, applied to the head a row has no gold label
            for: topic rows learn sentiment from the teacher and vice versa. Needs a
            teacher; 0 disables.
        distill_gold_weight: Weight of the same soft targets on the rows that do have a
            gold label for the head, beside that label's cross-entropy (classic
            knowledge distillation: the teacher's view of the other classes on every
            row). 0 leaves gold rows to their labels alone.
        distill_temperature: Temperature of the soft targets (``soft_cross_entropy``);
            1 takes the teachers' calibrated probabilities as they are.
        generations: Born-again self-distillation: generation 1 is a plain
            fine-tune, each later one starts again from the base model with the
            previous generation as its teacher (``distill_weight``); only the last
            is kept. 1 trains once.
        model_version: Version string written into the shipped config.
    """

    model_config = ConfigDict(frozen=True)

    seed: int = 13
    epochs: int = Field(default=5, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-4, gt=0)
    layer_lr_decay: float = Field(default=0.9, gt=0, le=1)
    head_lr: float = Field(default=5e-4, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_frac: float = Field(default=0.06, ge=0, lt=1)
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    class_weight_power: float = Field(default=0.5, ge=0)
    holdout_frac: float = Field(default=0.1, gt=0, lt=1)
    sentiment_repeat: int = Field(default=1, ge=1)
    patience: int = Field(default=4, ge=1)
    evals_per_epoch: int = Field(default=2, ge=1)
    max_length: int = Field(default=64, ge=8)
    pooling: Pooling = "mean"
    dropout: float = Field(default=0.1, ge=0, lt=1)
    bf16: bool | None = None
    distill_weight: float = Field(default=0.0, ge=0)
    distill_gold_weight: float = Field(default=0.0, ge=0)
    distill_temperature: float = Field(default=1.0, gt=0)
    generations: int = Field(default=1, ge=1)
    model_version: str = "finsent-minilm-1.0.0"


def batch_loss(
    logits: Mapping[Task, torch.Tensor],
    batch: Mapping[str, torch.Tensor],
    gold_losses: Mapping[Task, nn.Module],
    config: TrainConfig,
) -> torch.Tensor:
    """One step's loss: each head's gold cross-entropy plus the teachers' soft targets.

    Soft targets (``<task>_soft`` in ``batch``) weigh ``distill_weight`` on rows without a
    gold label for the head and ``distill_gold_weight`` on rows with one.
    """
    loss = torch.zeros((), device=next(iter(logits.values())).device)
    for task, task_logits in logits.items():
        gold = batch[task] != IGNORE
        if gold.any():
            loss = loss + gold_losses[task](task_logits.float(), batch[task])
        targets = batch.get(f"{task}_soft")
        if targets is None:
            continue
        for rows, weight in ((~gold, config.distill_weight), (gold, config.distill_gold_weight)):
            if weight > 0 and rows.any():
                loss = loss + weight * soft_cross_entropy(
                    task_logits.float()[rows], targets[rows], config.distill_temperature
                )
    return loss


@dataclass(frozen=True)
class TrainResult:
    """What a run produced.

    Attributes:
        best_score: Holdout selection score of the saved model.
        steps: Optimiser steps taken.
        history: One dict per evaluation (step, epoch, losses, holdout metrics).
        first_loss: Mean loss of the first logging window.
        last_loss: Mean loss of the last logging window.
        losses: Loss of every step.
    """

    best_score: float
    steps: int
    history: list[dict[str, float]]
    first_loss: float
    last_loss: float
    losses: list[float]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warmup_linear_decay(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_frac: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_frac`` of the steps, then linear decay to 0."""
    warmup = max(1, int(total_steps * warmup_frac))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def class_weights(examples: Sequence[Example], task: Task, power: float) -> torch.Tensor:
    """Inverse-frequency weights ``(n_max / n_c) ** power``, mean 1."""
    counts = Counter(e.label for e in examples if e.task == task)
    n = np.array([counts.get(c, 0) for c in range(N_CLASSES[task])], dtype=np.float64)
    if not n.any():  # no gold rows for this task (e.g. it is only distilled)
        return torch.ones(len(n), dtype=torch.float32)
    w = (n.max() / np.maximum(n, 1.0)) ** power
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def param_groups(net: FinsentNet, config: TrainConfig) -> list[dict[str, object]]:
    """AdamW groups with layer-wise lr decay and no decay on biases/LayerNorms.

    Depth 0 is the top encoder layer; embeddings sit one below the bottom layer.
    """
    n_layers = int(net.encoder.config.num_hidden_layers)
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in net.named_parameters():
        if name.startswith(("sentiment_head", "topic_head")):
            lr = config.head_lr
        else:
            depth = n_layers  # embeddings and anything unrecognised
            for part in name.split("."):
                if part.isdigit():
                    depth = n_layers - 1 - int(part)
                    break
            lr = config.lr * config.layer_lr_decay**depth
        no_decay = param.ndim == 1  # biases and LayerNorm weights
        key = (lr, 0.0 if no_decay else config.weight_decay)
        groups.setdefault(key, []).append(param)
    return [
        {"params": params, "lr": lr, "initial_lr": lr, "weight_decay": wd}
        for (lr, wd), params in groups.items()
    ]


def train(
    data_dir: Path,
    base_model: Path,
    out_dir: Path,
    config: TrainConfig,
    *,
    device: str = "cpu",
    train_examples: Sequence[Example] | None = None,
    net: FinsentNet | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    teachers: Sequence[Path] = (),
) -> TrainResult:
    """Fine-tune and write the best model (by holdout score) to ``out_dir``.

    Args:
        data_dir: Shared data folder (train CSVs are read from here).
        base_model: Local HF checkpoint to start from (ignored if ``net`` given).
        out_dir: Where the best model, tokenizer and ``train_log.json`` go.
        config: The recipe.
        device: ``"cpu"`` or ``"cuda:N"``.
        train_examples: Use these instead of reading the train CSVs (tests).
        net: Start from this net instead of ``base_model`` (tests: a tiny random one).
        tokenizer: Tokenizer for ``net`` (required with ``net``).
        teachers: Trained finsent model folders whose mean probabilities are the
            soft targets of ``config.distill_weight``.

    Returns:
        The best holdout score, step count and evaluation history.
    """
    if config.distill_weight > 0 and not teachers:
        raise ValueError("distill_weight > 0 needs a teacher model folder")
    bf16 = autocast_bf16(device, config.bf16)
    config = config.model_copy(update={"bf16": bf16})  # the saved recipe says what ran
    logger.info("training precision: %s", "bf16 autocast" if bf16 else "fp32")
    seed_everything(config.seed)
    if train_examples is None:
        train_examples = [e for task in TASKS for e in read_examples(data_dir, task, "train")]
    fit: list[Example] = []
    holdout: list[Example] = []
    for task in TASKS:
        task_rows = [e for e in train_examples if e.task == task]
        a, b = stratified_split(task_rows, config.holdout_frac, config.seed)
        fit.extend(a * (config.sentiment_repeat if task == "sentiment" else 1))
        holdout.extend(b)
    heads = HeadsConfig(
        model_version=config.model_version,
        pooling=config.pooling,
        max_length=config.max_length,
        train=config.model_dump(),
    )
    if net is None:
        net = FinsentNet.from_base(base_model, heads)
        tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer that goes with net")
    assert tokenizer is not None
    net.heads = heads
    net.dropout.p = config.dropout
    net.to(device)
    pad_id = int(tokenizer.pad_token_id or 0)
    fit_data = encode(fit, tokenizer, config.max_length)
    if teachers and config.distill_weight > 0:
        # Loading a teacher initialises a net; keep that off the student's RNG
        # stream so a distilled run differs from a plain one only by its targets.
        with torch.random.fork_rng(devices=[]):
            soft = ensemble_probabilities(teachers, fit, device)
        fit_data = dataclasses.replace(fit_data, soft=soft)
    holdout_data = encode(holdout, tokenizer, config.max_length)
    weights = {
        task: class_weights(fit, task, config.class_weight_power).to(device) for task in TASKS
    }
    losses = {
        task: nn.CrossEntropyLoss(
            weight=weights[task], ignore_index=IGNORE, label_smoothing=config.label_smoothing
        )
        for task in TASKS
    }
    optimizer = torch.optim.AdamW(param_groups(net, config), lr=config.lr)
    steps_per_epoch = math.ceil(len(fit) / config.batch_size)
    total = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    scheduler = warmup_linear_decay(optimizer, total, config.warmup_frac)
    eval_every = max(1, steps_per_epoch // config.evals_per_epoch)
    logger.info(
        "fit %d rows, holdout %d rows, %d steps/epoch, %d steps max",
        len(fit),
        len(holdout),
        steps_per_epoch,
        total,
    )
    history: list[dict[str, float]] = []
    best = -1.0
    stale = 0
    step = 0
    window: list[float] = []
    started = time.monotonic()
    progress = tqdm(total=total, desc="train", unit="step", dynamic_ncols=True)
    done = False
    for epoch in range(config.epochs):
        for index in length_bucketed_batches(
            fit_data.lengths(), config.batch_size, seed=config.seed * 1000 + epoch
        ):
            net.train()
            batch = {k: v.to(device) for k, v in collate(fit_data, index, pad_id).items()}
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
                sent_logits, topic_logits = net(batch["input_ids"], batch["attention_mask"])
            loss = batch_loss(
                {"sentiment": sent_logits, "topic": topic_logits}, batch, losses, config
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            window.append(float(loss.detach()))
            progress.update(1)
            progress.set_postfix(loss=f"{np.mean(window[-50:]):.4f}", epoch=epoch)
            last_step = step >= total
            if step % eval_every == 0 or last_step:
                logits_s, logits_t = predict_logits(net, holdout_data, pad_id, bf16=bf16)
                metrics, temps, eces = holdout_metrics(
                    {"sentiment": logits_s, "topic": logits_t}, holdout_data
                )
                record = {
                    "step": float(step),
                    "epoch": step / steps_per_epoch,
                    "train_loss": float(np.mean(window[-eval_every:])),
                    "elapsed_s": time.monotonic() - started,
                    **{f"holdout_{k}": v for k, v in metrics.items()},
                }
                history.append(record)
                tqdm.write(json.dumps({k: round(v, 4) for k, v in record.items()}))
                if metrics["score"] > best:
                    best = metrics["score"]
                    stale = 0
                    save_best(net, tokenizer, out_dir, heads, temps, eces, record)
                else:
                    stale += 1
                (out_dir / "train_log.json").write_text(json.dumps(history, indent=1) + "\n")
                if stale >= config.patience:
                    logger.info("early stop at step %d: %d evals without gain", step, stale)
                    done = True
            if done or last_step:
                done = True
                break
        if done:
            break
    progress.close()
    return TrainResult(
        best_score=best,
        steps=step,
        history=history,
        first_loss=float(np.mean(window[:50])) if window else math.nan,
        last_loss=float(np.mean(window[-50:])),
        losses=window,
    )


def train_generations(
    data_dir: Path,
    base_model: Path,
    out_dir: Path,
    config: TrainConfig,
    *,
    device: str = "cpu",
    teachers: Sequence[Path] = (),
    train_examples: Sequence[Example] | None = None,
) -> TrainResult:
    """``config.generations`` runs of ``train``, each taught by the one before.

    Generation 1 learns from the gold labels alone (unless ``teachers`` are given);
    every later one also from its predecessor's probabilities. Earlier generations
    live in a temporary folder; only the last is written to ``out_dir``. Arguments
    are as for ``train``.

    Returns:
        The last generation's result.
    """
    with tempfile.TemporaryDirectory(prefix="finsent-generations-") as scratch:
        for generation in range(1, config.generations + 1):
            last = generation == config.generations
            target = out_dir if last else Path(scratch) / f"generation-{generation}"
            run_config = config if teachers else config.model_copy(update={"distill_weight": 0.0})
            logger.info("generation %d of %d", generation, config.generations)
            result = train(
                data_dir,
                base_model,
                target,
                run_config,
                device=device,
                teachers=teachers,
                train_examples=train_examples,
            )
            teachers = (target,)
    return result
