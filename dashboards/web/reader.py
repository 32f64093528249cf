"""What the web view needs from the store and the alert log, as Protocols.

`finsent.store.SeriesStore` satisfies `SeriesReader` structurally; declaring only the
calls we make keeps the web view honest about its dependencies and easy to review.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from finsent.redis_keys import Resolution
from finsent.schemas import Alert, Evidence, SeriesKind, SeriesRef
from finsent.store.models import SeriesPoint, SeriesTotals


class SeriesReader(Protocol):
    """Read side of the series store."""

    backend: str

    def list_namespaces(self) -> list[str]: ...

    def watermark(self, namespace: str) -> datetime | None: ...

    def document_count(self, namespace: str) -> int: ...

    def list_series(self, namespace: str, kind: SeriesKind | None = None) -> list[SeriesRef]: ...

    def range(
        self,
        series: SeriesRef,
        namespace: str,
        start: datetime,
        end: datetime,
        step: timedelta,
        resolution: Resolution = "1m",
    ) -> list[SeriesPoint]: ...

    def total(
        self,
        series: SeriesRef,
        namespace: str,
        start: datetime,
        end: datetime,
        resolution: Resolution = "1m",
    ) -> SeriesTotals: ...

    def evidence(
        self, series: SeriesRef, namespace: str, start: datetime, end: datetime, limit: int = 5
    ) -> list[Evidence]: ...


class AlertReader(Protocol):
    """Read side of the alert log."""

    def recent(self, namespace: str, limit: int) -> list[Alert]:
        """Newest alert state changes of a namespace first."""
        ...
