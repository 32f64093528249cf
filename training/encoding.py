"""Training examples tokenised once, padded per batch, and scored by a net.

Shared by training (``train``), model selection (``selection``) and the teachers of
distillation (``distill``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS
from inference.model.data import TASKS, Example, Task, prepare_text
from inference.model.hardware import autocast_bf16
from inference.model.network import FinsentNet
from training.metrics import FloatArray

N_CLASSES: dict[Task, int] = {"sentiment": len(SENTIMENT_LABELS), "topic": len(TOPIC_LABELS)}
IGNORE = -100
"""The label of a row for the head it has no gold label for (masked out of the loss)."""


@dataclass(frozen=True)
class Encoded:
    """Examples tokenised once up front; batches are padded from these lists."""

    ids: list[list[int]]
    task: list[Task]
    label: list[int]
    soft: dict[Task, FloatArray] = field(default_factory=dict)

    def lengths(self) -> list[int]:
        """Token count per example."""
        return [len(x) for x in self.ids]


def encode(
    examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> Encoded:
    """Tokenise ``examples`` (after ``prepare_text``) without padding."""
    ids = tokenizer(
        [prepare_text(e.text) for e in examples], truncation=True, max_length=max_length
    )["input_ids"]
    return Encoded(
        ids=list(ids), task=[e.task for e in examples], label=[e.label for e in examples]
    )


def collate(data: Encoded, index: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad one batch to its longest row; labels of the other task are ``IGNORE``.

    With teacher targets, ``<task>_soft`` holds each row's teacher probabilities.
    """
    width = max(len(data.ids[i]) for i in index)
    input_ids = torch.full((len(index), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(index), width), dtype=torch.long)
    labels = {task: torch.full((len(index),), IGNORE, dtype=torch.long) for task in TASKS}
    for row, i in enumerate(index):
        ids = data.ids[i]
        input_ids[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1
        labels[data.task[i]][row] = data.label[i]
    batch = {
        "input_ids": input_ids,
        "attention_mask": mask,
        "sentiment": labels["sentiment"],
        "topic": labels["topic"],
    }
    for task, probs in data.soft.items():
        batch[f"{task}_soft"] = torch.from_numpy(probs[list(index)]).float()
    return batch


@torch.inference_mode()
def predict_logits(
    net: FinsentNet,
    data: Encoded,
    pad_id: int,
    batch_size: int = 128,
    bf16: bool | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Untempered logits of both heads for every example, in input order.

    ``bf16=None`` autocasts only where the net's device computes bf16 natively
    (``bf16_native``): a teacher labelling the train sets on a CPU without it ran about
    3x slower in emulated bf16 than in fp32.
    """
    net.eval()
    order = sorted(range(len(data.ids)), key=lambda i: len(data.ids[i]))
    sent = np.zeros((len(order), N_CLASSES["sentiment"]))
    topic = np.zeros((len(order), N_CLASSES["topic"]))
    device = next(net.parameters()).device
    bf16 = autocast_bf16(str(device), bf16)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = collate(data, index, pad_id)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            s, t = net(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        sent[index] = s.float().cpu().numpy()
        topic[index] = t.float().cpu().numpy()
    return sent, topic
