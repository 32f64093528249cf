"""Prometheus metrics of the inference consumer. Names: `finsent_inference_<what>_<unit>`."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Final, Literal

from prometheus_client import CollectorRegistry

from finsent.clock import REAL_TIME, Clock
from finsent.observability import HealthState, MetricDeclarations, MetricSpec
from finsent.stream.base import Envelope

_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

MetricName = Literal[
    "finsent_inference_documents_in_total",
    "finsent_inference_documents_total",
    "finsent_inference_dlq_total",
    "finsent_inference_batch_size",
    "finsent_inference_batch_tokens",
    "finsent_inference_model_latency_seconds",
    "finsent_inference_end_to_end_latency_seconds",
    "finsent_inference_consumer_lag_messages",
    "finsent_inference_consumer_lag_seconds",
    "finsent_inference_write_retries_total",
]

METRICS: Final[dict[MetricName, MetricSpec]] = {
    "finsent_inference_documents_in_total": MetricSpec("Messages consumed"),
    "finsent_inference_documents_total": MetricSpec("Documents scored and written"),
    "finsent_inference_dlq_total": MetricSpec(
        "Messages sent to the dead-letter topic", ("reason",)
    ),
    "finsent_inference_batch_size": MetricSpec("Documents per batch"),
    "finsent_inference_batch_tokens": MetricSpec("Padded tokens per batch (count x longest)"),
    "finsent_inference_model_latency_seconds": MetricSpec("Model time per batch"),
    "finsent_inference_end_to_end_latency_seconds": MetricSpec(
        "From ingest time to written, per document"
    ),
    "finsent_inference_consumer_lag_messages": MetricSpec(
        "Messages behind the log end", ("partition",)
    ),
    "finsent_inference_consumer_lag_seconds": MetricSpec(
        "Age of the newest processed message while behind (0 when caught up)", ("partition",)
    ),
    "finsent_inference_write_retries_total": MetricSpec(
        "Transient write failures retried (fetching paused meanwhile)", ("reason",)
    ),
}


class InferenceMetrics:
    """All metrics in one registry; implements the runner's observer hooks."""

    def __init__(
        self,
        registry: CollectorRegistry,
        health: HealthState | None = None,
        clock: Clock = REAL_TIME,
    ) -> None:
        self.registry = registry
        self._health = health
        self._clock = clock  # ingest stamps `ingested_at` with the same service clock
        declare = MetricDeclarations(registry, METRICS)
        self.documents_in = declare.counter("finsent_inference_documents_in_total")
        self.documents_out = declare.counter("finsent_inference_documents_total")
        self.dlq = declare.counter("finsent_inference_dlq_total")
        self.batch_size = declare.histogram("finsent_inference_batch_size", _SIZE_BUCKETS)
        self.batch_tokens = declare.histogram("finsent_inference_batch_tokens", _TOKEN_BUCKETS)
        self.model_latency = declare.histogram(
            "finsent_inference_model_latency_seconds", _LATENCY_BUCKETS
        )
        self.end_to_end = declare.histogram(
            "finsent_inference_end_to_end_latency_seconds", _LATENCY_BUCKETS
        )
        self.lag_messages = declare.gauge("finsent_inference_consumer_lag_messages")
        self.lag_seconds = declare.gauge("finsent_inference_consumer_lag_seconds")
        self.write_retries = declare.counter("finsent_inference_write_retries_total")

    def attach_health(self, health: HealthState) -> None:
        """Let readiness changes the runner reports reach `/readyz`."""
        self._health = health

    # -- runner observer hooks --------------------------------------------------------

    def batch_written(self, batch: Sequence[Envelope[Any]], compute_s: float) -> None:
        self.documents_in.inc(len(batch))
        self.batch_size.observe(len(batch))
        self.model_latency.observe(compute_s)

    def dead_lettered(self, reason: str) -> None:
        self.dlq.labels(reason=reason[:60]).inc()

    def write_retried(self, reason: str) -> None:
        self.write_retries.labels(reason=reason[:60]).inc()

    def lag(self, partition: int, messages: int, seconds: float) -> None:
        self.lag_messages.labels(partition=str(partition)).set(messages)
        self.lag_seconds.labels(partition=str(partition)).set(seconds)

    def partitions_revoked(self, partitions: Sequence[int]) -> None:
        # A revoked partition's lag is its new owner's to report: a stale gauge here
        # would show lag that no longer exists (or hide it behind an old value).
        for partition in partitions:
            for gauge in (self.lag_messages, self.lag_seconds):
                with contextlib.suppress(KeyError):
                    gauge.remove(str(partition))

    def ready(self, ready: bool) -> None:
        if self._health is not None:
            self._health.set_ready(ready)

    def written(self, count: int, ingested_at_s: Sequence[float]) -> None:
        self.documents_out.inc(count)
        now = self._clock.now_s()
        for t in ingested_at_s:
            self.end_to_end.observe(max(0.0, now - t))
