"""Training CLI: eval prints the JSON keys, train guards its output and its teachers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from inference.model.classifier import Classifier
from training.cli import app

SENT_CSV = (
    'text,label\r\n"Stock falls\r\nhard",0\r\nShares soar https://t.co/a,1\r\n'
    "Company files 10-Q,2\r\nGuidance cut,0\r\nRecord revenue,1\r\nMeeting today,2\r\n"
)
TOPIC_CSV = (
    "text,label\r\nFed hikes rates,1\r\nDividend raised &amp; more,4\r\nOil up,6\r\n"
    "Fed minutes https://t.co/b,1\r\nQuarterly earnings beat,5\r\nNew CEO named,17\r\n"
)


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    Classifier.random_tiny().save(folder)
    return folder


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for sub, names, body in (
        ("twitter-financial-news-sentiment", ("sent_train.csv", "sent_valid.csv"), SENT_CSV),
        ("twitter-financial-news-topic", ("train_data.csv", "valid_data.csv"), TOPIC_CSV),
    ):
        (root / sub).mkdir(parents=True)
        (root / sub / names[0]).write_bytes(body.encode())
        # valid = train rows again (one as a repost with a new link) plus one unseen row
        valid = body.replace("https://t.co/a", "https://t.co/zz").replace(
            "https://t.co/b", "https://t.co/yy"
        )
        valid += "Brand new tweet,1\r\n"
        (root / sub / names[1]).write_bytes(valid.encode())
    return root


def test_eval_json_has_the_agreed_keys(
    tiny_model: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINSENT_DATA_DIR", str(data_dir))
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        app, ["eval", "--model", str(tiny_model), "--json", "--metrics-out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads(out.read_text())
    for task in ("sentiment", "topic"):
        for split in ("raw", "dedup"):
            for key in ("accuracy", "macro_f1", "ece_before", "ece_after"):
                assert 0.0 <= report[task][split][key] <= 1.0
        assert report[task]["raw"]["n"] == 7
        assert report[task]["dedup"]["n"] == 1  # only the unseen tweet survives dedup
    assert len(report["topic"]["raw"]["confusion_matrix"]) == 20
    # The news headline check: 60 written headlines, 20 per sentiment class.
    news = report["news_check"]
    assert news["n"] == 60 and 0.0 <= news["accuracy"] <= 1.0
    assert [sum(row) for row in news["confusion_matrix"]] == [20, 20, 20]


def test_eval_writes_the_model_folders_record_only_for_the_default_path(
    tiny_model: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`finsent eval --precision int8` on the shipped model once replaced its metrics.json,
    the record the model card quotes, with int8 figures."""
    monkeypatch.setenv("FINSENT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("FINSENT_PRECISION", raising=False)
    record = tiny_model / "metrics.json"
    for extra in (["--precision", "fp32"], ["--limit", "7"]):
        result = CliRunner().invoke(app, ["eval", "--model", str(tiny_model), *extra])
        assert result.exit_code == 0, result.output
        assert not record.exists(), extra
        assert "--metrics-out" in result.stderr
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    assert json.loads(record.read_text())["sentiment"]["raw"]["n"] == 7


def test_help_texts_render() -> None:
    for command in ("train", "adapt", "eval"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--generations", "2", "--distill-weight", "0"],
        ["--teacher", "some-model", "--distill-weight", "0"],
    ],
)
def test_train_refuses_a_teacher_with_a_zero_weight(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "m"), *args])
    assert result.exit_code == 2
    assert "--distill-weight > 0" in result.output


def test_train_with_a_teacher_records_the_distillation(
    tiny_model: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tiny teacher tokenises with its own vocabulary; the student is the packaged
    # MiniLM, so this also covers a teacher that does not share the student's tokenizer.
    monkeypatch.setenv("FINSENT_DATA_DIR", str(data_dir))
    out = tmp_path / "student"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--out",
            str(out),
            "--max-steps",
            "2",
            "--teacher",
            str(tiny_model),
            "--model-version",
            "finsent-test-9",
            "--distill-gold-weight",
            "0.5",
            "--distill-temperature",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    recipe = json.loads((out / "finsent.json").read_text())["train"]
    assert (recipe["distill_weight"], recipe["generations"], recipe["max_steps"]) == (1.0, 1, 2)
    assert (recipe["distill_gold_weight"], recipe["distill_temperature"]) == (0.5, 2.0)
    # The run's own version, which the scorer stamps on every scored document.
    assert Classifier.load(out, precision="fp32").model_version == "finsent-test-9"


def test_train_needs_an_out_folder_and_never_takes_the_shipped_one() -> None:
    from inference.model.settings import SHIPPED_MODEL_DIR

    missing = CliRunner().invoke(app, ["train", "--max-steps", "1"])
    assert missing.exit_code == 2 and "--out" in missing.output
    before = {p.name: p.stat().st_mtime_ns for p in SHIPPED_MODEL_DIR.iterdir()}
    shipped = CliRunner().invoke(app, ["train", "--out", str(SHIPPED_MODEL_DIR)])
    assert shipped.exit_code == 2 and "--replace-shipped" in shipped.output
    assert {p.name: p.stat().st_mtime_ns for p in SHIPPED_MODEL_DIR.iterdir()} == before


def test_train_and_eval_say_which_extra_they_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a)
    )
    for args in (["train", "--out", str(tmp_path / "m")], ["eval"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, args
        assert "finsent[train]" in result.output, args


def test_eval_of_an_ensemble_scores_the_mean_of_the_members_probabilities(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINSENT_DATA_DIR", str(data_dir))
    members = []
    for seed in (1, 2):
        Classifier.random_tiny(seed=seed).save(tmp_path / f"m{seed}")
        members.append(Classifier.load(tmp_path / f"m{seed}", precision="fp32"))
    args = ["eval", "--ensemble", str(tmp_path / "m1"), "--ensemble", str(tmp_path / "m2")]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model_version"] == "ensemble(random-tiny + random-tiny)"
    # The same figure by hand: the members' temperature-scaled probabilities, averaged.
    from training.evaluate import news_check_examples

    texts = [text for text, _ in news_check_examples()]
    mean = np.mean([[s.sentiment_probs for s in m.score_batch(texts)] for m in members], axis=0)
    labels = np.array([label for _, label in news_check_examples()])
    assert report["news_check"]["accuracy"] == pytest.approx(
        float((mean.argmax(axis=1) == labels).mean())
    )
    assert not list(tmp_path.glob("**/metrics.json"))  # no model folder to write into
    both = CliRunner().invoke(app, [*args, "--model", str(tmp_path / "m1")])
    assert both.exit_code == 2 and "not both" in both.output
