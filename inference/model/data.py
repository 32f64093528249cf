"""Reading the labelled tweet CSVs, normalising and deduplicating text, splits and batches.

The CSVs are UTF-8 with CRLF line endings and newlines inside quoted fields, so they
are read with the ``csv`` module, never line by line. Rows are grouped by label, so
everything that splits or batches shuffles first.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from finsent.errors import ConfigurationError
from finsent.labels import SENTIMENT_DATASET_ID_TO_LABEL, SENTIMENT_LABELS, TOPIC_LABELS

Task = Literal["sentiment", "topic"]
Split = Literal["train", "valid"]
TASKS: tuple[Task, ...] = ("sentiment", "topic")

_FILES: dict[tuple[Task, Split], str] = {
    ("sentiment", "train"): "twitter-financial-news-sentiment/sent_train.csv",
    ("sentiment", "valid"): "twitter-financial-news-sentiment/sent_valid.csv",
    ("topic", "train"): "twitter-financial-news-topic/train_data.csv",
    ("topic", "valid"): "twitter-financial-news-topic/valid_data.csv",
}

_URL = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text for one task.

    Attributes:
        text: The raw tweet text.
        task: Which head the label belongs to; the other head's loss is masked.
        label: Index into ``SENTIMENT_LABELS`` or ``TOPIC_LABELS`` (our order, not
            the dataset's ids).
    """

    text: str
    task: Task
    label: int


def normalise_text(text: str) -> str:
    """The key used to detect near-duplicates between train and valid.

    URLs removed, ``&amp;`` decoded, whitespace collapsed, lowercased. Reposts of one
    tweet with a new t.co link map to the same key.
    """
    text = _URL.sub(" ", text).replace("&amp;", "&")
    return _SPACE.sub(" ", text).strip().lower()


def prepare_text(text: str) -> str:
    """The text the model sees, in training and at serve time alike.

    Each t.co link is replaced by the word ``http``: the random link ids carry no
    signal but cost 12-18 word pieces each, and replacing them cuts the mean
    sequence from 44 to 28 tokens on the topic set (and lets 98.5% of topic
    tweets fit in 64 tokens instead of 93%). ``&amp;`` is decoded because the
    topic set leaves HTML entities in.
    """
    return _URL.sub("http", text).replace("&amp;", "&")


def data_file(data_dir: Path, task: Task, split: Split) -> Path:
    """Path of one CSV under ``data_dir``."""
    return data_dir / _FILES[(task, split)]


def _label_index(task: Task, dataset_id: int) -> int:
    if task == "sentiment":
        return SENTIMENT_LABELS.index(SENTIMENT_DATASET_ID_TO_LABEL[dataset_id])
    if not 0 <= dataset_id < len(TOPIC_LABELS):
        raise ValueError(f"topic id {dataset_id} out of range")
    return dataset_id


def read_examples(data_dir: Path, task: Task, split: Split) -> list[Example]:
    """Read one split of one task, with labels mapped to our label order.

    Args:
        data_dir: The shared data folder.
        task: ``"sentiment"`` or ``"topic"``.
        split: ``"train"`` or ``"valid"``.

    Returns:
        The examples in file order (which is grouped by label).

    Raises:
        ConfigurationError: the file is not there (``FINSENT_DATA_DIR`` points elsewhere).
    """
    path = data_file(data_dir, task, split)
    if not path.is_file():  # an operator's setting, not our fault: no traceback (cli/errors)
        raise ConfigurationError(
            f"no {task} {split} data at {path}: set FINSENT_DATA_DIR to the folder holding "
            "twitter-financial-news-sentiment/ and twitter-financial-news-topic/ "
            "(the project's shared/data, see its SOURCES.md)"
        )
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Example(text=row["text"], task=task, label=_label_index(task, int(row["label"])))
            for row in csv.DictReader(handle)
        ]


def dedup_against(valid: Sequence[Example], train: Sequence[Example]) -> list[Example]:
    """Drop valid rows whose normalised text also appears in train (the leak)."""
    seen = {normalise_text(e.text) for e in train}
    return [e for e in valid if normalise_text(e.text) not in seen]


def stratified_split(
    examples: Sequence[Example], holdout_frac: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Split into (train, holdout) with ``holdout_frac`` of every label held out.

    Near-duplicates are kept on the same side: all rows sharing a normalised text go
    to the side of the first one drawn, so the holdout is not inflated by reposts
    (train has ~1.6k near-duplicate rows).

    Args:
        examples: Rows of one task.
        holdout_frac: Fraction of each label to hold out (rounded, at least 1 per
            label with 2+ rows).
        seed: Shuffle seed.

    Returns:
        ``(train, holdout)``, both shuffled.
    """
    rng = random.Random(seed)
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[normalise_text(example.text)].append(example)
    by_label: dict[int, list[list[Example]]] = defaultdict(list)
    for group in groups.values():
        by_label[group[0].label].append(group)
    train: list[Example] = []
    holdout: list[Example] = []
    for label in sorted(by_label):
        label_groups = by_label[label]
        rng.shuffle(label_groups)
        total = sum(len(g) for g in label_groups)
        want = max(1, round(total * holdout_frac)) if total > 1 else 0
        taken = 0
        for group in label_groups:
            if taken < want:
                holdout.extend(group)
                taken += len(group)
            else:
                train.extend(group)
    rng.shuffle(train)
    rng.shuffle(holdout)
    return train, holdout


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, seed: int, bucket_batches: int = 50
) -> list[list[int]]:
    """Indices grouped into batches of similar length, in random order.

    Shuffle, cut into chunks of ``batch_size * bucket_batches``, sort each chunk by
    length, cut into batches, then shuffle the batches. Batches stay random across
    the epoch but pad little (tweets run 10-60 tokens).

    Args:
        lengths: Token count of each example.
        batch_size: Examples per batch (the last one may be smaller).
        seed: Shuffle seed (pass a different one each epoch).
        bucket_batches: How many batches one sorted chunk spans.

    Returns:
        A list of batches, each a list of indices into ``lengths``.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * bucket_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def iter_chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
