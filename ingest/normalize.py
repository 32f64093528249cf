"""The one pure step every source shares: `RawItem` in, wire `Document` out.

Bad input raises `InvalidMessage(Reason..., detail)`; its reason starts with the class
(`oversized:`, `missing_text:`, ...) that the report and metrics count by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from finsent.errors import InvalidMessage, Reason
from finsent.schemas import LIVE_NAMESPACE, MAX_TEXT_CHARS, Document
from ingest.language import LanguageDetector
from ingest.models import RawItem
from ingest.settings import IngestSettings
from ingest.text import clean_text, content_id
from ingest.tickers import TickerTagger

MAX_ID_CHARS = 200
MAX_TITLE_CHARS = 1000
MAX_URL_CHARS = 2048


@dataclass(frozen=True)
class Limits:
    """What counts as valid input (from `IngestSettings`)."""

    max_raw_bytes: int = 256 * 1024
    max_future_s: float = 300.0
    min_year: int = 1990

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> Limits:
        return cls(settings.max_raw_bytes, settings.max_future_s, settings.min_year)


class Normalizer:
    """Cleans, validates, identifies, tags and detects the language of one input."""

    def __init__(self, tagger: TickerTagger, detector: LanguageDetector, limits: Limits) -> None:
        self._tagger = tagger
        self._detector = detector
        self._limits = limits

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> Normalizer:
        return cls(
            TickerTagger.bundled(settings.max_tickers),
            LanguageDetector(settings.languages),
            Limits.from_settings(settings),
        )

    def __call__(
        self,
        raw: RawItem,
        *,
        now: datetime,
        namespace: str = LIVE_NAMESPACE,
        ingested_at: datetime | None = None,
    ) -> Document:
        """Turn `raw` into a `Document`.

        Args:
            raw: what the source read.
            now: the injected clock's current time; bounds publication times.
            namespace: `live`, or the replay's namespace.
            ingested_at: defaults to `now`; replays pass the event time, so that two
                replays of the same input yield byte-identical documents.

        Raises:
            InvalidMessage: the input can never become a valid document.
        """
        limits = self._limits
        if len(raw.raw) > limits.max_raw_bytes:
            raise InvalidMessage(Reason.OVERSIZED, f"{len(raw.raw)} bytes > {limits.max_raw_bytes}")
        title = clean_text(raw.title)[:MAX_TITLE_CHARS] if raw.title else None
        body = clean_text(raw.text) if raw.text else ""
        text = (body or title or "")[:MAX_TEXT_CHARS].strip()
        if not text:
            raise InvalidMessage(Reason.MISSING_TEXT, "no text or title after cleaning")
        published_at = self._check_time(raw.published_at, now)
        source_id = clean_text(raw.source_id) if raw.source_id else ""
        doc_id = source_id if 0 < len(source_id) <= MAX_ID_CHARS else content_id(title, text)
        tag_text = f"{title}\n{text}" if title and title not in text else text
        try:
            return Document(
                id=doc_id,
                source=raw.source,
                url=_clean_url(raw.url),
                title=title or None,
                text=text,
                language=self._detector.detect(text, raw.language),
                tickers=self._tagger.tag(tag_text, raw.cashtags, raw.tickers),
                published_at=published_at,
                ingested_at=ingested_at or now,
                namespace=namespace,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidMessage(
                Reason.INVALID_DOCUMENT, f"{where}: {first['msg']}", max_chars=500
            ) from None

    def _check_time(self, published_at: datetime | None, now: datetime) -> datetime:
        if published_at is None:
            raise InvalidMessage(Reason.MISSING_TIME, "no publication time")
        try:
            published_at = published_at.astimezone(UTC)
        except (OverflowError, ValueError):
            raise InvalidMessage(Reason.TIME_TOO_OLD, "publication time out of range") from None
        if published_at.year < self._limits.min_year:
            raise InvalidMessage(
                Reason.TIME_TOO_OLD,
                f"{published_at.isoformat()} is before {self._limits.min_year}",
            )
        if published_at > now + timedelta(seconds=self._limits.max_future_s):
            raise InvalidMessage(
                Reason.TIME_IN_FUTURE,
                f"{published_at.isoformat()} is more than "
                f"{self._limits.max_future_s:g} s after the clock ({now.isoformat()})",
            )
        return published_at


def _clean_url(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    if len(url) > MAX_URL_CHARS or not url.lower().startswith(("http://", "https://")):
        return None
    return url if url.isprintable() and " " not in url else None
