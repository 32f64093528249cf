"""Typer commands for training the model: ``train``, ``adapt``, ``eval``.

``app`` holds all three; the top-level ``finsent`` CLI mounts them one by one (``finsent
train``, ``finsent adapt``, ``finsent eval``). The ``finsent teachers`` commands are in
``teachers_cmd``; ``classify`` and ``bench model`` serve the shipped model and stay in
``inference.model``.

Heavy imports (torch, transformers, sklearn) happen inside the commands so that ``finsent
--help`` stays fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from inference.model.cli_options import (
    DeviceOpt,
    ModelOpt,
    PrecisionOpt,
    precision_choice,
    set_threads,
)
from inference.model.settings import SHIPPED_MODEL_DIR, ModelSettings

app = typer.Typer(
    help="Train, adapt and evaluate finsent's sentiment + topic model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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


@app.command()
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
    distill_gold_weight: Annotated[
        float | None,
        typer.Option(
            help="Weight of the teacher's soft targets on rows that have a gold label for "
            "the head too, beside that label (classic distillation). Default: 0."
        ),
    ] = None,
    distill_temperature: Annotated[
        float | None,
        typer.Option(
            help="Temperature of the soft targets: student logits over T, teacher "
            "probabilities to the power 1/T, loss times T^2. Default: 1."
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
    model_version: Annotated[
        str | None,
        typer.Option(
            help="Version string written into the model and onto every score it makes "
            "(default: the recipe's, finsent-minilm-1.0.0). Give each run its own, so scores "
            "in Redis and on Kafka say which model made them.",
        ),
    ] = None,
    bf16: Annotated[
        bool | None,
        typer.Option(
            "--bf16/--fp32",
            help="Autocast to bf16, or train in fp32. Default: bf16 where the hardware has "
            "it natively (CUDA, AMX or AVX-512 BF16), fp32 elsewhere, where emulated bf16 "
            "is about 3x slower per step.",
            show_default=False,
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
    from training.train import TrainConfig, train_generations

    settings = ModelSettings()
    served = {SHIPPED_MODEL_DIR.resolve(), settings.model_dir.resolve()}
    if out.resolve() in served and not replace_shipped:
        raise typer.BadParameter(
            f"{out} holds the model finsent serves; pass --replace-shipped to overwrite it",
            param_hint="--out",
        )
    set_threads(settings)
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
    if distill_gold_weight is not None:
        overrides["distill_gold_weight"] = distill_gold_weight
    if distill_temperature is not None:
        overrides["distill_temperature"] = distill_temperature
    if model_version is not None:
        overrides["model_version"] = model_version
    if bf16 is not None:
        overrides["bf16"] = bf16
    if generations is not None:
        overrides["generations"] = generations
    elif teachers:
        overrides["generations"] = 1
    try:  # validated, unlike `model_copy`: `--epochs 0` must not train nothing and save it
        config = TrainConfig.model_validate(overrides)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise typer.BadParameter("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in errors)) from None
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


@app.command()
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
    from inference.model.network import packaged_minilm_dir
    from training.adapt import AdaptConfig, adapt_encoder, train_texts

    settings = ModelSettings()
    set_threads(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = AdaptConfig(steps=steps, lr=lr, seed=seed, max_length=settings.max_length)
    base = base_model or settings.base_model or packaged_minilm_dir()
    result = adapt_encoder(base, train_texts(settings.data_dir), out, config, device=device)
    typer.echo(json.dumps({"first_loss": result.first_loss, "last_loss": result.last_loss}))


@app.command("eval")
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
        int | None,
        typer.Option(min=1, help="Evaluate at most N valid rows per task (evenly spaced)."),
    ] = None,
    ensemble: Annotated[
        list[Path] | None,
        typer.Option(
            help="Evaluate the mean of these models' calibrated probabilities instead of "
            "one model (repeat it: --ensemble A --ensemble B): what `train --teacher A "
            "--teacher B` distils. Writes metrics only with --metrics-out.",
        ),
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
    from training.evaluate import evaluate, evaluate_ensemble, format_table

    settings = ModelSettings()
    set_threads(settings)
    chosen = precision_choice(precision)
    target: Path | None
    if ensemble:
        if model is not None:
            raise typer.BadParameter("give --model or --ensemble, not both", param_hint="--model")
        members = [Classifier.load(m, device=device, precision=chosen) for m in ensemble]
        report = evaluate_ensemble(members, settings.data_dir, limit=limit)
        report["precision"] = members[0].precision
        report["runtime"] = members[0].runtime
        target = metrics_out
    else:
        folder = model or settings.model_dir
        classifier = Classifier.load(folder, device=device, precision=chosen)
        report = evaluate(classifier, settings.data_dir, limit=limit)
        report["precision"] = classifier.precision
        report["runtime"] = classifier.runtime
        target = metrics_out
        shipped_record = folder / "metrics.json"
        if target is None and chosen == "auto" and limit is None and device == "cpu":
            target = shipped_record
        elif target is None:
            # The folder's metrics.json is the model's record (the card quotes it): only the
            # default CPU serving path on the whole valid sets may replace it.
            typer.echo(
                f"note: {shipped_record} not written: it records the default CPU serving "
                "path on the whole valid sets (no --precision, --limit or --device); "
                "give --metrics-out to keep these figures.",
                err=True,
            )
    if target is not None:
        target.write_text(json.dumps(report, indent=2) + "\n")
    typer.echo(json.dumps(report) if as_json else format_table(report))
