"""Soft targets for distillation: trained finsent models as teachers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoTokenizer

from inference.model.data import Example, Task
from inference.model.network import FinsentNet
from training.encoding import encode, predict_logits
from training.metrics import FloatArray, softmax


def teacher_probabilities(
    teacher_dir: Path, examples: Sequence[Example], device: str
) -> dict[Task, FloatArray]:
    """A trained finsent model's calibrated probabilities for both heads, per example.

    The teacher tokenises with its own tokenizer and max length, so it need not
    share the student's base model.
    """
    teacher = FinsentNet.load(teacher_dir).to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(teacher_dir), local_files_only=True)
    data = encode(examples, tokenizer, teacher.heads.max_length)
    sent, topic = predict_logits(teacher, data, int(tokenizer.pad_token_id or 0))
    return {
        "sentiment": softmax(sent, teacher.heads.sentiment_temperature),
        "topic": softmax(topic, teacher.heads.topic_temperature),
    }


def ensemble_probabilities(
    teacher_dirs: Sequence[Path], examples: Sequence[Example], device: str
) -> dict[Task, FloatArray]:
    """The mean of several teachers' calibrated probabilities, per head and example.

    Averaging probabilities (not logits) keeps each teacher's own temperature scaling,
    so a confident but miscalibrated teacher cannot outvote the others.
    """
    if not teacher_dirs:
        raise ValueError("an ensemble needs at least one teacher")
    total: dict[Task, FloatArray] = {}
    for teacher_dir in teacher_dirs:
        for task, probs in teacher_probabilities(teacher_dir, examples, device).items():
            total[task] = total[task] + probs if task in total else probs.copy()
    return {task: probs / len(teacher_dirs) for task, probs in total.items()}


def soft_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` against probability ``targets``, at ``temperature``.

    At T != 1 both sides are softened alike: the student's logits divided by T, and the
    targets raised to 1/T and renormalised, which for one teacher is the softmax of its
    logits over T. The loss is scaled by T^2 so its gradients keep their size (Hinton,
    Vinyals and Dean, 2015). T = 1 is the plain cross-entropy.
    """
    if temperature != 1.0:
        tempered = targets.clamp_min(1e-12) ** (1.0 / temperature)
        targets = tempered / tempered.sum(dim=-1, keepdim=True)
        logits = logits / temperature
    loss = -(targets * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
    return loss * temperature**2
