"""Process metrics and `finsent_build_info` on a service's registry."""

from __future__ import annotations

import fakeredis
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dashboards.settings import WebSettings
from dashboards.web.alert_log import RedisAlertLog
from dashboards.web.app import create_app
from finsent import __version__
from finsent.observability import BUILD_INFO, instrument_process
from finsent.store import CoreStore, StoreOptions


def _samples(text: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(dict(sample.labels))
    return out


def test_a_fresh_registry_gets_process_metrics_and_build_info() -> None:
    registry = CollectorRegistry()
    instrument_process(registry, model_version="finsent-minilm-1.0.0")
    samples = _samples(generate_latest(registry).decode())
    assert samples[BUILD_INFO] == [
        {"version": __version__, "model_version": "finsent-minilm-1.0.0"}
    ]
    for name in ("process_cpu_seconds_total", "process_start_time_seconds", "python_info"):
        assert name in samples, name


def test_it_is_idempotent_and_fits_the_default_registry() -> None:
    registry = CollectorRegistry()
    instrument_process(registry, model_version="a")
    instrument_process(registry, model_version="b")  # the first build stands; no error
    assert _samples(generate_latest(registry).decode())[BUILD_INFO][0]["model_version"] == "a"
    instrument_process(REGISTRY)  # already has the process collectors: no duplicate error


def test_the_web_view_serves_them_on_its_metrics_endpoint() -> None:
    client = fakeredis.FakeRedis()
    app = create_app(WebSettings(), CoreStore(client, StoreOptions()), RedisAlertLog(client))
    text = TestClient(app).get("/metrics").text
    samples = _samples(text)
    assert samples[BUILD_INFO] == [{"version": __version__, "model_version": ""}]
    assert "process_resident_memory_bytes" in samples
