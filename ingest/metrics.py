"""Prometheus metrics of ingest; every name is declared here (STYLE.md section 3)."""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

MetricName = Literal[
    "finsent_ingest_documents_total",
    "finsent_ingest_duplicates_total",
    "finsent_ingest_dead_letters_total",
    "finsent_ingest_feed_polls_total",
    "finsent_ingest_feed_up",
    "finsent_ingest_feed_consecutive_failures",
    "finsent_ingest_feed_last_success_timestamp_seconds",
    "finsent_ingest_push_requests_total",
]

DOCUMENTS_TOTAL: Final[MetricName] = "finsent_ingest_documents_total"


class IngestMetrics:
    """The metric objects, registered in one (injectable) registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else REGISTRY
        self.registry = reg
        self.documents = Counter(
            "finsent_ingest_documents_total",
            "Inputs seen by ingest, by source kind (rss, push, file, ...) and outcome.",
            ["source", "outcome"],
            registry=reg,
        )
        self.duplicates = Counter(
            "finsent_ingest_duplicates_total",
            "Duplicates dropped, by kind (id, content, near).",
            ["kind"],
            registry=reg,
        )
        self.dead_letters = Counter(
            "finsent_ingest_dead_letters_total",
            "Inputs sent to the dead-letter topic, by reason class.",
            ["reason"],
            registry=reg,
        )
        self.feed_polls = Counter(
            "finsent_ingest_feed_polls_total",
            "Feed polls by result (ok, not_modified, timeout, http_error, malformed, ...).",
            ["feed", "result"],
            registry=reg,
        )
        self.feed_up = Gauge(
            "finsent_ingest_feed_up",
            "1 when the feed's last poll succeeded (200 or 304), else 0.",
            ["feed"],
            registry=reg,
        )
        self.feed_failures = Gauge(
            "finsent_ingest_feed_consecutive_failures",
            "Failed polls in a row (drives the feed's backoff).",
            ["feed"],
            registry=reg,
        )
        self.feed_last_success = Gauge(
            "finsent_ingest_feed_last_success_timestamp_seconds",
            "Unix time of the feed's last successful poll.",
            ["feed"],
            registry=reg,
        )
        self.push_requests = Counter(
            "finsent_ingest_push_requests_total",
            "Push API requests by HTTP status.",
            ["status"],
            registry=reg,
        )
