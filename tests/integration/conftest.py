"""Fixtures for tests that run finsent's consumers as real processes against the real stack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from devstack.stack import Stack
from finsent.kafka_io import make_consumer, make_producer
from finsent.schemas import Document
from finsent.settings import REPO_ROOT, FinsentSettings, KafkaSettings, RedisSettings, StackSettings
from finsent.store import SeriesStore, open_store
from finsent.store.base import ALL_SERIES

REPO = Path(__file__).resolve().parents[2]
FINSENT = str(Path(sys.executable).parent / "finsent")
EPOCH = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with the real heads, saved like a shipped model (no download)."""
    from inference.model.classifier import Classifier

    folder = tmp_path_factory.mktemp("tiny-model")
    Classifier.random_tiny(seed=7).save(folder)
    return folder


@pytest.fixture
def store(settings: FinsentSettings) -> SeriesStore:
    return open_store(settings, backend="core")


def make_documents(count: int, namespace: str, start: datetime = EPOCH) -> list[Document]:
    """Distinct documents spread over a few hours of event time, several tickers."""
    tickers = ("AAPL", "MSFT", "WMT", "JPM", "XOM")
    now = datetime.now(UTC)
    return [
        Document(
            id=f"doc-{i:06d}",
            source="test",
            text=f"Headline {i}: {tickers[i % 5]} shares move after the quarterly report",
            tickers=(tickers[i % 5],),
            published_at=start + timedelta(seconds=7 * i),
            ingested_at=now,
            namespace=namespace,
        )
        for i in range(count)
    ]


def produce(settings: FinsentSettings, topic: str, values: Sequence[bytes | Document]) -> None:
    """Send every value and wait for each acknowledgement.

    `flush` alone returns even when a record failed for good (say, retries spent while a
    restarted broker elects its leaders): a test that lost its own input would then wait
    for a count that can never come, and blame the consumer.
    """
    producer = make_producer(settings.kafka)
    try:
        futures = []
        for value in values:
            raw = value.model_dump_json().encode() if isinstance(value, Document) else value
            futures.append(producer.send(topic, raw))
        producer.flush(timeout=180)
        for future in futures:
            future.get(timeout=60)
    finally:
        producer.close(timeout=10)


def read_topic(settings: FinsentSettings, topic: str) -> list[ConsumerRecord]:
    """Every record on `topic`, from the beginning up to its end offsets now."""
    consumer = make_consumer(settings.kafka, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def count_all(store: SeriesStore, namespace: str) -> int:
    start = EPOCH - timedelta(days=400)
    return store.total(ALL_SERIES, namespace, start, EPOCH + timedelta(days=30)).count


_DIGITS_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def own_words(key: object, n: int = 3) -> str:
    """`n` letter-only words unique to `key` (an int, or hex like a uuid's).

    Ingest's near-duplicate check treats every word holding a digit as one feature, so
    texts told apart only by numbers or hex ids are one document (docs/ingest.md).
    """
    base = str(key).translate(_DIGITS_AS_LETTERS)
    return " ".join(f"{base}{chr(ord('q') + j)}" for j in range(n))


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture
def consumer_factory(
    tiny_model_dir: Path, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts `finsent infer` processes on the tiny model; kills leftovers after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        topic: str, group: str, scored_topic: str, model: Path | None = None, **env: str
    ) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"consumer-{len(procs)}.log").open("ab")
        full_env = {
            **os.environ,
            "FINSENT_INFERENCE_SCORED_TOPIC": scored_topic,
            "FINSENT_INFERENCE_BATCH__MAX_WAIT_S": "0.05",
            "FINSENT_INFERENCE_TORCH_THREADS": "1",
            "FINSENT_INFERENCE_STORE_BACKEND": "core",
            **env,
        }
        proc = subprocess.Popen(
            [
                FINSENT,
                "infer",
                "--topic",
                topic,
                "--group",
                group,
                "--model",
                str(model or tiny_model_dir),
                "--metrics-port",
                "0",
            ],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def private_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, FinsentSettings]]:
    """A broker and Redis of the module's own, on free ports, for tests that stop or
    restart them: the shared stack must never see that."""
    kafka_port, controller_port, redis_port = _free_port(), _free_port(), _free_port()
    settings = FinsentSettings(
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{kafka_port}"),
        redis=RedisSettings(port=redis_port),
        stack=StackSettings(
            home=tmp_path_factory.mktemp("stack"),
            kafka_port=kafka_port,
            kafka_controller_port=controller_port,
            redis_port=redis_port,
            kafka_libs=REPO_ROOT / ".stack" / "kafka" / "libs",
        ),
    )
    stack = Stack(settings)
    stack.up()
    yield stack, settings
    stack.down()
