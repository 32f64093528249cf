"""Channels that record rather than page: the Kafka alert topic and Grafana annotations."""

from __future__ import annotations

from kafka import KafkaProducer

from alerts.channels.base import NotifyError
from finsent.grafana import post_annotation
from finsent.schemas import Alert
from finsent.settings import GrafanaSettings
from finsent.topics import ALERTS


class KafkaChannel:
    """Publishes every state change to `alerts.fired.v1`, keyed by incident id.

    Consumers dedupe on (incident_id, state): a record is written again only in the
    crash window between the broker's ack and the delivered marker.
    """

    name = "kafka"

    def __init__(self, producer: KafkaProducer, timeout_s: float) -> None:
        self._producer, self._timeout_s = producer, timeout_s

    def send(self, alert: Alert) -> None:
        key = ALERTS.key(alert)
        try:
            self._producer.send(
                ALERTS.name, value=ALERTS.encode(alert), key=key.encode() if key else None
            ).get(timeout=self._timeout_s)
        except Exception as exc:  # noqa: BLE001 - kafka-python raises many unrelated types
            raise NotifyError(type(exc).__name__) from None


class GrafanaAnnotationChannel:
    """Posts every paged state change as a Grafana annotation, so dashboards show incidents."""

    name = "grafana"

    def __init__(self, settings: GrafanaSettings) -> None:
        self._settings = settings

    def send(self, alert: Alert) -> None:
        try:
            post_annotation(self._settings, alert)
        except Exception as exc:  # noqa: BLE001 - grafana-client raises many unrelated types
            raise NotifyError(type(exc).__name__) from None
