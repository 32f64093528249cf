from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from dashboards import metric_names as m
from dashboards.web.health import parse_metrics, summarize
from dashboards.web.models import ServiceHealth


def _exposition() -> str:
    """A real exposition from prometheus_client, with the services' metric names."""
    registry = CollectorRegistry()
    docs = Counter(m.INFERENCE_DOCUMENTS.removesuffix("_total"), "scored", registry=registry)
    dlq = Counter(m.INFERENCE_DLQ.removesuffix("_total"), "dlq", ["reason"], registry=registry)
    lag = Gauge(m.LAG_SECONDS, "lag", ["partition"], registry=registry)
    latency = Histogram(m.MODEL_LATENCY, "latency", buckets=(0.01, 0.1, 1.0), registry=registry)
    Counter("unrelated_total", "ignored", registry=registry).inc()
    docs.inc(120)
    dlq.labels(reason="invalid json").inc(2)
    dlq.labels(reason="too long").inc(1)
    lag.labels(partition="0").set(3.5)
    lag.labels(partition="1").set(9.0)
    for value in [0.005] * 50 + [0.05] * 45 + [0.5] * 5:
        latency.observe(value)
    return generate_latest(registry).decode()


def test_parse_keeps_only_finsent_metrics() -> None:
    samples = parse_metrics(_exposition())
    names = {s.name for s in samples}
    assert m.INFERENCE_DOCUMENTS in names and m.INFERENCE_DLQ in names
    assert f"{m.MODEL_LATENCY}_bucket" in names
    assert not any(n.startswith("unrelated") or n.endswith("_created") for n in names)


def test_summary_sums_counters_maxes_lag_and_estimates_quantiles() -> None:
    up = ServiceHealth(
        url="http://inference:9100/metrics", up=True, samples=tuple(parse_metrics(_exposition()))
    )
    twice = summarize([up, up])
    assert twice[m.INFERENCE_DOCUMENTS] == 240
    assert twice[m.INFERENCE_DLQ] == 6
    assert twice[m.LAG_SECONDS] == 9.0  # the worst partition, not a sum
    assert twice[f"{m.MODEL_LATENCY}_p50"] == 0.01
    assert twice[f"{m.MODEL_LATENCY}_p95"] == 0.1
    assert twice[f"{m.MODEL_LATENCY}_count"] == 200


def test_down_service_contributes_nothing() -> None:
    assert summarize([ServiceHealth(url="http://x/metrics", up=False, error="ConnectError")]) == {}
