"""Producer defaults: a broker restart is ridden out, not turned into failed sends."""

from __future__ import annotations

from finsent.kafka_io import PRODUCER_DEFAULTS


def test_producer_retries_until_the_delivery_timeout_not_a_fixed_count() -> None:
    # kafka-python retries without limit until `delivery_timeout_ms` unless `retries` is set;
    # a fixed count (it was 10, at 100 ms backoff) spends itself in about a second of
    # NotLeaderForPartition while a restarted broker elects leaders, and the send fails.
    assert "retries" not in PRODUCER_DEFAULTS
    assert PRODUCER_DEFAULTS["delivery_timeout_ms"] >= 120_000
    # Order across retries, and every replica's acknowledgement.
    assert PRODUCER_DEFAULTS["max_in_flight_requests_per_connection"] == 1
    assert PRODUCER_DEFAULTS["acks"] == "all"
