"""Classifier: shapes, order, save/load round trip, precision paths, token counts."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS
from inference.model.classifier import Classifier
from inference.model.data import Task, normalise_text, prepare_text, read_examples
from inference.model.scores import TextScore
from inference.model.settings import SHIPPED_MODEL_DIR, ModelSettings

TEXTS = [
    "$AAPL beats estimates, shares jump 5% https://t.co/abc",
    "",
    "Fed holds rates steady &amp; signals two cuts",
    "Oil slides as OPEC+ output rises",
    "up " * 300,
    "Dividend raised to $0.25 per share",
]


def _close(a: list[TextScore], b: list[TextScore], atol: float) -> bool:
    return all(
        math.isclose(p, q, abs_tol=atol)
        for x, y in zip(a, b, strict=True)
        for p, q in zip(
            x.sentiment_probs + x.topic_probs, y.sentiment_probs + y.topic_probs, strict=True
        )
    )


def test_random_tiny_builds_fast_and_scores_with_real_label_sets() -> None:
    Classifier.random_tiny()  # first call pays one-off imports and kernel setup
    started = time.perf_counter()
    clf = Classifier.random_tiny(seed=1)
    assert time.perf_counter() - started < 1.0
    scores = clf.score_batch(TEXTS)
    assert len(scores) == len(TEXTS)
    for s in scores:
        assert s.sentiment in SENTIMENT_LABELS and s.topic in TOPIC_LABELS
        assert len(s.sentiment_probs) == 3 and len(s.topic_probs) == 20
        assert math.isclose(sum(s.sentiment_probs), 1.0, abs_tol=1e-5)
        assert math.isclose(sum(s.topic_probs), 1.0, abs_tol=1e-5)
        assert math.isclose(s.score, s.sentiment_probs[2] - s.sentiment_probs[0], abs_tol=1e-7)
        assert s.sentiment == SENTIMENT_LABELS[max(range(3), key=s.sentiment_probs.__getitem__)]
    assert clf.score_batch([]) == []


def test_batching_and_sorting_preserve_input_order() -> None:
    clf = Classifier.random_tiny(micro_batch_size=2)  # 3 micro-batches, sorted by length
    batched = clf.score_batch(TEXTS)
    single = [clf.score_batch([t])[0] for t in TEXTS]
    assert _close(batched, single, atol=1e-5)


def test_tokenize_then_score_encoded_equals_score_batch() -> None:
    clf = Classifier.random_tiny()
    assert clf.score_encoded(clf.tokenize(TEXTS)) == clf.score_batch(TEXTS)


def test_count_tokens_matches_padded_batches_and_truncates() -> None:
    clf = Classifier.random_tiny()
    counts = clf.count_tokens(TEXTS)
    assert counts[1] == 2  # [CLS] [SEP]
    assert max(counts) == clf.heads.max_length  # the 300-word text is cut
    encoded = clf.tokenize(TEXTS)
    masks = torch.cat([m.sum(dim=1) for _, m in encoded.chunks]).tolist()
    assert sorted(masks) == sorted(counts)


def test_text_score_is_frozen() -> None:
    score = Classifier.random_tiny().score_batch(["a"])[0]
    with pytest.raises(AttributeError):
        score.topic = "Macro"  # type: ignore[misc]


def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    original = Classifier.random_tiny()
    original.save(tmp_path / "a")
    first = Classifier.load(tmp_path / "a", precision="fp32")
    # Saved weights are fp16: the first load differs from the fp32 original only by
    # fp16 rounding; every later save/load cycle is exact.
    assert _close(original.score_batch(TEXTS), first.score_batch(TEXTS), atol=2e-3)
    first.save(tmp_path / "b")
    second = Classifier.load(tmp_path / "b", precision="fp32")
    assert first.score_batch(TEXTS) == second.score_batch(TEXTS)
    assert second.model_version == "random-tiny"


def test_bf16_path_agrees_with_fp32_on_tiny_model(tmp_path: Path) -> None:
    Classifier.random_tiny().save(tmp_path)
    fp32 = Classifier.load(tmp_path, precision="fp32").score_batch(TEXTS)
    bf16 = Classifier.load(tmp_path, precision="bf16").score_batch(TEXTS)
    assert _close(fp32, bf16, atol=0.02)


@pytest.mark.skipif(
    not (SHIPPED_MODEL_DIR / "model.safetensors").is_file(), reason="no shipped model"
)
def test_shipped_model_bf16_matches_fp32_within_tolerance() -> None:
    """The serving default (bf16 weights) against fp32 on 300 real or fixed texts.

    Tolerance: every probability within 0.05 and >= 98% argmax agreement per head
    (measured on the full valid sets: see docs/model.md).
    """
    data_dir = ModelSettings().data_dir
    if (data_dir / "twitter-financial-news-topic" / "valid_data.csv").is_file():
        rows = read_examples(data_dir, "topic", "valid") + read_examples(
            data_dir, "sentiment", "valid"
        )
        texts = [rows[i * len(rows) // 300].text for i in range(300)]  # spread over both files
    else:
        texts = TEXTS * 50
    fp32 = Classifier.load(precision="fp32").score_batch(texts)
    bf16 = Classifier.load(precision="bf16").score_batch(texts)
    assert _close(fp32, bf16, atol=0.05)
    sent_agree = sum(a.sentiment == b.sentiment for a, b in zip(fp32, bf16, strict=True))
    topic_agree = sum(a.topic == b.topic for a, b in zip(fp32, bf16, strict=True))
    assert sent_agree >= 0.98 * len(texts) and topic_agree >= 0.98 * len(texts)


@pytest.mark.skipif(
    not (SHIPPED_MODEL_DIR / "model.safetensors").is_file(), reason="no shipped model"
)
def test_scores_do_not_depend_on_how_texts_are_batched() -> None:
    """A replay batches texts differently from live traffic; the series must not change.

    Every text is padded to its own width, so its probabilities match whichever
    batch it shares (torch paths; the residue is float32 rounding). The int8 path
    has its own test, bit for bit.
    """
    words = [
        "shares",
        "of",
        "the",
        "bank",
        "fell",
        "after",
        "weak",
        "guidance",
        "while",
        "analysts",
        "cut",
        "targets",
    ]
    texts = [" ".join(words[: 2 + i % len(words)]) * (1 + i % 4) for i in range(120)]
    clf = Classifier.load(precision="fp32")
    whole = clf.score_batch(texts)
    pieces = [s for start in range(0, 120, 7) for s in clf.score_batch(texts[start : start + 7])]
    assert [s.sentiment for s in whole] == [s.sentiment for s in pieces]
    assert [s.topic for s in whole] == [s.topic for s in pieces]
    assert _close(whole, pieces, atol=1e-5)


@pytest.mark.skipif(
    not (SHIPPED_MODEL_DIR / "model.safetensors").is_file(), reason="no shipped model"
)
def test_frozen_graph_scores_exactly_like_eager() -> None:
    """CPU serving runs a frozen TorchScript graph; it must not change a single bit."""
    texts = TEXTS + [f"$XOM {'falls ' * (i % 9)}after the oil report {i}" for i in range(60)]
    frozen = Classifier.load(precision="fp32")
    eager = Classifier.load(precision="fp32", frozen=False)
    assert frozen.frozen and not eager.frozen
    assert frozen.score_batch(texts) == eager.score_batch(texts)


def _dedup_valid(task: Task) -> tuple[list[str], list[int]]:
    """One task's valid rows whose text is not in its train set."""
    data_dir = ModelSettings().data_dir
    seen = {normalise_text(e.text) for e in read_examples(data_dir, task, "train")}
    valid = [
        e for e in read_examples(data_dir, task, "valid") if normalise_text(e.text) not in seen
    ]
    return [e.text for e in valid], [e.label for e in valid]


NO_DATA = not (
    ModelSettings().data_dir / "twitter-financial-news-topic" / "valid_data.csv"
).is_file()


@pytest.mark.skipif(
    not (SHIPPED_MODEL_DIR / "model.safetensors").is_file() or NO_DATA,
    reason="no shipped model or no data folder (FINSENT_DATA_DIR)",
)
def test_int8_accuracy_within_0_3_points_of_fp32_on_the_dedup_valid_sets() -> None:
    """The int8 ONNX Runtime path against fp32 torch on every dedup valid row of each task.

    docs/model.md, 1.2.0: fp32 0.8859 / 0.8921, int8 per text 0.8880 / 0.8915 accuracy.
    The whole sets, not a slice: on 500 rows one text is 0.2 points, so a slice could
    not tell the issue's 0.3-point bar from noise (a 500-row topic slice measured -0.4).
    """
    fp32 = Classifier.load(precision="fp32")
    int8 = Classifier.load(precision="int8")
    assert (int8.precision, int8.runtime) == ("int8", "onnxruntime")
    tasks: tuple[tuple[Task, int], ...] = (("sentiment", 0), ("topic", 1))
    for task, head in tasks:
        texts, labels = _dedup_valid(task)
        want = torch.tensor(labels)
        acc = {
            name: (clf.logits(clf.tokenize(texts))[head].argmax(dim=1) == want).float().mean()
            for name, clf in (("fp32", fp32), ("int8", int8))
        }
        assert float(acc["int8"]) >= float(acc["fp32"]) - 0.003, (task, acc)


@pytest.mark.skipif(
    not (SHIPPED_MODEL_DIR / "model.safetensors").is_file(), reason="no shipped model"
)
def test_int8_scores_do_not_depend_on_batch_mates_or_threads() -> None:
    """int8 quantises activations with one range per ONNX Runtime call; each text is its
    own call, so its scores are the same bits in any batch, micro-batch or worker count.

    Before per-text calls, one range per micro-batch moved 2.7% of real tweets' labels
    between batchings (docs/model.md), and a replay could not reproduce live scores.
    """
    texts = TEXTS + [f"$XOM {'falls ' * (i % 9)}after the oil report {i}" for i in range(114)]
    clf = Classifier.load(precision="int8")
    whole = clf.score_batch(texts)
    pieces = [s for start in range(0, 120, 7) for s in clf.score_batch(texts[start : start + 7])]
    assert whole == pieces
    assert Classifier.load(precision="int8", micro_batch_size=5).score_batch(texts) == whole
    torch_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if torch_threads > 1 else 2)  # other worker count
        assert Classifier.load(precision="int8").score_batch(texts) == whole
    finally:
        torch.set_num_threads(torch_threads)


def test_loading_int8_logs_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ONNX Runtime's quantiser warns on the root logger to run its optional pre-processing;
    that would be a WARNING on every start of a service or command that serves int8."""
    Classifier.random_tiny().save(tmp_path)
    with caplog.at_level(logging.WARNING):
        clf = Classifier.load(tmp_path, precision="int8")
    assert clf.runtime == "onnxruntime"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert len(clf.score_batch(TEXTS)) == len(TEXTS)


def test_score_arrays_match_rows_and_keep_input_order() -> None:
    clf = Classifier.random_tiny(micro_batch_size=2)
    arrays = clf.score_arrays(clf.tokenize(TEXTS))
    rows = clf.score_batch(TEXTS)
    assert len(arrays) == len(TEXTS) and arrays.rows() == rows
    assert arrays.score.tolist() == pytest.approx([r.score for r in rows], abs=1e-6)
    assert [SENTIMENT_LABELS[i] for i in arrays.sentiment_index] == [r.sentiment for r in rows]
    assert [TOPIC_LABELS[i] for i in arrays.topic_index] == [r.topic for r in rows]


def test_vectorised_padding_matches_each_texts_own_ids() -> None:
    clf = Classifier.random_tiny(micro_batch_size=2)
    encoded = clf.tokenize(TEXTS)
    rows = [
        row for ids, mask in encoded.chunks for row in zip(ids.tolist(), mask.tolist(), strict=True)
    ]
    for position, (ids, mask) in zip(encoded.order, rows, strict=True):
        own = clf._fast.encode(prepare_text(TEXTS[position])).ids
        assert ids[: len(own)] == own and sum(mask) == len(own)
        assert len(ids) % 16 == 0 and len(ids) - len(own) < 16
        assert set(ids[len(own) :]) <= {clf._pad_id}


def test_freezing_falls_back_to_eager_when_tracing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Classifier.random_tiny().save(tmp_path)
    assert Classifier.load(tmp_path, precision="fp32", frozen=True).frozen

    def broken_trace(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(torch.jit, "trace", broken_trace)
    clf = Classifier.load(tmp_path, precision="fp32", frozen=True)
    assert not clf.frozen
    assert len(clf.score_batch(TEXTS)) == len(TEXTS)


def test_freezing_falls_back_to_eager_when_the_graph_disagrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Classifier.random_tiny().save(tmp_path)
    real_freeze = torch.jit.freeze

    def off_by_one(module: torch.jit.ScriptModule) -> object:
        graph = real_freeze(module)
        return lambda ids, mask: tuple(x + 1 for x in graph(ids, mask))

    monkeypatch.setattr(torch.jit, "freeze", off_by_one)
    assert not Classifier.load(tmp_path, precision="fp32", frozen=True).frozen


def test_micro_batch_size_follows_the_device_type() -> None:
    """A GPU takes 1,024 texts per forward pass, a CPU 64 (docs/benchmarks.md, section 3).

    On one H200, 64 texts per pass (once the default everywhere) held the model alone to
    about 23k texts/s; 1,024 reached 160k at batches of 4,096. ``tokenize`` runs on the CPU
    whatever the device, so no GPU is needed to see the split.
    """
    tiny = Classifier.random_tiny()
    texts = ["same length text"] * 2100  # one padded width: chunks are micro-batches
    for device, size in (("cpu", 64), ("cuda:0", 1024)):
        clf = Classifier(tiny.net, tiny._tokenizer, device, frozen=False)
        chunks = clf.tokenize(texts).chunks
        assert [len(ids) for ids, _ in chunks[:2]] == [size, size]
        assert sum(len(ids) for ids, _ in chunks) == len(texts)
    explicit = Classifier(tiny.net, tiny._tokenizer, "cuda:0", micro_batch_size=100, frozen=False)
    assert len(explicit.tokenize(texts).chunks[0][0]) == 100


def test_freezing_logs_nothing_about_training_losses() -> None:
    """Tracing read transformers' ``loss_function`` and logged "loss_type=None ..." at
    every start of every service (a fresh process: transformers logs it once per process).
    """
    code = (
        "from inference.model.classifier import Classifier\n"
        "tiny = Classifier.random_tiny()\n"
        "clf = Classifier(tiny.net, tiny._tokenizer, 'cpu', frozen=True)\n"
        "assert clf.frozen\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "loss_type" not in done.stderr + done.stdout
