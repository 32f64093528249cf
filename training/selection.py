"""Model selection on the holdout: per-task scores, calibration, saving the best."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerBase

from inference.model.data import TASKS, Task
from inference.model.network import FinsentNet, HeadsConfig
from training.encoding import N_CLASSES, Encoded
from training.metrics import (
    FloatArray,
    IntArray,
    accuracy,
    expected_calibration_error,
    fit_temperature,
    macro_f1,
    softmax,
)


def holdout_metrics(
    logits: dict[Task, FloatArray], data: Encoded
) -> tuple[dict[str, float], dict[Task, float], dict[Task, tuple[float, float]]]:
    """Per-task accuracy/macro-F1, fitted temperatures and ECE before/after."""
    metrics: dict[str, float] = {}
    temps: dict[Task, float] = {}
    eces: dict[Task, tuple[float, float]] = {}
    task_arr = np.array(data.task)
    label_arr = np.array(data.label, dtype=np.int64)
    for task in TASKS:
        rows = task_arr == task
        if not rows.any():
            continue
        task_logits = logits[task][rows]
        labels: IntArray = label_arr[rows]
        preds: IntArray = task_logits.argmax(axis=1)
        metrics[f"{task}_accuracy"] = accuracy(labels, preds)
        metrics[f"{task}_macro_f1"] = macro_f1(labels, preds, N_CLASSES[task])
        temps[task] = fit_temperature(task_logits, labels)
        eces[task] = (
            expected_calibration_error(softmax(task_logits), labels),
            expected_calibration_error(softmax(task_logits, temps[task]), labels),
        )
    metrics["score"] = float(np.mean([metrics[k] for k in metrics]))
    return metrics, temps, eces


def save_best(
    net: FinsentNet,
    tokenizer: PreTrainedTokenizerBase,
    out_dir: Path,
    heads: HeadsConfig,
    temps: dict[Task, float],
    eces: dict[Task, tuple[float, float]],
    record: dict[str, float],
) -> None:
    """Write ``net``, its tokenizer and the holdout record to ``out_dir``.

    A fitted temperature is kept only where it lowers holdout ECE, as the serving
    side applies whatever is stored.
    """
    use = {task: temps[task] if eces[task][1] < eces[task][0] else 1.0 for task in temps}
    calibration = {
        task: {
            "fitted_temperature": temps[task],
            "ece_before": eces[task][0],
            "ece_after": eces[task][1],
        }
        for task in temps
    }
    train_record = {**heads.train, "calibration_holdout": calibration, "selected_at": record}
    net.heads = heads.model_copy(
        update={
            "sentiment_temperature": use.get("sentiment", 1.0),
            "topic_temperature": use.get("topic", 1.0),
            "train": train_record,
        }
    )
    net.save(out_dir)
    tokenizer.save_pretrained(str(out_dir))
