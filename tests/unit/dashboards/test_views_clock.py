"""The web view's default window never ends after the service clock's "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboards.web import views

NOW = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)


class _Store:
    def __init__(self, watermark: datetime | None) -> None:
        self._watermark = watermark

    def watermark(self, namespace: str) -> datetime | None:
        return self._watermark


def test_a_document_dated_ahead_does_not_move_the_live_view_into_the_future() -> None:
    store = _Store(NOW + timedelta(days=1))
    _, window = views.window_for(store, "live", 24, None, NOW)  # type: ignore[arg-type]
    assert window is not None and NOW <= window.end <= NOW + timedelta(hours=1)


def test_a_replay_of_the_past_still_ends_at_its_watermark() -> None:
    past = datetime(2015, 10, 31, tzinfo=UTC)
    _, window = views.window_for(_Store(past), "replay-x", 24, None, NOW)  # type: ignore[arg-type]
    assert window is not None and past <= window.end <= past + timedelta(hours=1)
