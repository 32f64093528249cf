"""A batch of scored documents as one write call per namespace: counts summed per series,
resolution, bucket and model before they reach Redis, so Redis work grows with series ×
buckets, not with documents.

`WriteCall` is the typed call object; `script_args` turns it into the `KEYS`/`ARGV` of
`lua/write_batch.lua`, which reads every field by name (one JSON argument) and every key by
an index the call assigned. Pure computation: no Redis here.
"""

from __future__ import annotations

import heapq
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from finsent import redis_keys
from finsent.labels import topic_slug
from finsent.redis_keys import RESOLUTION_MS, Resolution
from finsent.schemas import Evidence, ScoredDocument
from finsent.store.models import HOUR_MS, StoreOptions, floor_ms, to_ms

EVIDENCE_SNIPPET_CHARS: Final = 300
RETENTION_REASON: Final = "older than hour retention behind the namespace watermark"
FUTURE_REASON: Final = "published_at is in the future"

BucketKeys = Callable[[str, Resolution, str, str, int, str], list[str]]
"""(namespace, resolution, kind, value, bucket start ms, model) -> the bucket's keys."""
SeriesLabels = Callable[[str, str, str, str], list[str]]
"""(namespace, kind, value, model) -> label name/value pairs of the series' keys."""


@lru_cache(maxsize=4096)
def _topic(topic: str) -> str:
    return topic_slug(topic)


def series_of(doc: ScoredDocument) -> list[tuple[str, str]]:
    """`(kind, value)` of every series a document counts in: each ticker, its topic, its
    source, and `all`."""
    out = [("ticker", t) for t in dict.fromkeys(doc.tickers)]
    out.append(("topic", _topic(doc.topic)))
    out.append(("source", doc.source))
    out.append(("all", "all"))
    return out


def evidence_of(doc: ScoredDocument) -> Evidence:
    """What an alert cites about a document: no full text, only title/snippet."""
    parts = [p for p in (doc.title, doc.snippet) if p]
    return Evidence(
        document_id=doc.document_id,
        published_at=doc.published_at,
        snippet=" — ".join(parts)[:EVIDENCE_SNIPPET_CHARS],
        url=doc.url,
        score=doc.score,
    )


class KeyTable:
    """Redis keys of one call, each once, numbered from 1 as Lua's `KEYS` are."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, name: str) -> int:
        index = self._index.get(name)
        if index is None:
            self.names.append(name)
            index = self._index[name] = len(self.names)
        return index


# A bucket's sums as a list (the hot loop indexes it): count, negative, neutral, positive,
# score_sum.
_COUNT, _SCORE_SUM = 0, 4
_LABEL_SLOT: Final = {"negative": 1, "neutral": 2, "positive": 3}
Sums = list[float]


@dataclass(slots=True)
class _Hour:
    docs: int = 0
    first_ms: int = 0
    last_ms: int = 0


@dataclass
class WriteCall:
    """One namespace's share of a batch, ready for `lua/write_batch.lua`.

    `doc_hours[i]` is the event-time hour of `docs[i]`, so the caller can tell which
    documents fell in an hour the script refused.
    """

    namespace: str
    trimmed: bool
    options: StoreOptions
    keys: KeyTable = field(default_factory=KeyTable)
    fences: list[dict[str, str]] = field(default_factory=list)
    hours: dict[int, _Hour] = field(default_factory=dict)
    sums: dict[tuple[str, str, str, Resolution, int], Sums] = field(default_factory=dict)
    evidence: dict[tuple[str, str, int], list[tuple[float, int, str, int]]] = field(
        default_factory=dict
    )
    refused_before: dict[str, int] = field(default_factory=dict)
    docs: list[ScoredDocument] = field(default_factory=list)
    doc_hours: list[int] = field(default_factory=list)

    def add(self, doc: ScoredDocument) -> None:
        """Count one document into the call's sums (no Redis work per document)."""
        event_ms = to_ms(doc.published_at)
        hour_ms = floor_ms(event_ms, HOUR_MS)
        index = len(self.docs)
        self.docs.append(doc)
        self.doc_hours.append(hour_ms)
        hour = self.hours.get(hour_ms)
        if hour is None:
            self.hours[hour_ms] = _Hour(1, event_ms, event_ms)
        else:
            hour.docs += 1
            hour.first_ms = min(hour.first_ms, event_ms)
            hour.last_ms = max(hour.last_ms, event_ms)
        minute = floor_ms(event_ms, RESOLUTION_MS["1m"])
        slot, score, model = _LABEL_SLOT[doc.sentiment], doc.score, doc.model_version
        sums, evidence = self.sums, self.evidence
        candidate = (score, event_ms, doc.document_id, index)
        for kind, value in series_of(doc):
            for key in ((kind, value, model, "1m", minute), (kind, value, model, "1h", hour_ms)):
                bucket = sums.get(key)
                if bucket is None:
                    bucket = sums[key] = [0, 0, 0, 0, 0.0]
                bucket[_COUNT] += 1
                bucket[slot] += 1
                bucket[_SCORE_SUM] += score
            found = evidence.get((kind, value, hour_ms))
            if found is None:
                evidence[(kind, value, hour_ms)] = [candidate]
            else:
                found.append(candidate)

    def script_args(
        self, bucket_keys: BucketKeys, series_labels: SeriesLabels
    ) -> tuple[list[str], list[str]]:
        """`(KEYS, ARGV)` for the script; every value checked so the script cannot fail on
        input half-way through (a Lua script is not rolled back)."""
        ns, keys, opts = self.namespace, self.keys, self.options
        named = {
            "meta": keys(redis_keys.meta(ns)),
            "fence": keys(redis_keys.fences(ns)),
            "registry": keys(redis_keys.series_registry(ns)),
            "evidence_index": keys(redis_keys.evidence_index(ns)),
            "models": keys(redis_keys.models(ns)),
            "reply": keys(redis_keys.write_reply(ns, uuid.uuid4().hex)),
        }
        series_index: dict[tuple[str, str, str], int] = {}
        series: list[dict[str, Any]] = []
        buckets: list[dict[str, Any]] = []
        for (kind, value, model, res, start), sums in self.sums.items():
            if not math.isfinite(sums[_SCORE_SUM]):
                raise ValueError(f"non-finite score in series {kind}:{value}")
            s = series_index.get((kind, value, model))
            if s is None:
                series.append({"model": model, "labels": series_labels(ns, kind, value, model)})
                s = series_index[(kind, value, model)] = len(series)
            buckets.append(
                {
                    "s": s,
                    "k": [keys(k) for k in bucket_keys(ns, res, kind, value, start, model)],
                    "res": res,
                    "start": str(start),
                    "hour": str(floor_ms(start, HOUR_MS)),
                    "count": int(sums[_COUNT]),
                    "negative": int(sums[_LABEL_SLOT["negative"]]),
                    "neutral": int(sums[_LABEL_SLOT["neutral"]]),
                    "positive": int(sums[_LABEL_SLOT["positive"]]),
                    "score_sum": repr(float(sums[_SCORE_SUM])),
                }
            )
        call = {
            "keys": named,
            "trimmed": self.trimmed,
            "minute_retention_ms": opts.minute_retention_ms,
            "hour_retention_ms": opts.hour_retention_ms,
            "evidence_retention_ms": opts.evidence_retention_ms,
            "evidence_per_hour": opts.evidence_per_hour,
            "refused_reason": RETENTION_REASON,
            "refused_before": self.refused_before,
            "fences": self.fences,
            "last_ms": str(max(h.last_ms for h in self.hours.values())) if self.hours else "",
            "hours": [
                {"start": str(start), "docs": h.docs, "first_ms": str(h.first_ms)}
                for start, h in self.hours.items()
            ],
            "series": series,
            "buckets": buckets,
            "registry": sorted({f"{kind}:{value}" for kind, value, *_ in self.sums}),
            "models": sorted({model for _, _, model, *_ in self.sums}),
            "evidence": self._evidence(keys),
        }
        return keys.names, [json.dumps(call, separators=(",", ":"))]

    def _evidence(self, keys: KeyTable) -> list[dict[str, Any]]:
        """Per series and hour, only the batch's `evidence_per_hour` most negative documents:
        the script keeps that many of them and of what was there."""
        cap = self.options.evidence_per_hour
        rendered: dict[int, str] = {}
        out = []
        for (kind, value, hour_ms), found in self.evidence.items():
            members: list[Any] = []
            for score, _, _, index in heapq.nsmallest(cap, found):
                if index not in rendered:
                    rendered[index] = evidence_of(self.docs[index]).model_dump_json()
                members += [repr(score), rendered[index]]
            key = redis_keys.evidence(self.namespace, kind, value, hour_ms)
            out.append({"k": keys(key), "hour": str(hour_ms), "members": members})
        return out


def empty_call(namespace: str, options: StoreOptions) -> WriteCall:
    return WriteCall(namespace=namespace, trimmed=options.trims(namespace), options=options)


def build_calls(
    docs: Sequence[ScoredDocument], options: StoreOptions, skip: Callable[[int], bool]
) -> dict[str, WriteCall]:
    """One call per namespace over the documents not skipped (by index)."""
    calls: dict[str, WriteCall] = {}
    for i, doc in enumerate(docs):
        if skip(i):
            continue
        call = calls.get(doc.namespace)
        if call is None:
            call = calls[doc.namespace] = empty_call(doc.namespace, options)
        call.add(doc)
    return calls
