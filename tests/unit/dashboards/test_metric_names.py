"""Every metric name the dashboards read is exported by the service that owns it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dashboards import metric_names as m
from dashboards.web.metrics import WebMetrics


def _exported(registry: CollectorRegistry) -> set[str]:
    """Family names as scraped, counters with `_total`, histograms by their base name."""
    names = set()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        names.add(family.name + "_total" if family.type == "counter" else family.name)
    return names


def _service_metrics() -> dict[str, set[str]]:
    from alerts.metrics import AlertMetrics
    from inference.metrics import InferenceMetrics
    from ingest.metrics import IngestMetrics

    out = {}
    for service, build in (
        ("ingest", IngestMetrics),
        ("inference", InferenceMetrics),
        ("alerts", AlertMetrics),
        ("web", WebMetrics),
    ):
        registry = CollectorRegistry()
        build(registry)
        out[service] = _exported(registry)
    return out


def test_every_dashboard_metric_is_exported_by_its_service() -> None:
    exported = _service_metrics()
    for name in m.ALL_METRICS:
        service = name.removeprefix("finsent_").split("_")[0]
        assert name in exported[service], f"{name} is not exported by {service}"


def test_histograms_are_histograms() -> None:
    from inference.metrics import InferenceMetrics

    registry = CollectorRegistry()
    InferenceMetrics(registry)
    WebMetrics(registry)
    types = {
        f.name: f.type for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    for name in m.HISTOGRAMS:
        assert types[name] == "histogram", name
