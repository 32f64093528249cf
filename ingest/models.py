"""Ingest's own boundary models: what sources hand to the ingestor, and what it reports."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DuplicateKind = Literal["id", "content", "near"]


class RawItem(BaseModel):
    """One input as a source read it, before any cleaning.

    `raw` keeps the original bytes so a rejected item reaches the dead-letter topic as it came.
    """

    model_config = ConfigDict(frozen=True)

    source: Annotated[str, Field(min_length=1, max_length=100)]
    source_id: str | None = None
    """The source's own id, already scoped (e.g. `tw:654...`, `rss:<guid>`); None: hash it."""
    text: str | None = None
    title: str | None = None
    url: str | None = None
    published_at: AwareDatetime | None = None
    language: str | None = None
    """Language as the source states it (Twitter's `lang`); None or `und`: detect it."""
    cashtags: tuple[str, ...] = ()
    """Symbols the source extracted itself (Twitter `entities.symbols`)."""
    tickers: tuple[str, ...] = ()
    """Tickers a trusted sender asserted (push API); merged with the ones we find."""
    raw: bytes = Field(default=b"", repr=False, exclude=True)


class Unreadable(BaseModel):
    """An input a source could not even turn into a `RawItem` (bad bytes, bad JSON, ...)."""

    model_config = ConfigDict(frozen=True)

    source: str
    raw: bytes = Field(repr=False)
    reason: str


Candidate = RawItem | Unreadable


class IngestReport(BaseModel):
    """What one ingest run did with its inputs.

    Invariant: `documents_in == duplicates + dead_lettered + produced`.
    """

    namespace: str | None = None
    """The namespace written (a replay's default name is only known from here)."""
    documents_in: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    produced: int = 0
    duplicates_by_kind: dict[str, int] = Field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = Field(default_factory=dict)
    """Counts by reason class (the part of the reason before the first colon)."""
    per_ticker: dict[str, int] = Field(default_factory=dict)
    """Produced documents per ticker (a document with two tickers counts for both)."""
    untagged: int = 0
    """Produced documents with no ticker."""
    dedupe_key_id: str | None = None
    """Fingerprint of the SimHash key that decided near duplicates (`Deduplicator.key_id`):
    replays of the same history count the same documents only under the same key."""

    @property
    def balanced(self) -> bool:
        return self.documents_in == self.duplicates + self.dead_lettered + self.produced

    def merge(self, other: IngestReport) -> IngestReport:
        """The sum of two reports (for a run over several sources)."""

        def add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return dict(Counter(a) + Counter(b))

        keys = {self.dedupe_key_id, other.dedupe_key_id} - {None}  # two keys: neither holds

        return IngestReport(
            namespace=self.namespace if self.namespace == other.namespace else None,
            documents_in=self.documents_in + other.documents_in,
            duplicates=self.duplicates + other.duplicates,
            dead_lettered=self.dead_lettered + other.dead_lettered,
            produced=self.produced + other.produced,
            duplicates_by_kind=add(self.duplicates_by_kind, other.duplicates_by_kind),
            dead_letter_reasons=add(self.dead_letter_reasons, other.dead_letter_reasons),
            per_ticker=add(self.per_ticker, other.per_ticker),
            untagged=self.untagged + other.untagged,
            dedupe_key_id=keys.pop() if len(keys) == 1 else None,
        )
