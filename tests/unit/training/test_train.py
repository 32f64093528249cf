"""Training: a few steps on a small slice lower the loss and leave a loadable model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import BertModel

import inference.model.hardware as hardware
import training.distill as distill_module
from inference.model.classifier import Classifier
from inference.model.data import TASKS, Example, Task
from inference.model.network import FinsentNet, HeadsConfig
from inference.model.tiny import tiny_bert_config, tiny_tokenizer
from training.encoding import IGNORE, N_CLASSES, encode, predict_logits
from training.metrics import softmax
from training.train import TrainConfig, batch_loss, param_groups, train, train_generations

WORDS = {
    ("sentiment", 0): "shares plunge miss downgrade",
    ("sentiment", 1): "company files report today",
    ("sentiment", 2): "shares soar beat upgrade",
    ("topic", 4): "dividend raised payout",
    ("topic", 14): "inflation gdp jobs report",
    ("topic", 6): "oil opec crude brent",
}


def _examples() -> list[Example]:
    rows = []
    for (task, label), words in WORDS.items():
        for i in range(40):
            rows.append(Example(f"{words} #{i}", task, label))  # type: ignore[arg-type]
    return rows


def _heldout_loss(net: FinsentNet, examples: list[Example]) -> float:
    """Mean cross-entropy of each example's own head, in eval mode (no dropout)."""
    data = encode(examples, tiny_tokenizer(), 64)
    sent, topic = predict_logits(net, data, pad_id=0, bf16=False)
    losses = []
    for logits, task in ((sent, "sentiment"), (topic, "topic")):
        rows = [i for i, t in enumerate(data.task) if t == task]
        target = torch.tensor([data.label[i] for i in rows])
        losses.append(float(F.cross_entropy(torch.from_numpy(logits[rows]), target)))
    return sum(losses) / 2


SMALL_RUN = TrainConfig(
    seed=0,
    epochs=3,
    max_steps=40,
    batch_size=16,
    lr=3e-3,
    head_lr=3e-3,
    warmup_frac=0.05,
    label_smoothing=0.0,
    evals_per_epoch=1,
    patience=10,
    bf16=False,
    model_version="test-run",
)


def _train_tiny(
    examples: list[Example], out: Path, config: TrainConfig, **kwargs: object
) -> FinsentNet:
    net = Classifier.random_tiny(seed=0).net
    train(
        out / "data-unused",
        out / "base-unused",
        out,
        config,
        train_examples=examples,
        net=net,
        tokenizer=tiny_tokenizer(),
        **kwargs,  # type: ignore[arg-type]
    )
    return net


def test_training_a_few_steps_lowers_the_loss_and_saves_a_model(tmp_path: Path) -> None:
    tiny = Classifier.random_tiny(seed=0)
    examples = _examples()
    before = _heldout_loss(tiny.net, examples)
    config = SMALL_RUN
    result = train(
        tmp_path / "data-unused",
        tmp_path / "base-unused",
        tmp_path / "out",
        config,
        train_examples=examples,
        net=tiny.net,
        tokenizer=tiny_tokenizer(),
    )
    assert result.steps == 40
    assert _heldout_loss(tiny.net, examples) < 0.85 * before
    loaded = Classifier.load(tmp_path / "out", precision="fp32")
    assert loaded.model_version == "test-run"
    assert loaded.heads.train["seed"] == 0
    assert (tmp_path / "out" / "train_log.json").is_file()


def _sentiment_probs(net: FinsentNet, texts: list[str]) -> torch.Tensor:
    data = encode([Example(t, "topic", 0) for t in texts], tiny_tokenizer(), 64)
    sent, _ = predict_logits(net, data, pad_id=0, bf16=False)
    return torch.from_numpy(softmax(sent, net.heads.sentiment_temperature))


def test_a_teacher_teaches_the_head_that_has_no_gold_labels(tmp_path: Path) -> None:
    # A confident teacher that disagrees with the student's starting point: a
    # different random net with its sentiment head scaled up.
    teacher = Classifier.random_tiny(seed=1).net
    with torch.no_grad():
        teacher.sentiment_head.weight.mul_(20.0)
    teacher.save(tmp_path / "teacher")
    tiny_tokenizer().save_pretrained(str(tmp_path / "teacher"))
    # The student sees the sentiment texts only as topic rows, so its sentiment head
    # gets no gold label at all: whatever it learns there comes from the teacher.
    topic_only = [Example(e.text, "topic", 4) if e.task == "sentiment" else e for e in _examples()]
    texts = [e.text for e in _examples() if e.task == "sentiment"]
    target = _sentiment_probs(teacher, texts)
    taught = _train_tiny(
        topic_only,
        tmp_path / "taught",
        SMALL_RUN.model_copy(update={"distill_weight": 1.0}),
        teachers=[tmp_path / "teacher"],
    )
    untaught = _train_tiny(topic_only, tmp_path / "untaught", SMALL_RUN)

    def kl_to_teacher(net: FinsentNet) -> float:
        probs = _sentiment_probs(net, texts)
        return float((target * (target / probs).log()).sum(dim=1).mean())

    def agreement(net: FinsentNet) -> float:
        return float((_sentiment_probs(net, texts).argmax(1) == target.argmax(1)).float().mean())

    assert agreement(taught) >= 0.9
    assert agreement(untaught) < 0.5
    assert kl_to_teacher(taught) < 0.1 * kl_to_teacher(untaught)


def _confident_teacher(folder: Path, seed: int) -> FinsentNet:
    teacher = Classifier.random_tiny(seed=seed).net
    with torch.no_grad():
        teacher.sentiment_head.weight.mul_(20.0)
    teacher.save(folder)
    tiny_tokenizer().save_pretrained(str(folder))
    return teacher


def test_an_ensemble_of_teachers_teaches_their_mean(tmp_path: Path) -> None:
    # Two confident teachers that disagree: the student, with no sentiment gold labels,
    # must learn their mean, closer to it than to either teacher alone.
    first = _confident_teacher(tmp_path / "first", seed=1)
    second = _confident_teacher(tmp_path / "second", seed=2)
    topic_only = [Example(e.text, "topic", 4) if e.task == "sentiment" else e for e in _examples()]
    texts = [e.text for e in _examples() if e.task == "sentiment"]
    each = [_sentiment_probs(t, texts) for t in (first, second)]
    assert float((each[0].argmax(1) != each[1].argmax(1)).float().mean()) > 0.2
    mean = (each[0] + each[1]) / 2
    student = _train_tiny(
        topic_only,
        tmp_path / "student",
        SMALL_RUN.model_copy(update={"distill_weight": 1.0}),
        teachers=[tmp_path / "first", tmp_path / "second"],
    )
    probs = _sentiment_probs(student, texts)

    def kl(target: torch.Tensor) -> float:
        return float((target * (target / probs).log()).sum(dim=1).mean())

    assert kl(mean) < 0.5 * min(kl(each[0]), kl(each[1]))
    assert float((probs.argmax(1) == mean.argmax(1)).float().mean()) >= 0.9


def test_ensemble_probabilities_average_the_teachers(tmp_path: Path) -> None:
    _confident_teacher(tmp_path / "a", seed=1)
    _confident_teacher(tmp_path / "b", seed=2)
    rows = _examples()[:10]
    a = distill_module.teacher_probabilities(tmp_path / "a", rows, "cpu")
    b = distill_module.teacher_probabilities(tmp_path / "b", rows, "cpu")
    both = distill_module.ensemble_probabilities([tmp_path / "a", tmp_path / "b"], rows, "cpu")
    for task in ("sentiment", "topic"):
        assert both[task] == pytest.approx((a[task] + b[task]) / 2)
    with pytest.raises(ValueError, match="teacher"):
        distill_module.ensemble_probabilities([], rows, "cpu")


def test_gold_rows_take_soft_targets_only_with_their_own_weight() -> None:
    # Two sentiment rows with gold labels, one topic row (no sentiment gold).
    logits: dict[Task, torch.Tensor] = {
        "sentiment": torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0], [1.0, 1.0, 1.0]]),
        "topic": torch.zeros((3, N_CLASSES["topic"])),
    }
    soft = torch.tensor([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    batch = {
        "sentiment": torch.tensor([0, 1, IGNORE]),
        "topic": torch.tensor([IGNORE, IGNORE, 4]),
        "sentiment_soft": soft,
    }
    gold_losses = {task: torch.nn.CrossEntropyLoss(ignore_index=IGNORE) for task in TASKS}
    gold = sum(float(gold_losses[t](logits[t], batch[t])) for t in TASKS)
    ce = distill_module.soft_cross_entropy
    sent = logits["sentiment"]
    only_missing = SMALL_RUN.model_copy(update={"distill_weight": 0.5})
    assert float(batch_loss(logits, batch, gold_losses, only_missing)) == pytest.approx(
        gold + 0.5 * float(ce(sent[2:], soft[2:]))
    )
    both = only_missing.model_copy(update={"distill_gold_weight": 2.0, "distill_temperature": 2.0})
    assert float(batch_loss(logits, batch, gold_losses, both)) == pytest.approx(
        gold + 0.5 * float(ce(sent[2:], soft[2:], 2.0)) + 2.0 * float(ce(sent[:2], soft[:2], 2.0))
    )


def test_soft_targets_at_a_temperature_are_the_teachers_logits_over_t() -> None:
    student = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    teacher_logits = torch.tensor([[4.0, 0.0, -4.0], [-2.0, 6.0, 1.0]])
    probs = torch.softmax(teacher_logits, dim=-1)
    plain = distill_module.soft_cross_entropy(student, probs)
    assert float(plain) == pytest.approx(
        float(-(probs * torch.log_softmax(student, dim=-1)).sum(-1).mean())
    )
    t = 3.0
    softened = torch.softmax(teacher_logits / t, dim=-1)
    want = -(softened * torch.log_softmax(student / t, dim=-1)).sum(-1).mean() * t * t
    got = distill_module.soft_cross_entropy(student, probs, temperature=t)
    assert float(got) == pytest.approx(float(want), rel=1e-5)


def test_distillation_without_a_teacher_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="teacher"):
        _train_tiny(_examples(), tmp_path, SMALL_RUN.model_copy(update={"distill_weight": 1.0}))


def test_layerwise_lr_decay_gives_lower_layers_smaller_rates() -> None:
    net = Classifier.random_tiny().net
    config = TrainConfig(lr=1e-4, layer_lr_decay=0.5, head_lr=1e-3)
    rates = {}
    for group in param_groups(net, config):
        for p in group["params"]:  # type: ignore[attr-defined]
            rates[id(p)] = group["lr"]
    named = dict(net.named_parameters())
    assert rates[id(named["sentiment_head.weight"])] == pytest.approx(1e-3)
    assert rates[id(named["encoder.encoder.layer.1.attention.self.query.weight"])] == pytest.approx(
        1e-4
    )
    assert rates[id(named["encoder.encoder.layer.0.attention.self.query.weight"])] == pytest.approx(
        5e-5
    )
    assert rates[id(named["encoder.embeddings.word_embeddings.weight"])] == pytest.approx(2.5e-5)


def test_heads_config_rejects_non_positive_temperature() -> None:
    with pytest.raises(ValueError):
        HeadsConfig(topic_temperature=0.0)
    assert torch.get_num_threads() >= 1


def test_each_generation_is_taught_by_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer = tiny_tokenizer()
    base = tmp_path / "base"
    BertModel(tiny_bert_config(len(tokenizer))).save_pretrained(base)
    tokenizer.save_pretrained(str(base))
    teachers: list[dict[str, object]] = []
    real = distill_module.teacher_probabilities

    def recording(teacher_dir: Path, examples: list[Example], device: str) -> object:
        teachers.append(FinsentNet.load(teacher_dir).heads.train)
        return real(teacher_dir, examples, device)

    monkeypatch.setattr(distill_module, "teacher_probabilities", recording)
    config = SMALL_RUN.model_copy(update={"max_steps": 8, "generations": 3, "distill_weight": 1.0})
    train_generations(
        tmp_path / "data-unused", base, tmp_path / "out", config, train_examples=_examples()
    )
    # Generation 1 is plain; 2 is taught by it, 3 by 2. Only the last is kept.
    assert [(t["generations"], t["distill_weight"]) for t in teachers] == [(3, 0.0), (3, 1.0)]
    shipped = json.loads((tmp_path / "out" / "finsent.json").read_text())["train"]
    assert (shipped["generations"], shipped["distill_weight"]) == (3, 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "out"]


@pytest.mark.parametrize("native", [False, True], ids=["emulated-bf16", "native-bf16"])
def test_training_precision_follows_the_hardware_and_the_recipe_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    # The default is decided per machine, never assumed: a CPU without native bf16
    # trains in fp32 (emulated bf16 autocast was 2.9x slower per step on AVX-512 VNNI).
    monkeypatch.setattr(hardware, "bf16_native", lambda device: native)
    config = SMALL_RUN.model_copy(update={"bf16": None, "max_steps": 2})
    _train_tiny(_examples(), tmp_path, config)
    recorded = Classifier.load(tmp_path, precision="fp32").heads.train["bf16"]
    assert recorded is native
