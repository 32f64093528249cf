"""Every Prometheus metric name the dashboards and the web view read, in one place.

Services declare their metrics under these exact names (STYLE.md section 3:
`finsent_<service>_<what>_<unit>`, counters end in `_total`). A rename here without the
service, or there without here, leaves a dashboard panel empty: keep them aligned.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

MetricName = Literal[
    # ingest
    "finsent_ingest_documents_total",  # counter {source, outcome}
    "finsent_ingest_dead_letters_total",  # counter {reason}
    "finsent_ingest_push_requests_total",  # counter {client, status}
    # inference
    "finsent_inference_documents_total",  # counter
    "finsent_inference_dlq_total",  # counter {reason}
    "finsent_inference_batch_size",  # histogram: documents per model batch
    "finsent_inference_batch_tokens",  # histogram: padded tokens per model batch
    "finsent_inference_model_latency_seconds",  # histogram: one forward pass
    "finsent_inference_end_to_end_latency_seconds",  # histogram: ingested_at -> written
    "finsent_inference_consumer_lag_messages",  # gauge {partition}
    "finsent_inference_consumer_lag_seconds",  # gauge {partition}
    # alerts
    "finsent_alerts_state_changes_total",  # counter {rule, state, severity, notify}
    "finsent_alerts_notification_failures_total",  # counter {channel, reason}
    "finsent_alerts_watermark_lag_seconds",  # gauge {namespace}
    # web view (dashboards/web)
    "finsent_web_requests_total",  # counter {route, status}
    "finsent_web_request_duration_seconds",  # histogram {route}
]

ALL_METRICS: Final[tuple[MetricName, ...]] = get_args(MetricName)

HISTOGRAMS: Final[frozenset[MetricName]] = frozenset(
    {
        "finsent_inference_batch_size",
        "finsent_inference_batch_tokens",
        "finsent_inference_model_latency_seconds",
        "finsent_inference_end_to_end_latency_seconds",
        "finsent_web_request_duration_seconds",
    }
)
"""Histograms expose `<name>_bucket`, `<name>_sum` and `<name>_count` series."""

INGEST_DOCUMENTS: Final[MetricName] = "finsent_ingest_documents_total"
INGEST_DEAD_LETTERS: Final[MetricName] = "finsent_ingest_dead_letters_total"
INGEST_PUSH_REQUESTS: Final[MetricName] = "finsent_ingest_push_requests_total"
INFERENCE_DOCUMENTS: Final[MetricName] = "finsent_inference_documents_total"
INFERENCE_DLQ: Final[MetricName] = "finsent_inference_dlq_total"
BATCH_SIZE: Final[MetricName] = "finsent_inference_batch_size"
BATCH_TOKENS: Final[MetricName] = "finsent_inference_batch_tokens"
MODEL_LATENCY: Final[MetricName] = "finsent_inference_model_latency_seconds"
END_TO_END_LATENCY: Final[MetricName] = "finsent_inference_end_to_end_latency_seconds"
LAG_MESSAGES: Final[MetricName] = "finsent_inference_consumer_lag_messages"
LAG_SECONDS: Final[MetricName] = "finsent_inference_consumer_lag_seconds"
ALERT_STATE_CHANGES: Final[MetricName] = "finsent_alerts_state_changes_total"
ALERT_NOTIFICATION_FAILURES: Final[MetricName] = "finsent_alerts_notification_failures_total"
ALERT_WATERMARK_LAG: Final[MetricName] = "finsent_alerts_watermark_lag_seconds"
WEB_REQUESTS: Final[MetricName] = "finsent_web_requests_total"
WEB_REQUEST_DURATION: Final[MetricName] = "finsent_web_request_duration_seconds"
