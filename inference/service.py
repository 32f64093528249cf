"""The inference consumer as a service: built from settings, run until stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from finsent.errors import FinsentError
from finsent.kafka_io import ensure_pipeline_topics, make_consumer, make_producer
from finsent.observability import HealthState, instrument_process
from finsent.service import Endpoint, observed
from finsent.settings import FinsentSettings
from finsent.store import open_store
from finsent.stream.base import RunStats
from finsent.stream.dlq import DeadLetterProducer
from finsent.stream.runner import StreamRunner
from finsent.topics import DOCUMENTS, SCORED
from inference.handler import Scorer, ScoringHandler, SeriesWriter
from inference.metrics import InferenceMetrics
from inference.model.classifier import Classifier
from inference.settings import InferenceSettings

log = logging.getLogger(__name__)


def load_scorer(settings: InferenceSettings) -> Classifier:
    path = Path(settings.model_path) if settings.model_path else None
    return Classifier.load(
        path, device=settings.device, precision=settings.precision, max_length=settings.max_length
    )


def _wait_for_broker(
    base: FinsentSettings,
    settings: InferenceSettings,
    timeout_s: float = 180.0,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Create the topics, waiting for a broker that is (re)starting instead of crashing.

    Raises:
        KafkaError: the broker was still unreachable after `timeout_s`.
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(2.0),
        retry=retry_if_exception_type(KafkaError),
        before_sleep=_log_broker_retry,
        sleep=sleep,
        reraise=True,
    )
    retrying(ensure_pipeline_topics, base.kafka, [DOCUMENTS, SCORED])


def _log_broker_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    log.warning("broker not reachable yet; retrying", extra={"error": str(exc)[:200]})


class ScoringService:
    """One consumer process of the scoring group (`finsent.service.Service`).

    `scorer` and `store` default to the shipped model and the configured Redis store,
    loaded in `run`; tests and benchmarks pass their own.
    """

    def __init__(
        self,
        base: FinsentSettings,
        settings: InferenceSettings,
        *,
        scorer: Scorer | None = None,
        store: SeriesWriter | None = None,
        metrics: InferenceMetrics | None = None,
    ) -> None:
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        self._base = base
        self._settings = settings
        self._scorer = scorer
        self._store = store
        self.health = HealthState()
        if metrics is None:
            metrics = InferenceMetrics(CollectorRegistry(), self.health, base.clock())
        else:
            metrics.attach_health(self.health)
        self._metrics = metrics
        self.stats = RunStats()

    @property
    def registry(self) -> CollectorRegistry:
        return self._metrics.registry

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self._settings.metrics_host, self._settings.metrics_port)

    def run(self, stop: threading.Event) -> int:
        """Consume until `stop` is set; the counts are left in `stats`.

        Raises:
            FinsentError: the consumer stopped itself (see `finsent.stream.errors`).
        """
        base, settings, metrics = self._base, self._settings, self._metrics
        _wait_for_broker(base, settings)
        scorer = self._scorer or load_scorer(settings)
        instrument_process(metrics.registry, model_version=scorer.model_version)
        store = self._store or open_store(base, backend=settings.store_backend)
        producer = make_producer(base.kafka)
        consumer = make_consumer(base.kafka, settings.group_id)
        handler = ScoringHandler(
            scorer,
            store,
            producer,
            metrics,
            scored_topic=settings.scored_topic,
            source_topic=settings.topic,
            latency_namespaces=frozenset(settings.latency_namespaces),
        )
        runner = StreamRunner(
            consumer,
            settings.topic,
            handler,
            DeadLetterProducer(producer, max_consecutive=settings.max_consecutive_invalid),
            settings.batch,
            retry=settings.retry,
            observer=metrics,
            stop=stop,
            unassigned_timeout_s=settings.unassigned_timeout_s,
        )
        log.info(
            "inference consumer starting",
            extra={
                "topic": settings.topic,
                "group": settings.group_id,
                "device": settings.device,
                "model_version": scorer.model_version,
            },
        )
        try:
            self.stats = runner.run()
        except FinsentError as exc:
            # A fault of ours, not of the input (see `finsent.stream.errors`): say so and stop.
            self.stats = runner.stats
            log.error(
                "inference consumer stopped on an error",
                extra={"error": f"{type(exc).__name__}: {exc}", **runner.stats.model_dump()},
            )
            raise
        finally:
            producer.close(timeout=10)
        log.info("inference consumer stopped", extra=self.stats.model_dump())
        return 0


def run_consumer(
    base: FinsentSettings,
    settings: InferenceSettings,
    *,
    scorer: Scorer | None = None,
    store: SeriesWriter | None = None,
    stop: threading.Event | None = None,
    metrics: InferenceMetrics | None = None,
) -> RunStats:
    """Run a `ScoringService` with its endpoint until `stop` is set, off the main thread too.

    For a benchmark that runs consumers beside its own work (`finsent bench pipeline`);
    `finsent infer` runs the service with `finsent.service.run_service`, and `finsent run`
    on a `finsent.service.ServiceThread`.
    """
    service = ScoringService(base, settings, scorer=scorer, store=store, metrics=metrics)
    with observed(service, service.endpoint):
        service.run(stop or threading.Event())
    return service.stats
