"""Precision and recall of the ticker tagger on a hand-labelled sample."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from ingest.text import clean_text
from ingest.tickers import TickerTagger


class LabelledText(BaseModel):
    """One line of the sample: a headline and the tickers a person says it is about."""

    text: str
    tickers: list[str]


class TaggerScores(BaseModel):
    samples: int
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    errors: list[str]
    """`text -> got [..] want [..]` for every sample the tagger got wrong."""


def load_sample(path: Path) -> list[LabelledText]:
    lines = path.read_text("utf-8").splitlines()
    return [LabelledText.model_validate_json(line) for line in lines if line.strip()]


def score_tagger(tagger: TickerTagger, sample: list[LabelledText]) -> TaggerScores:
    """Micro-averaged precision/recall over (text, ticker) pairs; order is ignored."""
    tp = fp = fn = 0
    errors = []
    for item in sample:
        got = set(tagger.tag(clean_text(item.text)))
        want = set(item.tickers)
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
        if got != want:
            errors.append(f"{item.text[:80]} -> got {sorted(got)} want {sorted(want)}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return TaggerScores(
        samples=len(sample),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        errors=errors,
    )


def dumps(scores: TaggerScores) -> str:
    return json.dumps(scores.model_dump(), indent=2)
