"""End-to-end latency is measured on the service clock that stamped `ingested_at`."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from finsent.clock import Clock
from inference.metrics import InferenceMetrics

EPOCH = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)


def test_latency_uses_the_accelerated_clock() -> None:
    real = [EPOCH.timestamp() + 10]  # ten real seconds after the epoch ...
    clock = Clock(speed=120, epoch=EPOCH, real=lambda: real[0])
    metrics = InferenceMetrics(CollectorRegistry(), clock=clock)
    stamped = clock.now_s() - 60  # ... a document ingest stamped one service minute ago
    metrics.written(1, [stamped])
    registry = metrics.registry
    total = registry.get_sample_value("finsent_inference_end_to_end_latency_seconds_sum")
    assert total == 60.0  # not 20 minutes: the wall clock would mix two time scales
