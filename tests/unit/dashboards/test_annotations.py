from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from alerts.channels.base import NotifyError
from alerts.channels.publish import GrafanaAnnotationChannel
from dashboards.annotations import annotation_for, post_annotation
from dashboards.settings import GrafanaSettings
from finsent.grafana import ALERT_TAG
from finsent.schemas import Alert, Evidence, SeriesRef

# The `grafana_stub` fixture (conftest.py) is typed `Any` here: conftest modules are not
# importable by a stable name, so mypy cannot see its class.
GrafanaStub = Any

START = datetime(2015, 8, 24, 14, 0, tzinfo=UTC)
SECRET_SNIPPET = "Private article body that must never leave the alert log"


def _alert(state: str = "firing") -> Alert:
    return Alert.model_validate(
        {
            "incident_id": "inc-1",
            "rule": "negative_share_spike",
            "namespace": "replay-2015",
            "series": SeriesRef(kind="ticker", value="AAPL"),
            "state": state,
            "severity": "critical",
            "window_start": START,
            "window_end": START + timedelta(minutes=15),
            "observed": 0.71,
            "baseline": 0.2,
            "z_score": 5.5,
            "doc_count": 31,
            "evidence": (
                Evidence(document_id="d1", published_at=START, snippet=SECRET_SNIPPET, score=-0.9),
            ),
            "evaluated_at": START + timedelta(minutes=15),
        }
    )


def test_annotation_spans_the_window_and_is_tagged_for_dashboard_filters() -> None:
    request = annotation_for(_alert())
    assert request.time_ms == int(START.timestamp() * 1000)
    assert request.time_end_ms - request.time_ms == 15 * 60 * 1000
    assert set(request.tags) >= {ALERT_TAG, "namespace:replay-2015", "ticker:AAPL"}
    assert "negative_share_spike" in request.text and "0.710" in request.text
    assert SECRET_SNIPPET not in request.text


def test_post_annotation_calls_the_grafana_api(grafana_stub: GrafanaStub) -> None:
    settings = GrafanaSettings(url=grafana_stub.url, token=SecretStr("tok"))

    first = post_annotation(settings, _alert())
    second = post_annotation(settings, _alert("resolved"))

    assert (first, second) == (1, 2)
    assert [(c.method, c.path) for c in grafana_stub.calls] == [("POST", "/api/annotations")] * 2
    body = grafana_stub.calls[0].body
    assert body["time"] == int(START.timestamp() * 1000)
    assert "ticker:AAPL" in body["tags"] and "state:firing" in body["tags"]
    assert "state:resolved" in grafana_stub.calls[1].body["tags"]
    assert grafana_stub.calls[0].authorization == "Bearer tok"


def test_no_grafana_configured_posts_nothing() -> None:
    assert post_annotation(GrafanaSettings(), _alert()) is None


def test_the_alerts_service_channel_posts_annotations(grafana_stub: GrafanaStub) -> None:
    """`finsent alerts run` adds this channel when FINSENT_GRAFANA_URL is set."""
    channel = GrafanaAnnotationChannel(GrafanaSettings(url=grafana_stub.url))
    channel.send(_alert())
    assert [(c.method, c.path) for c in grafana_stub.calls] == [("POST", "/api/annotations")]


def test_an_unreachable_grafana_is_a_channel_failure_not_a_crash() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    channel = GrafanaAnnotationChannel(GrafanaSettings(url="http://127.0.0.1:9", timeout_s=1))
    with pytest.raises(NotifyError):
        channel.send(_alert())
