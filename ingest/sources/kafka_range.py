"""A time range of the documents topic, read back as documents to republish (`replay kafka`)."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from kafka import TopicPartition

from finsent.errors import ConfigurationError, InvalidMessage, Reason, TransientError, reason_text
from finsent.kafka_io import make_consumer
from finsent.schemas import Document
from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS
from ingest.models import Unreadable


class KafkaRangeReader:
    """Streams `[start, end)` of a topic as republishable documents, in event-time order
    within a bounded reorder window: memory stays bounded however long the range.

    Partitions are read side by side, so documents arrive roughly in time order; a heap of
    up to `reorder_window` documents puts them in order before they are handed on. (A replay
    namespace counts a document however late it arrives, so ordering is for pacing, not
    for correctness.) Unparseable records come out as `Unreadable`.
    """

    def __init__(
        self,
        settings: FinsentSettings,
        topic: str,
        start: datetime,
        end: datetime,
        source_namespace: str,
        namespace: str,
        *,
        reorder_window: int = 10_000,
        stall_timeout_s: float = 60.0,
    ) -> None:
        self._consumer = make_consumer(settings.kafka, group_id=None)
        self._topic = topic
        self._source_namespace = source_namespace
        self._namespace = namespace
        self._window = reorder_window
        self._stall_timeout_s = stall_timeout_s
        self._stop: dict[TopicPartition, int] = {}
        self._heap: list[tuple[tuple[int, datetime, str], int, Document | Unreadable]] = []
        self.total = 0
        """Records in the range (an upper bound on the documents it yields)."""
        try:
            self._seek(start, end)
        except BaseException:
            self._consumer.close()
            raise

    def _seek(self, start: datetime, end: datetime) -> None:
        consumer = self._consumer
        partitions = sorted(consumer.partitions_for_topic(self._topic) or ())
        if not partitions:
            raise ConfigurationError(f"topic {self._topic!r} does not exist")
        tps = [TopicPartition(self._topic, p) for p in partitions]
        consumer.assign(tps)
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        starts = consumer.offsets_for_times(dict.fromkeys(tps, start_ms))
        ends = consumer.offsets_for_times(dict.fromkeys(tps, end_ms))
        latest = consumer.end_offsets(tps)
        for tp in tps:
            begin = starts.get(tp)
            finish = ends.get(tp)
            stop_at = finish.offset if finish is not None else latest[tp]
            if begin is None or begin.offset >= stop_at:
                consumer.pause(tp)
                continue
            consumer.seek(tp, begin.offset)
            self._stop[tp] = stop_at
            self.total += stop_at - begin.offset

    def __enter__(self) -> KafkaRangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._consumer.close()

    @property
    def buffered(self) -> int:
        """Documents held for reordering right now (never more than the window + 1)."""
        return len(self._heap)

    def __iter__(self) -> Iterator[Document | Unreadable]:
        heap = self._heap
        seq = itertools.count()
        stop, consumer = self._stop, self._consumer
        last_progress = time.monotonic()
        while stop:
            batch = consumer.poll(timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if tp in stop and record.offset < stop[tp]:
                        for item in _republishable(
                            record.value, self._source_namespace, self._namespace
                        ):
                            heapq.heappush(heap, (_order(item), next(seq), item))
                            if len(heap) > self._window:
                                yield heapq.heappop(heap)[2]
            # Positions, not records: offsets taken by transaction markers hold no record.
            for tp in [tp for tp in stop if consumer.position(tp) >= stop[tp]]:
                del stop[tp]
                consumer.pause(tp)
            if batch:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self._stall_timeout_s:
                raise TransientError(
                    f"no records from {self._topic} for {self._stall_timeout_s:.0f} s"
                )
        while heap:
            yield heapq.heappop(heap)[2]


def _order(item: Document | Unreadable) -> tuple[int, datetime, str]:
    if isinstance(item, Unreadable):
        return (0, datetime(1, 1, 1, tzinfo=UTC), "")
    return (1, item.published_at, item.id)


def _republishable(
    value: bytes | None, source_namespace: str, namespace: str
) -> list[Document | Unreadable]:
    try:
        doc = DOCUMENTS.decode(value)
    except InvalidMessage as exc:
        reason = reason_text(Reason.MALFORMED, exc.reason)
        return [Unreadable(source="replay:kafka", raw=value or b"", reason=reason)]
    if doc.namespace != source_namespace:
        return []
    return [doc.model_copy(update={"namespace": namespace})]
