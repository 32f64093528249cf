"""Builds a ready `Ingestor` from settings; the one place sources get their plumbing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from finsent.kafka_io import ensure_topics, make_producer
from finsent.schemas import LIVE_NAMESPACE
from finsent.settings import FinsentSettings
from finsent.stream.dlq import DeadLetterProducer
from finsent.topics import DOCUMENTS, dlq_of
from ingest.dedupe import DedupeConfig, Deduplicator
from ingest.ingestor import Clock, Ingestor, utc_now
from ingest.metrics import IngestMetrics
from ingest.normalize import Normalizer
from ingest.settings import IngestSettings


@contextmanager
def open_ingestor(
    settings: FinsentSettings,
    ingest: IngestSettings,
    *,
    namespace: str = LIVE_NAMESPACE,
    topic: str | None = None,
    clock: Clock = utc_now,
    ingested_at_event_time: bool = False,
    dedupe: bool = True,
    metrics: IngestMetrics | None = None,
    max_consecutive_invalid: int | None = 1000,
    normalizer: Normalizer | None = None,
) -> Iterator[Ingestor]:
    """A ingestor with its producer and Redis client; flushed and closed on exit.

    Args:
        settings: shared Kafka and Redis settings.
        ingest: ingest settings.
        namespace: stamped on documents and on dedupe keys.
        topic: documents topic override (tests use uuid topics); its `.dlq` gets rejects.
        clock: injected wall clock.
        ingested_at_event_time: stamp `ingested_at = published_at`, so that two replays
            of the same history are byte-identical (replays use it).
        dedupe: False skips Redis dedupe entirely.
        metrics: Prometheus metrics, if the caller exposes them.
        max_consecutive_invalid: stop after this many rejects in a row (None: never).
        normalizer: reuse one (its language detector takes a moment to build).
    """
    name = topic or DOCUMENTS.name
    ensure_topics(settings.kafka, [name, dlq_of(name)])
    # Block at most 10 s (not 60) on a missing broker: push requests answer 503 sooner.
    producer = make_producer(settings.kafka, max_block_ms=10_000)
    client = settings.redis.client()
    try:
        deduplicator = (
            Deduplicator(client, DedupeConfig.from_settings(ingest))
            if dedupe and ingest.dedupe_enabled
            else None
        )
        ingestor = Ingestor(
            normalizer or Normalizer.from_settings(ingest),
            deduplicator,
            producer,
            DeadLetterProducer(producer, max_consecutive=max_consecutive_invalid),
            topic=name,
            namespace=namespace,
            clock=clock,
            ingested_at_event_time=ingested_at_event_time,
            metrics=metrics,
        )
        yield ingestor
        ingestor.flush()
    finally:
        producer.close(timeout=10)
        client.close()
