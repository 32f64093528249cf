"""What the soak reads back: which channel requests page an incident, and the DLQ."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import TopicPartition

from finsent.kafka_io import make_consumer
from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS


def firing_matcher(ticker: str) -> Callable[[bytes], bool]:
    return lambda body: is_firing_for(body, ticker)


def is_firing_for(body: bytes, ticker: str) -> bool:
    """Does this channel request page (not resolve) an incident about `ticker`?"""
    text = body.decode("utf-8", "replace")
    if ticker not in text:
        return False
    lowered = text.lower()
    return "resolved" not in lowered or "firing" in lowered


def dead_letters(settings: FinsentSettings) -> list[str]:
    """The `reason` header of every dead letter on the documents topic's DLQ."""
    topic = DOCUMENTS.dlq
    consumer = make_consumer(settings.kafka, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        reasons: list[str] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    headers = dict(record.headers or [])
                    reasons.append(headers.get("reason", b"").decode("utf-8", "replace"))
        return reasons
    finally:
        consumer.close()
