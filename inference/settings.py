"""Settings of the inference consumer (`finsent infer`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from finsent.stream.batching import BatchPolicy
from finsent.stream.runner import RetryPolicy


class InferenceSettings(BaseSettings):
    """Environment: `FINSENT_INFERENCE_<FIELD>`, nested with `__` (e.g. `..._BATCH__MAX_COUNT`)."""

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_INFERENCE_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    group_id: str = "inference-scorer"
    """Consumer group: every process in it shares the documents topic's partitions."""
    topic: str = "news.documents.v1"
    scored_topic: str = "news.scored.v1"
    model_path: str | None = None
    """A model folder; unset means the model shipped in `models/finsent-minilm`."""
    device: str = "cpu"
    """`cpu`, `cuda` or `cuda:N`: run one process per GPU."""
    precision: Literal["fp32", "bf16", "fp16"] | None = None
    max_length: int | None = Field(default=None, ge=8, le=512)
    batch: BatchPolicy = BatchPolicy(max_count=128, max_tokens=8192, max_wait_s=0.1)
    retry: RetryPolicy = RetryPolicy()
    store_backend: Literal["auto", "core", "timeseries"] = "auto"
    max_consecutive_invalid: int = Field(default=1000, ge=1)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    """Serves /metrics, /healthz and /readyz; 0 picks a free port."""
    torch_threads: int | None = Field(default=None, ge=1)
    latency_namespaces: tuple[str, ...] = ("live",)
    """Namespaces whose end-to-end latency is measured; replays keep historical ingest times."""
