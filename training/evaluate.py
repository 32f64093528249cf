"""Evaluate a classifier on the official valid files, raw and deduplicated.

``dedup`` drops valid rows whose normalised text also appears in the task's train
file (16.5% of topic valid rows are reposts of train tweets), so it is the figure
to quote. Scores go through the serving path (``Classifier``), so they measure
what is deployed, in its serving precision.

``news_check`` is the sentiment head on 60 formal news headlines written for the project
(checks/README.md): transfer from tweets to RSS prose, a sanity check beside the valid sets.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS
from inference.model.classifier import Classifier
from inference.model.data import TASKS, Example, Task, normalise_text, read_examples
from training.metrics import (
    FloatArray,
    IntArray,
    accuracy,
    confusion,
    expected_calibration_error,
    macro_f1,
    per_class,
    softmax,
)

LABELS: dict[Task, tuple[str, ...]] = {"sentiment": SENTIMENT_LABELS, "topic": TOPIC_LABELS}
NEWS_CHECK = "checks/news_headlines.csv"


def news_check_examples() -> list[tuple[str, int]]:
    """The news headline check: (text, index into SENTIMENT_LABELS)."""
    text = resources.files("training").joinpath(NEWS_CHECK).read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    return [(row["text"], SENTIMENT_LABELS.index(row["label"])) for row in rows]


def _spread(rows: list[Example], limit: int | None) -> list[Example]:
    # Files are grouped by label, so a head slice would hold one class; take
    # evenly spaced rows instead.
    if limit is None or limit >= len(rows):
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def split_metrics(
    logits: FloatArray, labels: IntArray, names: tuple[str, ...], temperature: float
) -> dict[str, Any]:
    """All metrics for one task on one set of rows.

    Args:
        logits: Untempered logits, ``(n, classes)``.
        labels: True class indices.
        names: Class names in logit order.
        temperature: The fitted temperature (for the "after" ECE).

    Returns:
        ``n``, ``accuracy``, ``macro_f1``, ``ece_before`` (T=1),
        ``ece_after`` (fitted T), ``per_class`` and ``confusion_matrix``.
    """
    preds: IntArray = logits.argmax(axis=1)
    return {
        "n": len(labels),
        "accuracy": accuracy(labels, preds),
        "macro_f1": macro_f1(labels, preds, len(names)),
        "ece_before": expected_calibration_error(softmax(logits), labels),
        "ece_after": expected_calibration_error(softmax(logits, temperature), labels),
        "per_class": per_class(labels, preds, names),
        "confusion_matrix": confusion(labels, preds, len(names)),
    }


# texts -> (sentiment logits, topic logits), untempered, in input order
LogitsFn = Callable[[Sequence[str]], tuple[FloatArray, FloatArray]]


def _classifier_logits(classifier: Classifier) -> LogitsFn:
    def logits(texts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        sent, topic = classifier.logits(classifier.tokenize(texts))
        return sent.numpy().astype(np.float64), topic.numpy().astype(np.float64)

    return logits


def evaluate(classifier: Classifier, data_dir: Path, limit: int | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class scores, confusion and ECE for both tasks.

    Args:
        classifier: The model to evaluate (in its serving precision).
        data_dir: Shared data folder with the train and valid CSVs.
        limit: Evaluate at most this many valid rows per task (evenly spaced;
            for tests). Dedup still checks against the full train file.

    Returns:
        ``{"model_version": ..., "sentiment": {...}, "topic": {...}}``; each task has
        ``raw`` and ``dedup`` metric dicts (see ``split_metrics``) and a
        ``temperature`` dict with the fitted value and the one applied at serve time.
    """
    calibration = classifier.heads.train.get("calibration_holdout", {})
    applied: dict[Task, float] = {
        "sentiment": classifier.heads.sentiment_temperature,
        "topic": classifier.heads.topic_temperature,
    }
    fitted = {task: _fitted(calibration, task, applied[task]) for task in TASKS}
    return _report(
        _classifier_logits(classifier), classifier.model_version, fitted, applied, data_dir, limit
    )


def evaluate_ensemble(
    classifiers: Sequence[Classifier], data_dir: Path, limit: int | None = None
) -> dict[str, Any]:
    """``evaluate`` for the mean of several models' calibrated probabilities.

    This is exactly the soft target ``finsent train --teacher A --teacher B`` distils, so
    its score says how much a student taught by this ensemble could learn. The mean is
    already calibrated by each member's temperature: its log is reported as the logits,
    with temperature 1.
    """
    if not classifiers:
        raise ValueError("an ensemble needs at least one model")

    def logits(texts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        sent_probs: list[FloatArray] = []
        topic_probs: list[FloatArray] = []
        for member in classifiers:
            sent, topic = _classifier_logits(member)(texts)
            sent_probs.append(softmax(sent, member.heads.sentiment_temperature))
            topic_probs.append(softmax(topic, member.heads.topic_temperature))
        return np.log(np.mean(sent_probs, axis=0)), np.log(np.mean(topic_probs, axis=0))

    version = "ensemble(" + " + ".join(c.model_version for c in classifiers) + ")"
    ones: dict[Task, float] = {"sentiment": 1.0, "topic": 1.0}
    return _report(logits, version, ones, ones, data_dir, limit)


def _report(
    logits_of: LogitsFn,
    model_version: str,
    fitted: dict[Task, float],
    applied: dict[Task, float],
    data_dir: Path,
    limit: int | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {"model_version": model_version}
    for task in TASKS:
        train = read_examples(data_dir, task, "train")
        valid = _spread(read_examples(data_dir, task, "valid"), limit)
        seen = {normalise_text(e.text) for e in train}
        keep = np.array([normalise_text(e.text) not in seen for e in valid], dtype=bool)
        sent, topic = logits_of([e.text for e in valid])
        logits: FloatArray = sent if task == "sentiment" else topic
        labels: IntArray = np.array([e.label for e in valid], dtype=np.int64)
        report[task] = {
            "raw": split_metrics(logits, labels, LABELS[task], fitted[task]),
            "dedup": split_metrics(logits[keep], labels[keep], LABELS[task], fitted[task]),
            "temperature": {"fitted_on_holdout": fitted[task], "applied": applied[task]},
        }
    news = news_check_examples()
    sent, _ = logits_of([text for text, _ in news])
    report["news_check"] = split_metrics(
        sent,
        np.array([label for _, label in news], dtype=np.int64),
        SENTIMENT_LABELS,
        fitted["sentiment"],
    )
    return report


def _fitted(calibration: object, task: Task, default: float) -> float:
    if isinstance(calibration, dict):
        entry = calibration.get(task)
        if isinstance(entry, dict) and isinstance(entry.get("fitted_temperature"), float):
            return float(entry["fitted_temperature"])
    return default


def format_table(report: dict[str, Any]) -> str:
    """A plain-text summary: one row per task and split, then the worst classes."""
    lines = [
        f"model {report['model_version']}",
        f"{'task':<10} {'split':<6} {'n':>5} {'acc':>6} {'macroF1':>8} {'ECE T=1':>8} {'ECE T':>7}",
    ]
    rows: list[tuple[str, str, Any]] = [
        (task, split, report[task][split]) for task in TASKS for split in ("raw", "dedup")
    ]
    if "news_check" in report:
        rows.append(("news", "check", report["news_check"]))
    for name, split, m in rows:
        lines.append(
            f"{name:<10} {split:<6} {m['n']:>5} {m['accuracy']:>6.3f} {m['macro_f1']:>8.3f} "
            f"{m['ece_before']:>8.3f} {m['ece_after']:>7.3f}"
        )
    for task in TASKS:
        t = report[task]["temperature"]
        lines.append(
            f"{task} temperature: fitted {t['fitted_on_holdout']:.3f}, applied {t['applied']:.3f}"
        )
        per = report[task]["dedup"]["per_class"]
        worst = sorted(per.items(), key=lambda kv: kv[1]["f1"])[:5]
        lines.append(f"{task} dedup, lowest-F1 classes (precision / recall / F1 / support):")
        lines.extend(
            f"  {name:<28} {v['precision']:.3f} / {v['recall']:.3f} / {v['f1']:.3f} / {v['support']}"
            for name, v in worst
        )
    return "\n".join(lines)
