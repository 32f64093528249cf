"""Settings of the inference consumer (`finsent infer`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from finsent.stream.base import RetryPolicy
from finsent.stream.batching import BatchPolicy

CPU_BATCH = BatchPolicy(
    max_count=128,
    max_tokens=8192,
    max_wait_s=0.1,
    target_batch_s=0.15,
    backlog_at=512,
    backlog_max_count=256,
    backlog_max_tokens=16_384,
)
GPU_BATCH = CPU_BATCH.model_copy(update={"backlog_max_count": 1024, "backlog_max_tokens": 65_536})
"""A GPU drains a backlog in batches of 1,024: a forward pass costs it about as much
launching as computing, and 256-text batches left an H200 mostly idle (docs/benchmarks.md,
section 3: one in-process scorer at 1,024 ran 16.8k texts/s). Live batches stay as on CPU."""


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
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] | None = None
    """`auto`/unset: bf16 on CUDA and on CPUs with native bf16, else fp32; `int8` opts in
    to ONNX Runtime (fastest on CPU, but scores depend on batch-mates: docs/model.md)."""
    max_length: int | None = Field(default=None, ge=8, le=512)
    batch: BatchPolicy = Field(default=CPU_BATCH, validate_default=True)
    """The service's batch defaults (`CPU_BATCH`, or `GPU_BATCH` when `device` is CUDA);
    `FINSENT_INFERENCE_BATCH__<FIELD>` overrides one field.

    `target_batch_s` keeps p99 ingest-to-written under 500 ms at half load on slow CPUs;
    once 512 records wait (a burst, a restart, a replay), larger batches drain them
    faster (docs/benchmarks.md)."""
    retry: RetryPolicy = RetryPolicy()
    store_backend: Literal["auto", "core", "timeseries"] | None = None
    """Unset: `FINSENT_STORE__BACKEND`, shared by every service (default `auto`)."""
    max_consecutive_invalid: int = Field(default=1000, ge=1)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    """Serves /metrics, /healthz and /readyz; 0 picks a free port."""
    torch_threads: int | None = Field(default=None, ge=1)
    latency_namespaces: tuple[str, ...] = ("live",)
    """Namespaces whose end-to-end latency is measured; replays keep historical ingest times."""
    unassigned_timeout_s: float = Field(default=120.0, gt=0)
    """Stop with an error after this long without a partition while the topic has lag."""

    @field_validator("batch", "retry", mode="before")
    @classmethod
    def _merge_with_defaults(cls, value: Any, info: Any) -> Any:
        """A nested setting changes only the fields it names.

        Without this, `FINSENT_INFERENCE_BATCH__MAX_TOKENS=8192` would build a whole new
        `BatchPolicy` from the class defaults (256 documents, 16,384 tokens) and silently
        drop the service's other batch defaults. The batch defaults follow the device.
        """
        default = cls.model_fields[info.field_name].default
        if info.field_name == "batch":
            on_gpu = str(info.data.get("device", "cpu")).startswith("cuda")
            default = GPU_BATCH if on_gpu else CPU_BATCH
            if value is CPU_BATCH:  # not set at all
                return default
        if isinstance(value, dict) and isinstance(default, BaseModel):
            return {**default.model_dump(), **value}
        return value
