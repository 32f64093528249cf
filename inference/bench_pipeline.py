"""`finsent bench pipeline`: the whole scoring path against the bare model, in one run.

(a) Bare model: tokenise + forward + softmax on batches of real texts, in-process, no I/O,
    and the forward pass alone on the same batches tokenised up front. Each is timed for
    a quarter of its seconds before (b) and a quarter after, so that drift in the
    machine's speed (a shared VM's neighbours) lands on both sides of the ratio.
(b) Pipeline: Kafka -> decode -> batch -> tokenise -> model -> store write -> scored topic
    -> commit, on the real local broker and Redis, with the documents already in the topic.
(c) Latency: documents produced at 50% of the measured pipeline capacity; end-to-end is
    ingest time (set when produced) to written.
(d) Peer baseline: the loop a user would write instead of finsent, on the same broker,
    Redis, model and documents (poll up to 128 records, score them as one batch, pipeline
    the Redis increments, commit). It has none of finsent's guarantees (no dead letters,
    no idempotent writes, no scored topic); finsent's path should still be as fast.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import torch
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from finsent.kafka_io import ensure_topics, make_admin, make_consumer, make_producer
from finsent.schemas import Document
from finsent.settings import FinsentSettings
from finsent.store import open_store
from finsent.stream.batching import BatchPolicy
from finsent.topics import dlq_of
from inference.metrics import InferenceMetrics
from inference.model.classifier import Classifier
from inference.model.hardware import detect_cpu
from inference.settings import InferenceSettings

PEER_BATCH = 128


class PipelineBench(BaseModel):
    """What `finsent bench pipeline --json` prints."""

    model_texts_per_s: float
    """Mean of the two bare-model timings below."""
    model_texts_per_s_before: float
    model_texts_per_s_after: float
    model_forward_texts_per_s: float
    """The model alone on pre-tokenised batches (before and after, averaged)."""
    ratio_vs_forward: float
    """`pipeline_texts_per_s / model_forward_texts_per_s`: tokenisation counted as overhead."""
    pipeline_texts_per_s: float
    ratio: float
    p50_ms: float
    p99_ms: float
    latency_rate_per_s: float
    documents: int
    settings: dict[str, object]
    device_capability: str
    """torch's CPU dispatch level and the CPU's int8/bf16 features, e.g. `AVX512 +vnni -bf16 -amx`."""
    precision: str
    """Weights served: `fp32`, `bf16`, `fp16` or `int8`."""
    runtime: str
    """`onnxruntime`, `torchscript` (frozen graph) or `torch-eager`."""
    peer_texts_per_s: float
    """(d): the hand-written poll-score-increment-commit loop, same documents."""
    ratio_vs_peer: float
    """`pipeline_texts_per_s / peer_texts_per_s`: >= 1 means finsent's path is as fast."""


class _Recorder(InferenceMetrics):
    """Metrics that also keep per-document write times and latencies for the bench."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.lock = threading.Lock()
        self.written_total = 0
        self.first_write_at: float | None = None
        self.first_batch = 0
        self.last_write_at = 0.0
        self.latencies_s: list[float] = []

    def written(self, count: int, ingested_at_s: Sequence[float]) -> None:
        super().written(count, ingested_at_s)
        now_wall, now = time.time(), time.monotonic()
        with self.lock:
            if self.first_write_at is None:
                self.first_write_at, self.first_batch = now, count
            self.written_total += count
            self.last_write_at = now
            self.latencies_s.extend(now_wall - t for t in ingested_at_s)


class BareModel:
    """The bare-model baselines on `batch`-sized slices of `texts`, tokenised once up front.

    Timed on a worker thread, as the consumer's compute runs, so the baseline and the
    pipeline are measured the same way.
    """

    def __init__(self, classifier: Classifier, texts: Sequence[str], batch: int) -> None:
        self._classifier = classifier
        self._batch = batch
        self._chunks = [
            [texts[(start + k) % len(texts)] for k in range(batch)]
            for start in range(0, len(texts), batch)
        ]
        self._encoded = [classifier.tokenize(c) for c in self._chunks]

    def measure(self, seconds: float) -> tuple[float, float]:
        """Texts/s of tokenise + score, then of score alone, each for half of `seconds`.

        Score alone reuses the batches tokenised up front: the strictest baseline, since
        the pipeline tokenises the next batch while the model runs.
        """
        return self._timed(seconds / 2, tokenize=True), self._timed(seconds / 2, tokenize=False)

    def _timed(self, seconds: float, *, tokenize: bool) -> float:
        clf = self._classifier

        def loop() -> float:
            clf.score_encoded(self._encoded[0])  # warm-up
            done, started, i = 0, time.perf_counter(), 0
            while time.perf_counter() - started < seconds:
                k = i % len(self._chunks)
                clf.score_encoded(clf.tokenize(self._chunks[k]) if tokenize else self._encoded[k])
                done += self._batch
                i += 1
            return done / (time.perf_counter() - started)

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(loop).result()


def _documents(texts: Sequence[str], count: int, namespace: str) -> list[Document]:
    tickers = ("AAPL", "MSFT", "WMT", "JPM", "XOM", "GE", "BAC", "AMZN", "GOOG")
    start, now = datetime(2026, 1, 5, 14, tzinfo=UTC), datetime.now(UTC)
    return [
        Document(
            id=f"bench-{i}",
            source="bench",
            text=texts[i % len(texts)],
            tickers=(tickers[i % len(tickers)],),
            published_at=start + timedelta(seconds=i),
            ingested_at=now,
            namespace=namespace,
        )
        for i in range(count)
    ]


def run_pipeline_bench(
    base: FinsentSettings,
    classifier: Classifier,
    texts: Sequence[str],
    *,
    documents: int = 6000,
    policy: BatchPolicy,
    model_seconds: float = 20.0,
    latency_seconds: float = 20.0,
    profile_to: Path | None = None,
) -> PipelineBench:
    """Measure (a), (b) and (c) above; cleans up its topics and namespace."""
    bare = BareModel(classifier, texts, policy.max_count)
    model_before, forward_before = bare.measure(model_seconds / 2)

    namespace = "bench-" + uuid.uuid4().hex[:8]
    topic, scored = f"bench.{namespace}.v1", f"bench.{namespace}.scored.v1"
    ensure_topics(base.kafka, [topic, dlq_of(topic), scored])
    store = open_store(base)
    producer = make_producer(base.kafka, linger_ms=20)
    try:
        for doc in _documents(texts, documents, namespace):
            producer.send(topic, doc.model_dump_json().encode())
        producer.flush()

        settings = InferenceSettings(
            topic=topic,
            scored_topic=scored,
            group_id=f"bench-{namespace}",
            batch=policy,
            metrics_port=0,
            latency_namespaces=(namespace,),
        )
        recorder = _Recorder(CollectorRegistry())
        stop = threading.Event()
        # Imported here to keep the module importable without starting anything.
        from inference.service import run_consumer

        def consume() -> None:
            if profile_to is None:
                run_consumer(
                    base, settings, scorer=classifier, store=store, stop=stop, metrics=recorder
                )
                return
            # The consumer's main thread: decode, batching, tokenisation, writes, commits
            # (the model itself runs on the compute thread and shows as a wait here).
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
            try:
                run_consumer(
                    base, settings, scorer=classifier, store=store, stop=stop, metrics=recorder
                )
            finally:
                profiler.stop()
                profile_to.write_text(profiler.output_text(unicode=True, show_all=False))

        worker = threading.Thread(
            target=consume,
            daemon=True,
        )
        worker.start()
        _wait(lambda: recorder.written_total >= documents, 900)
        assert recorder.first_write_at is not None
        steady = documents - recorder.first_batch
        pipeline_tps = steady / max(1e-9, recorder.last_write_at - recorder.first_write_at)
        # The consumer idles on an empty topic now: the model has the machine again.
        model_after, forward_after = bare.measure(model_seconds / 2)
        model_tps = (model_before + model_after) / 2
        forward_tps = (forward_before + forward_after) / 2

        # (c) a paced stream at half the measured capacity, latencies from ingest time.
        rate = pipeline_tps * 0.5
        recorder.latencies_s.clear()
        target = recorder.written_total
        sent, started = 0, time.monotonic()
        paced = _documents(texts, int(rate * latency_seconds), namespace)
        for i, doc in enumerate(paced):
            due = started + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            fresh = doc.model_copy(update={"id": f"paced-{i}", "ingested_at": datetime.now(UTC)})
            producer.send(topic, fresh.model_dump_json().encode())
            sent += 1
        producer.flush()
        _wait(lambda: recorder.written_total >= target + sent, 300)
        stop.set()
        worker.join(timeout=180)
        lat_ms = sorted(x * 1000 for x in recorder.latencies_s)
        p50 = statistics.median(lat_ms)
        p99 = lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))]
        # (d) the same documents again, read from the start by the peer loop's own group.
        peer_tps = run_peer_loop(base, classifier, topic, documents, namespace)
    finally:
        producer.close(timeout=10)
        admin = make_admin(base.kafka)
        try:
            admin.delete_topics([topic, dlq_of(topic), scored])
        finally:
            admin.close()
        store.drop_namespace(namespace)
    return PipelineBench(
        model_texts_per_s=round(model_tps, 1),
        model_texts_per_s_before=round(model_before, 1),
        model_texts_per_s_after=round(model_after, 1),
        model_forward_texts_per_s=round(forward_tps, 1),
        ratio_vs_forward=round(pipeline_tps / forward_tps, 3),
        pipeline_texts_per_s=round(pipeline_tps, 1),
        ratio=round(pipeline_tps / model_tps, 3),
        p50_ms=round(p50, 1),
        p99_ms=round(p99, 1),
        latency_rate_per_s=round(rate, 1),
        documents=documents,
        device_capability=detect_cpu().describe()
        if classifier.device.type == "cpu"
        else (torch.cuda.get_device_name(classifier.device)),
        precision=classifier.precision,
        runtime=classifier.runtime,
        peer_texts_per_s=round(peer_tps, 1),
        ratio_vs_peer=round(pipeline_tps / peer_tps, 3),
        settings={
            "batch": policy.model_dump(),
            "model_version": classifier.model_version,
            "device": str(classifier.device),
            "frozen_graph": classifier.frozen,
            "torch_threads": torch.get_num_threads(),
        },
    )


def run_peer_loop(
    base: FinsentSettings, classifier: Classifier, topic: str, documents: int, namespace: str
) -> float:
    """(d): texts/s of the loop a user would write, from its first commit to its last.

    Poll up to 128 records, decode the JSON, score the texts as one batch, count each
    document's sentiment per ticker and minute with pipelined `HINCRBY`s, execute, commit.
    Reads the first `documents` records of `topic` under its own consumer group; its keys
    live under `bench-peer:<namespace>:` and are deleted afterwards.
    """
    consumer = make_consumer(base.kafka, f"bench-peer-{namespace}")
    client = base.redis.client()
    prefix = f"bench-peer:{namespace}:"
    consumer.subscribe([topic])
    done, first_at, first_batch, last_at = 0, 0.0, 0, 0.0
    try:
        deadline = time.monotonic() + 900
        while done < documents and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=500, max_records=PEER_BATCH)
            records = [r for batch in polled.values() for r in batch][: documents - done]
            if not records:
                continue
            docs = [json.loads(r.value) for r in records]
            scores = classifier.score_batch([d["text"] for d in docs])
            pipe = client.pipeline(transaction=False)
            for doc, score in zip(docs, scores, strict=True):
                minute = str(doc["published_at"])[:16]
                for series in (*doc["tickers"], "all"):
                    pipe.hincrby(f"{prefix}{series}:{minute}", score.sentiment, 1)
            pipe.execute()
            consumer.commit()
            done += len(records)
            now = time.monotonic()
            if not first_at:
                first_at, first_batch = now, len(records)
            last_at = now
    finally:
        consumer.close(autocommit=False)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()
    if done < documents:
        raise TimeoutError(f"peer loop read {done} of {documents} documents")
    return (documents - first_batch) / max(1e-9, last_at - first_at)


def _wait(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise TimeoutError("benchmark did not finish in time")
