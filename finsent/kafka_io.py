"""Kafka clients built from settings, topic creation, and the broker health probe."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from finsent.errors import ConfigurationError
from finsent.settings import KafkaSettings
from finsent.topics import Topic

log = logging.getLogger(__name__)
CommitOutcome = Literal["committed", "rebalanced", "deferred"]

# Throughput-friendly producer defaults: batch for a few ms, compress, wait for the leader.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "linger_ms": 5,
    "batch_size": 256 * 1024,
    "compression_type": None,
    # No retry count: a record is retried until `delivery_timeout_ms`, so a broker restart
    # (seconds of NotLeaderForPartition while leaders are elected) is ridden out. Ten
    # retries at 100 ms backoff gave up within about a second of it.
    "delivery_timeout_ms": 120_000,
    "max_in_flight_requests_per_connection": 1,  # keeps per-partition order across retries
    "request_timeout_ms": 30_000,
}


def make_producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    kwargs = {**settings.client_kwargs(), **PRODUCER_DEFAULTS, **overrides}
    return KafkaProducer(**kwargs)


def make_consumer(settings: KafkaSettings, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer with manual commits only (never `enable_auto_commit`)."""
    kwargs: dict[str, Any] = {
        **settings.client_kwargs(),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 2000,
        "fetch_min_bytes": 1,
        "fetch_max_wait_ms": 100,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 2_000,
        "max_poll_interval_ms": 300_000,
    }
    kwargs.update(overrides)
    return KafkaConsumer(**kwargs)


def await_partitions(
    consumer: KafkaConsumer,
    topic: str,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
    timeout_s: float = 60.0,
) -> None:
    """Return once the consumer's metadata lists the topic's partitions.

    Join only then: a group leader that assigns before its metadata lists the topic's
    partitions assigns nothing ("No partition metadata"), and the group has to rebalance
    again once they appear; joining with them known avoids that round entirely.

    Raises:
        ConfigurationError: the topic is not there within `timeout_s` (or `stop` is set).
    """
    deadline = clock() + timeout_s
    while not consumer.partitions_for_topic(topic):
        if clock() > deadline or stop.is_set():
            raise ConfigurationError(f"topic {topic!r} does not exist")
        time.sleep(0.2)


def keep_rejoining(consumer: KafkaConsumer) -> None:
    """Ask the group coordinator to (re)join: call while a rebalance has not completed.

    kafka-python 3.0.12 can strand a consumer mid-rebalance. When the group leader starts
    a rebalance itself (its metadata changed after it assigned, which happens on nearly
    every start) and `poll` times out while the JoinGroup/SyncGroup is in flight, the
    assignment made meanwhile makes `need_rejoin()` false, so the finished join is never
    taken up: no `on_partitions_assigned`, heartbeats stay off, the broker drops the member
    after the session timeout, and the consumer polls forever with nothing assigned. Short
    polls (a busy streaming consumer) make this likely; it stalled the 20-SIGKILL test.

    Asking for a rejoin is harmless while a join is in flight (the coordinator awaits the
    same one) and, once one has finished unseen, sends a fresh JoinGroup that completes.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is not None and consumer.config.get("group_id") is not None:
        coordinator.request_rejoin()


def make_admin(settings: KafkaSettings) -> KafkaAdminClient:
    return KafkaAdminClient(**settings.client_kwargs(), request_timeout_ms=15_000)


def ensure_topics(
    settings: KafkaSettings, names: Iterable[str], partitions: int | None = None
) -> None:
    """Create topics that do not exist yet (idempotent)."""
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        wanted = [n for n in dict.fromkeys(names) if n not in existing]
        if not wanted:
            return
        count = partitions or settings.documents_partitions
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(n, count, 1) for n in wanted])
    finally:
        admin.close()


def ensure_pipeline_topics(settings: KafkaSettings, topics: Iterable[Topic[Any]]) -> None:
    """Create each topic and its dead-letter topic."""
    names: list[str] = []
    for topic in topics:
        names += [topic.name, topic.dlq]
    ensure_topics(settings, names)


def probe_round_trip(settings: KafkaSettings, timeout_s: float = 30.0) -> float:
    """Produce one message to `_finsent.health` and read it back; returns seconds taken."""
    started = time.monotonic()
    topic = "_finsent.health"
    ensure_topics(settings, [topic], partitions=1)
    marker = uuid.uuid4().hex.encode()
    producer = make_producer(settings, request_timeout_ms=int(timeout_s * 1000))
    try:
        meta = producer.send(topic, marker).get(timeout=timeout_s)
    finally:
        producer.close(timeout=5)
    consumer = make_consumer(settings, group_id=None)
    try:
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                if any(r.value == marker for r in records):
                    return time.monotonic() - started
    finally:
        consumer.close()
    raise TimeoutError("probe message was produced but not consumed in time")


def commit_offsets(consumer: Any, topic: str, offsets: Mapping[int, int]) -> CommitOutcome:
    """Commit `offsets` (partition -> next offset) synchronously; say what became of them.

    - `rebalanced`: the group moved on without us; the new owner redoes the work
      (the store is idempotent).
    - `deferred`: the broker or coordinator is away (a restart, a network cut), which
      is our machine's fault, not the records'. The caller keeps the offsets and a
      later commit carries them. A non-retriable Kafka error is raised.
    """
    try:
        consumer.commit(
            {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
        )
    except CommitFailedError:
        log.warning("commit failed after a rebalance; records will be redelivered")
        return "rebalanced"
    except KafkaError as exc:
        if not exc.retriable:
            raise
        log.warning("commit deferred: broker unreachable", extra={"error": str(exc)[:200]})
        return "deferred"
    return "committed"
