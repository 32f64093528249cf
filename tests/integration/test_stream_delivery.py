"""The consumer's delivery guarantees, on the real broker and the real Redis server."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen

import pytest
from kafka import TopicPartition

from finsent.kafka_io import make_consumer
from finsent.schemas import MAX_TEXT_CHARS
from finsent.settings import FinsentSettings
from finsent.store import SeriesStore
from tests.integration.conftest import count_all, make_documents, produce, read_topic, wait_for


def test_sigkill_mid_stream_counts_every_document_once(
    settings: FinsentSettings,
    store: SeriesStore,
    topic_factory: Callable[..., str],
    consumer_group: str,
    namespace: str,
    consumer_factory: Callable[..., Popen[bytes]],
) -> None:
    topic = topic_factory("docs", partitions=2)
    scored = topic_factory("scored", partitions=2)
    docs = make_documents(5000, namespace)
    produce(settings, topic, docs)

    first = consumer_factory(topic, consumer_group, scored)
    # Kill it once it has written a part of the stream, but not all of it.
    wait_for(lambda: count_all(store, namespace) >= 800, 180, "the first consumer to write")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    counted_at_kill = count_all(store, namespace)
    assert counted_at_kill < 5000, "the kill came too late to test anything"

    second = consumer_factory(topic, consumer_group, scored)
    wait_for(lambda: count_all(store, namespace) >= 5000, 240, "all 5000 documents")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0

    assert count_all(store, namespace) == 5000
    # The scored topic holds every id at least once (at-least-once; duplicates allowed).
    ids = {json.loads(r.value)["document_id"] for r in read_topic(settings, scored)}
    assert ids == {d.id for d in docs}


def test_bad_messages_are_dead_lettered_and_good_ones_counted(
    settings: FinsentSettings,
    store: SeriesStore,
    topic_factory: Callable[..., str],
    consumer_group: str,
    namespace: str,
    consumer_factory: Callable[..., Popen[bytes]],
) -> None:
    topic = topic_factory("docs", partitions=1)
    scored = topic_factory("scored")
    good = make_documents(30, namespace)
    schema_invalid = good[0].model_dump(mode="json") | {"id": "bad-1", "published_at": "yesterday"}
    oversized = good[0].model_dump(mode="json") | {
        "id": "bad-2",
        "text": "x" * (MAX_TEXT_CHARS + 1),
    }
    values: list[object] = [
        *good[:10],
        b"{not json",
        *good[10:20],
        json.dumps(schema_invalid).encode(),
        json.dumps(oversized).encode(),
        *good[20:],
    ]
    produce(settings, topic, values)  # type: ignore[arg-type]

    proc = consumer_factory(topic, consumer_group, scored)
    wait_for(lambda: count_all(store, namespace) >= 30, 120, "the 30 good documents")

    wait_for(lambda: len(read_topic(settings, topic + ".dlq")) >= 3, 60, "3 dead letters")
    letters = read_topic(settings, topic + ".dlq")
    assert proc.poll() is None, "the consumer must keep running after bad input"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0

    assert count_all(store, namespace) == 30
    by_offset: dict[int, set[str]] = {}
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["original_topic"].decode() == topic
        assert int(headers["original_partition"]) == 0
        by_offset.setdefault(int(headers["original_offset"]), set()).add(headers["reason"].decode())
    # Dead letters are at least once: the group's second rebalance at start-up can revoke
    # after a dead letter was sent and before its offset was committed, and the record is
    # read and dead-lettered again, with the same reason. Only bad records, each with one.
    assert sorted(by_offset) == [10, 21, 22]
    assert all(len(reasons) == 1 for reasons in by_offset.values()), by_offset
    reasons = [next(iter(by_offset[offset])) for offset in (10, 21, 22)]
    assert "json" in reasons[0].lower()
    assert "published_at" in reasons[1]
    assert "text" in reasons[2] and "at most" in reasons[2]


def test_a_lone_document_is_scored_without_waiting_for_company(
    settings: FinsentSettings,
    store: SeriesStore,
    topic_factory: Callable[..., str],
    consumer_group: str,
    namespace: str,
    consumer_factory: Callable[..., Popen[bytes]],
) -> None:
    """With the model idle, a batch closes at once: the max wait only applies while the
    model is busy (light live traffic would otherwise sit out the full wait)."""
    topic, scored = topic_factory("docs"), topic_factory("scored")
    proc = consumer_factory(
        topic, consumer_group, scored, FINSENT_INFERENCE_BATCH__MAX_WAIT_S="120"
    )
    produce(settings, topic, make_documents(1, namespace))
    wait_for(lambda: count_all(store, namespace) == 1, 60, "the lone document, long before 120 s")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


@pytest.fixture(scope="module")
def broken_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that loads but cannot compute anything: its vocabulary is smaller than its
    tokenizer's (a wrong model/tokenizer pairing), so every document, and the canary,
    fails inside the embedding lookup, like a wrong device or a bug would."""
    from inference.model.classifier import Classifier
    from inference.model.network import FinsentNet, HeadsConfig
    from inference.model.tiny import tiny_bert_config, tiny_tokenizer

    folder = tmp_path_factory.mktemp("broken-model")
    net = FinsentNet.from_encoder_config(tiny_bert_config(4), HeadsConfig(model_version="broken"))
    Classifier._ready(net, tiny_tokenizer(), "cpu", "fp32", None, 64, False).save(folder)
    return folder


def test_a_broken_model_stops_the_consumer_without_committing_or_dead_lettering(
    settings: FinsentSettings,
    store: SeriesStore,
    topic_factory: Callable[..., str],
    consumer_group: str,
    namespace: str,
    consumer_factory: Callable[..., Popen[bytes]],
    broken_model_dir: Path,
    tmp_path: Path,
) -> None:
    topic = topic_factory("docs", partitions=2)
    scored = topic_factory("scored")
    produce(settings, topic, make_documents(300, namespace))

    proc = consumer_factory(topic, consumer_group, scored, model=broken_model_dir)
    assert proc.wait(timeout=240) == 3, "a broken model must stop the consumer (exit 3)"

    output = (tmp_path / "consumer-0.log").read_text()
    assert "ComputeFault" in output and "fault of the code or the machine" in output
    assert read_topic(settings, topic + ".dlq") == [], "good documents were dead-lettered"
    assert count_all(store, namespace) == 0
    probe = make_consumer(settings.kafka, group_id=consumer_group)
    try:
        committed = [probe.committed(TopicPartition(topic, p)) for p in (0, 1)]
    finally:
        probe.close()
    assert committed == [None, None], f"offsets were committed: {committed}"
