"""Backlog batching on the real broker: the highwater marks kafka-python reports are what
the consumer counts, so this is where the switch is proven, not only against a fake."""

from __future__ import annotations

import threading
from collections.abc import Callable

from finsent.kafka_io import make_consumer, make_producer
from finsent.settings import FinsentSettings
from finsent.stream.batching import BatchPolicy
from finsent.stream.dlq import DeadLetterProducer
from finsent.stream.runner import StreamRunner
from tests.integration.conftest import make_documents, produce, wait_for
from tests.unit.finsent.conftest import FakeHandler


def test_a_consumer_behind_batches_big_then_small_once_caught_up(
    settings: FinsentSettings,
    topic_factory: Callable[..., str],
    consumer_group: str,
    namespace: str,
) -> None:
    topic = topic_factory("docs", partitions=2)
    produce(settings, topic, make_documents(1200, namespace))
    policy = BatchPolicy(
        max_count=8,
        max_tokens=10**9,
        max_wait_s=0.05,
        backlog_at=300,
        backlog_max_count=100,
        backlog_max_tokens=10**9,
    )
    handler = FakeHandler()
    stop = threading.Event()
    producer = make_producer(settings.kafka)
    runner: StreamRunner[str, list[str], int] = StreamRunner(
        make_consumer(settings.kafka, consumer_group),
        topic,
        handler,
        DeadLetterProducer(producer),
        policy,
        stop=stop,
    )
    worker = threading.Thread(target=runner.run, daemon=True)
    worker.start()
    try:
        wait_for(lambda: len(handler.written) >= 1200, 120, "the backlog of 1200")
        behind = list(handler.sizes)
        # Caught up: a trickle after the backlog is batched for latency again.
        produce(settings, topic, make_documents(40, namespace + "-trickle"))
        wait_for(lambda: len(handler.written) >= 1240, 60, "the trickle of 40")
    finally:
        stop.set()
        worker.join(timeout=60)
        producer.close(timeout=10)
    assert max(behind) == 100 and sum(s for s in behind if s == 100) >= 900
    assert handler.sizes[len(behind) :] and max(handler.sizes[len(behind) :]) <= 8
    assert len(set(handler.written)) == 1240
