"""The consumer's delivery guarantees, on the real broker and the real Redis server."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from subprocess import Popen

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
    reasons = []
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["original_topic"].decode() == topic
        assert int(headers["original_partition"]) == 0
        assert int(headers["original_offset"]) in (10, 21, 22)
        reasons.append(headers["reason"].decode())
    assert len(reasons) == 3
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
