"""Replays: history fed through the same chain as live data, in its own namespace.

A replay never writes to `live`: its documents carry `Document.namespace`, and its dedupe
keys live under that namespace, so a replay is neither deduplicated against live data
nor visible in live series. Replaying the same input twice, at any speed, yields the same
documents (ids, times, tickers, text; `ingested_at` is the event time), so the same series.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import redis
from pydantic import AwareDatetime, BaseModel
from tqdm import tqdm  # type: ignore[import-untyped]

from finsent import redis_keys
from finsent.errors import ConfigurationError
from finsent.schemas import LIVE_NAMESPACE, Document
from finsent.settings import FinsentSettings
from finsent.store import open_store_on
from finsent.topics import DOCUMENTS
from ingest.dedupe import drop_namespace_keys
from ingest.ingestor import Clock, Ingestor, batched, utc_now
from ingest.models import Candidate, IngestReport, RawItem
from ingest.settings import IngestSettings
from ingest.sources.files import check_paths, event_order, read_files
from ingest.sources.kafka_range import KafkaRangeReader
from ingest.wiring import open_ingestor

_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")


class ReplayInfo(BaseModel):
    """What `finsent replay list` shows about one replay namespace."""

    namespace: str
    kind: str
    inputs: list[str]
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    report: IngestReport | None = None


def default_namespace(now: datetime) -> str:
    return "replay-" + now.astimezone(UTC).strftime("%Y%m%dt%H%M%S")


def check_namespace(namespace: str, paging: Collection[str] = (LIVE_NAMESPACE,)) -> str:
    """A valid replay namespace, never one that pages on-call.

    Args:
        namespace: the proposed replay namespace.
        paging: namespaces whose alerts page (the alerts service's `page_namespaces`);
            `live` always counts, whatever is passed.

    Raises:
        ConfigurationError: a paging namespace, or not a valid namespace name.
    """
    if namespace == LIVE_NAMESPACE:
        raise ConfigurationError("a replay never writes to the live namespace")
    if namespace in paging:
        raise ConfigurationError(f"a replay never writes to {namespace!r}: its alerts page on-call")
    if not _NAMESPACE.match(namespace):
        raise ConfigurationError(
            f"bad namespace {namespace!r}: use 1-40 of a-z, 0-9, '_' and '-', starting alphanumeric"
        )
    return namespace


class Pacer:
    """Sleeps so events go out at `speed` times their original pace (None: no sleeping)."""

    def __init__(
        self,
        speed: float | None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self._speed = speed
        self._monotonic = monotonic
        self._sleep = sleep
        self._origin: tuple[datetime, float] | None = None

    @property
    def unpaced(self) -> bool:
        return self._speed is None

    def wait_for(self, event_time: datetime | None) -> None:
        if self._speed is None or event_time is None:
            return
        if self._origin is None:
            self._origin = (event_time, self._monotonic())
            return
        first_event, first_wall = self._origin
        due = first_wall + (event_time - first_event).total_seconds() / self._speed
        delay = due - self._monotonic()
        if delay > 0:
            self._sleep(delay)


def _event_time(item: Candidate | Document) -> datetime | None:
    return item.published_at if isinstance(item, RawItem | Document) else None


def replay_files(
    paths: Sequence[Path],
    settings: FinsentSettings,
    namespace: str | None = None,
    speed: float | None = None,
    progress: bool = True,
    topic: str | None = None,
    *,
    ingest: IngestSettings | None = None,
    clock: Clock = utc_now,
    pacer: Pacer | None = None,
    paging: Collection[str] = (LIVE_NAMESPACE,),
) -> IngestReport:
    """Publish every document in `paths` in event-time order, into a replay namespace.

    Args:
        paths: files and directories (walked) of JSONL, CSV or StockNet tweet files.
        settings: Kafka and Redis.
        namespace: the replay namespace; default `replay-<UTC timestamp>`; never `live`.
        speed: N times real time, or None for as fast as possible.
        progress: show a tqdm progress bar with ETA (stderr).
        topic: documents topic override (tests).
        ingest: ingest settings, built by the caller's entry point; default: the built-in
            defaults (the environment is read only in entry points).
        clock: wall clock (bounds future timestamps; names the default namespace).
        pacer: injected pacing (tests); default from `speed`.
        paging: namespaces that page on-call (`PagingSettings`); never written to.

    Returns:
        The run's report; `documents_in == duplicates + dead_lettered + produced`.
    """
    ingest = ingest or IngestSettings.model_construct()
    ns = check_namespace(namespace or default_namespace(clock()), paging)
    pacer = pacer or Pacer(speed)
    check_paths(paths)
    candidates = event_order(read_files(paths, ingest.max_raw_bytes))
    info = ReplayInfo(namespace=ns, kind="file", inputs=[str(p) for p in paths], started_at=clock())
    client = settings.redis.client()
    try:
        _register(client, info)
        with open_ingestor(
            settings, ingest, namespace=ns, topic=topic, clock=clock, ingested_at_event_time=True
        ) as ingestor:
            _drive(ingestor, candidates, pacer, progress, ns)
            ingestor.flush()
            report = ingestor.report()
        _register(client, info.model_copy(update={"finished_at": clock(), "report": report}))
        return report
    finally:
        client.close()


def replay_kafka(
    settings: FinsentSettings,
    start: datetime,
    end: datetime,
    namespace: str | None = None,
    *,
    source_namespace: str = LIVE_NAMESPACE,
    source_topic: str | None = None,
    topic: str | None = None,
    speed: float | None = None,
    progress: bool = True,
    ingest: IngestSettings | None = None,
    clock: Clock = utc_now,
    pacer: Pacer | None = None,
    paging: Collection[str] = (LIVE_NAMESPACE,),
) -> IngestReport:
    """Re-read `[start, end)` (Kafka record time) of the documents topic and republish it.

    Only documents of `source_namespace` are taken; they are republished unchanged except
    for `namespace`, in event-time order, so the same scoring path handles them.

    Args:
        settings: Kafka and Redis.
        start: first record time (inclusive), found with `offsets_for_times`.
        end: end record time (exclusive).
        namespace: the replay namespace; never `live`.
        source_namespace: which documents to take (default `live`).
        source_topic: topic to read (default the documents topic).
        topic: topic to write (default the documents topic).
        speed, progress, ingest, clock, pacer, paging: as in `replay_files`.
    """
    if end <= start:
        raise ConfigurationError("--to must be after --from")
    ingest = ingest or IngestSettings.model_construct()
    ns = check_namespace(namespace or default_namespace(clock()), paging)
    read_topic = source_topic or DOCUMENTS.name
    reader = KafkaRangeReader(settings, read_topic, start, end, source_namespace, ns)
    info = ReplayInfo(
        namespace=ns,
        kind="kafka",
        inputs=[f"{read_topic}[{start.isoformat()}, {end.isoformat()})"],
        started_at=clock(),
    )
    client = settings.redis.client()
    try:
        _register(client, info)
        with (
            reader,
            open_ingestor(
                settings,
                ingest,
                namespace=ns,
                topic=topic,
                clock=clock,
                ingested_at_event_time=False,
            ) as ingestor,
        ):
            _drive(ingestor, reader, pacer or Pacer(speed), progress, ns, total=reader.total)
            ingestor.flush()
            report = ingestor.report()
        _register(client, info.model_copy(update={"finished_at": clock(), "report": report}))
        return report
    finally:
        client.close()


def _drive(
    ingestor: Ingestor,
    items: Iterable[Candidate | Document],
    pacer: Pacer,
    progress: bool,
    namespace: str,
    batch_size: int = 500,
    total: int | None = None,
) -> None:
    # At max speed, batch (one Redis round trip per batch); paced, go one by one so that
    # each document leaves at its due time. Both give the same decisions.
    size = batch_size if pacer.unpaced else 1
    if total is None and isinstance(items, Sequence):
        total = len(items)
    with tqdm(total=total, unit="doc", disable=not progress, desc=namespace) as bar:
        for batch in batched(items, size):
            pacer.wait_for(_event_time(batch[0]))
            ingestor.handle_many(batch)
            bar.update(len(batch))


def _register(client: redis.Redis, info: ReplayInfo) -> None:
    client.hset(redis_keys.INGEST_REPLAYS, info.namespace, info.model_dump_json())


def list_replays(settings: FinsentSettings) -> list[ReplayInfo]:
    """Replay namespaces, with what made them; store namespaces without a record too."""
    client = settings.redis.client()
    try:
        known = {
            (k.decode() if isinstance(k, bytes) else str(k)): ReplayInfo.model_validate_json(v)
            for k, v in client.hgetall(redis_keys.INGEST_REPLAYS).items()
        }
        for ns in open_store_on(client, settings.store).list_namespaces():
            if ns not in known:
                known[ns] = ReplayInfo(
                    namespace=ns,
                    kind="live" if ns == LIVE_NAMESPACE else "unknown",
                    inputs=[],
                    started_at=datetime(1970, 1, 1, tzinfo=UTC),
                )
        return [known[k] for k in sorted(known)]
    finally:
        client.close()


def drop_replay(settings: FinsentSettings, namespace: str) -> int:
    """Delete a replay namespace: its series (via the store) and its dedupe keys.

    Raises:
        ConfigurationError: `namespace` is `live`.
    """
    if namespace == LIVE_NAMESPACE:
        raise ConfigurationError("refusing to drop the live namespace")
    check_namespace(namespace)
    client = settings.redis.client()
    try:
        removed = open_store_on(client, settings.store).drop_namespace(namespace)
        removed += drop_namespace_keys(client, namespace)
        client.hdel(redis_keys.INGEST_REPLAYS, namespace)
        return removed
    finally:
        client.close()
