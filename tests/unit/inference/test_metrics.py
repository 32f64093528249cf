"""InferenceMetrics: revoked partitions stop reporting lag."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from inference.metrics import InferenceMetrics


def _lag_partitions(registry: CollectorRegistry) -> set[str]:
    return {
        sample.labels["partition"]
        for metric in registry.collect()
        if metric.name == "finsent_inference_consumer_lag_messages"
        for sample in metric.samples
    }


def test_revoked_partitions_lose_their_lag_gauges() -> None:
    registry = CollectorRegistry()
    metrics = InferenceMetrics(registry)
    for partition in (0, 1, 2):
        metrics.lag(partition, 10, 1.5)
    metrics.partitions_revoked([0, 2, 7])  # 7 never reported: ignored
    assert _lag_partitions(registry) == {"1"}


def test_write_retries_are_counted_by_reason() -> None:
    registry = CollectorRegistry()
    metrics = InferenceMetrics(registry)
    metrics.write_retried("redis refused the write")
    metrics.write_retried("redis refused the write")
    value = registry.get_sample_value(
        "finsent_inference_write_retries_total", {"reason": "redis refused the write"}
    )
    assert value == 2
