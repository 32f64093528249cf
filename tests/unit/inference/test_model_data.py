"""Data helpers: CSV parsing, normalisation, dedup, stratified split, bucketing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from inference.model.data import (
    Example,
    dedup_against,
    length_bucketed_batches,
    normalise_text,
    prepare_text,
    read_examples,
    stratified_split,
)


def test_normalise_text_drops_urls_entities_case_and_spaces() -> None:
    a = "Fed hikes  rates &amp; more https://t.co/AbC123\r\nnow"
    b = "fed hikes rates & more https://t.co/zzz now"
    assert normalise_text(a) == normalise_text(b) == "fed hikes rates & more now"


def test_prepare_text_replaces_links_with_one_word() -> None:
    assert prepare_text("Up 5% https://t.co/q2fX &amp; more") == "Up 5% http & more"


def test_read_examples_handles_crlf_and_embedded_newlines(tmp_path: Path) -> None:
    folder = tmp_path / "twitter-financial-news-sentiment"
    folder.mkdir()
    (folder / "sent_train.csv").write_bytes(
        b'text,label\r\n"two\r\nlines",0\r\nbullish tweet,1\r\nplain,2\r\n'
    )
    rows = read_examples(tmp_path, "sentiment", "train")
    # Dataset ids 0 Bearish, 1 Bullish, 2 Neutral -> our order negative, neutral, positive.
    assert [(r.text, r.label) for r in rows] == [
        ("two\r\nlines", 0),
        ("bullish tweet", 2),
        ("plain", 1),
    ]


def test_dedup_against_removes_near_duplicates_only() -> None:
    train = [Example("Stocks up https://t.co/a", "topic", 1)]
    valid = [Example("stocks  UP https://t.co/b", "topic", 1), Example("Stocks down", "topic", 2)]
    assert [e.text for e in dedup_against(valid, train)] == ["Stocks down"]


def test_stratified_split_keeps_label_shares_and_duplicate_groups_together() -> None:
    rows = [Example(f"text {i}", "topic", i % 4) for i in range(400)]
    rows += [
        Example("repost https://t.co/x", "topic", 0),
        Example("repost https://t.co/y", "topic", 0),
    ]
    train, holdout = stratified_split(rows, 0.1, seed=1)
    assert len(train) + len(holdout) == len(rows)
    counts = Counter(e.label for e in holdout)
    assert all(9 <= counts[label] <= 12 for label in range(4))
    sides = {"train" if e in train else "holdout" for e in rows if e.text.startswith("repost")}
    assert len(sides) == 1


def test_length_bucketed_batches_cover_every_index_once_with_little_padding() -> None:
    lengths = [(i * 37) % 60 + 5 for i in range(1000)]
    batches = length_bucketed_batches(lengths, batch_size=32, seed=0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert padded / sum(lengths) < 1.1
