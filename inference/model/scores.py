"""What the model returns: a batch's scores as arrays, and one text's score as a tuple."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, cast

import numpy as np

from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS, SentimentLabel

_POSITIVE = SENTIMENT_LABELS.index("positive")
_NEGATIVE = SENTIMENT_LABELS.index("negative")


class TextScore(NamedTuple):
    """Both heads' output for one text (an immutable tuple: cheap to build per text).

    Attributes:
        sentiment: The most probable sentiment label.
        sentiment_probs: Probabilities in ``SENTIMENT_LABELS`` order
            (negative, neutral, positive), temperature-scaled.
        score: Signed sentiment ``P(positive) - P(negative)``, in [-1, 1].
        topic: The most probable topic, one of ``TOPIC_LABELS``.
        topic_probs: Probabilities in ``TOPIC_LABELS`` order, temperature-scaled.
    """

    sentiment: SentimentLabel
    sentiment_probs: tuple[float, float, float]
    score: float
    topic: str
    topic_probs: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ScoreArrays:
    """A batch's scores as arrays, in input order: what the model produces, per batch.

    Building a validated object per text cost 64% of the scoring thread's time on a GPU
    (docs/benchmarks.md); arrays cost one softmax per batch, and ``rows`` turns them into
    ``TextScore`` tuples only where a caller wants per-text objects.

    Attributes:
        sentiment_probs: ``(n, 3)`` float32, temperature-scaled, ``SENTIMENT_LABELS`` order.
        topic_probs: ``(n, len(TOPIC_LABELS))`` float32, temperature-scaled.
    """

    sentiment_probs: np.ndarray
    topic_probs: np.ndarray

    def __len__(self) -> int:
        return int(self.sentiment_probs.shape[0])

    @property
    def score(self) -> np.ndarray:
        """Signed sentiment ``P(positive) - P(negative)`` per text."""
        return cast(
            np.ndarray, self.sentiment_probs[:, _POSITIVE] - self.sentiment_probs[:, _NEGATIVE]
        )

    @property
    def sentiment_index(self) -> np.ndarray:
        """Index of the most probable sentiment per text."""
        return cast(np.ndarray, self.sentiment_probs.argmax(axis=1))

    @property
    def topic_index(self) -> np.ndarray:
        """Index of the most probable topic per text."""
        return cast(np.ndarray, self.topic_probs.argmax(axis=1))

    def rows(self) -> list[TextScore]:
        """One ``TextScore`` per text (Python floats, made in C by ``tolist``)."""
        sent_rows = cast(list[list[float]], self.sentiment_probs.tolist())
        topic_rows = cast(list[list[float]], self.topic_probs.tolist())
        return [
            TextScore(
                SENTIMENT_LABELS[si],
                (sp[0], sp[1], sp[2]),
                sp[_POSITIVE] - sp[_NEGATIVE],
                TOPIC_LABELS[ti],
                tuple(tp),
            )
            for si, ti, sp, tp in zip(
                self.sentiment_index.tolist(),
                self.topic_index.tolist(),
                sent_rows,
                topic_rows,
                strict=True,
            )
        ]
