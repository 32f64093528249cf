"""Classification and calibration metrics on plain numpy arrays (no torch)."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def softmax(logits: FloatArray, temperature: float = 1.0) -> FloatArray:
    """Row-wise softmax of ``logits / temperature``."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


def expected_calibration_error(probs: FloatArray, labels: IntArray, n_bins: int = 15) -> float:
    """ECE with equal-width confidence bins (Guo et al. 2017).

    Args:
        probs: ``(n, classes)`` probabilities.
        labels: ``(n,)`` true class indices.
        n_bins: Number of bins over (0, 1].

    Returns:
        Sum over bins of ``|accuracy - mean confidence| * fraction of rows``.
    """
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += abs(correct[in_bin].mean() - confidence[in_bin].mean()) * in_bin.mean()
    return float(ece)


def nll(logits: FloatArray, labels: IntArray, temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / T)``."""
    probs = softmax(logits, temperature)
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(logits: FloatArray, labels: IntArray) -> float:
    """The temperature minimising NLL, by grid search over 0.25-8 (log-spaced).

    A 1-D grid is exact enough (step < 1%) and cannot diverge, unlike LBFGS on a
    few hundred rows.
    """
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 400))
    losses = [nll(logits, labels, float(t)) for t in grid]
    return float(grid[int(np.argmin(losses))])


def accuracy(labels: IntArray, preds: IntArray) -> float:
    """Fraction of exact matches."""
    return float((labels == preds).mean()) if len(labels) else 0.0


def macro_f1(labels: IntArray, preds: IntArray, n_classes: int) -> float:
    """Unweighted mean of per-class F1 over all ``n_classes`` (absent classes score 0)."""
    return float(
        f1_score(labels, preds, labels=list(range(n_classes)), average="macro", zero_division=0)
    )


def per_class(
    labels: IntArray, preds: IntArray, names: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for each class, keyed by label name."""
    p, r, f, s = precision_recall_fscore_support(
        labels, preds, labels=list(range(len(names))), zero_division=0
    )
    return {
        name: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, name in enumerate(names)
    }


def confusion(labels: IntArray, preds: IntArray, n_classes: int) -> list[list[int]]:
    """Confusion matrix, rows = true class, columns = predicted class."""
    matrix = confusion_matrix(labels, preds, labels=list(range(n_classes)))
    return [[int(v) for v in row] for row in matrix]
