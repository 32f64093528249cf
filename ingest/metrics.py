"""Prometheus metrics of ingest; every name is declared here (STYLE.md section 3)."""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import REGISTRY, CollectorRegistry

from finsent.observability import MetricDeclarations, MetricSpec

MetricName = Literal[
    "finsent_ingest_documents_total",
    "finsent_ingest_duplicates_total",
    "finsent_ingest_dead_letters_total",
    "finsent_ingest_feed_polls_total",
    "finsent_ingest_feed_up",
    "finsent_ingest_feed_consecutive_failures",
    "finsent_ingest_feed_last_success_timestamp_seconds",
    "finsent_ingest_push_requests_total",
    "finsent_ingest_push_group_requests",
]

DOCUMENTS_TOTAL: Final[MetricName] = "finsent_ingest_documents_total"


METRICS: Final[dict[MetricName, MetricSpec]] = {
    "finsent_ingest_documents_total": MetricSpec(
        "Inputs seen by ingest, by source kind (rss, push, file, ...) and outcome.",
        ("source", "outcome"),
    ),
    "finsent_ingest_duplicates_total": MetricSpec(
        "Duplicates dropped, by kind (id, content, near).", ("kind",)
    ),
    "finsent_ingest_dead_letters_total": MetricSpec(
        "Inputs sent to the dead-letter topic, by reason class.", ("reason",)
    ),
    "finsent_ingest_feed_polls_total": MetricSpec(
        "Feed polls by result (ok, not_modified, timeout, http_error, malformed, ...).",
        ("feed", "result"),
    ),
    "finsent_ingest_feed_up": MetricSpec(
        "1 when the feed's last poll succeeded (200 or 304), else 0.", ("feed",)
    ),
    "finsent_ingest_feed_consecutive_failures": MetricSpec(
        "Failed polls in a row (drives the feed's backoff).", ("feed",)
    ),
    "finsent_ingest_feed_last_success_timestamp_seconds": MetricSpec(
        "Unix time of the feed's last successful poll.", ("feed",)
    ),
    "finsent_ingest_push_requests_total": MetricSpec(
        "Push API requests by client (its token's name; `unauthenticated` for none) and "
        "HTTP status.",
        ("client", "status"),
    ),
    "finsent_ingest_push_group_requests": MetricSpec(
        "Push requests handled together per ingest call (one dedupe round trip and "
        "acknowledgement wait each); grows with concurrent load."
    ),
}


class IngestMetrics:
    """The metric objects, registered in one (injectable) registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else REGISTRY
        self.registry = reg
        declare = MetricDeclarations(reg, METRICS)
        self.documents = declare.counter(DOCUMENTS_TOTAL)
        self.duplicates = declare.counter("finsent_ingest_duplicates_total")
        self.dead_letters = declare.counter("finsent_ingest_dead_letters_total")
        self.feed_polls = declare.counter("finsent_ingest_feed_polls_total")
        self.feed_up = declare.gauge("finsent_ingest_feed_up")
        self.feed_failures = declare.gauge("finsent_ingest_feed_consecutive_failures")
        self.feed_last_success = declare.gauge("finsent_ingest_feed_last_success_timestamp_seconds")
        self.push_requests = declare.counter("finsent_ingest_push_requests_total")
        self.push_group_requests = declare.histogram(
            "finsent_ingest_push_group_requests", (1, 2, 4, 8, 16, 32, 64, 128)
        )
