"""Pipeline health for the web view: scrape the services' Prometheus endpoints.

Only metrics named in `dashboards.metric_names` are kept. Histograms are summarised as
approximate quantiles from their cumulative buckets, merged over all services.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

from dashboards.metric_names import ALL_METRICS, HISTOGRAMS, LAG_MESSAGES, LAG_SECONDS
from dashboards.web.models import MetricSample, ServiceHealth

_KNOWN = frozenset(ALL_METRICS)
_MAX_GAUGES = frozenset({LAG_SECONDS, LAG_MESSAGES})


def _base_name(sample_name: str) -> str | None:
    if sample_name in _KNOWN:
        return sample_name
    for suffix in ("_bucket", "_count", "_sum"):
        base = sample_name.removesuffix(suffix)
        if base != sample_name and base in HISTOGRAMS:
            return sample_name
    return None


def parse_metrics(text: str) -> list[MetricSample]:
    """Samples of the known finsent metrics in a Prometheus text exposition."""
    samples = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if _base_name(s.name) is not None and not s.name.endswith("_created"):
                samples.append(MetricSample(name=s.name, labels=dict(s.labels), value=s.value))
    return samples


def scrape(urls: Sequence[str], timeout_s: float) -> list[ServiceHealth]:
    """Fetch every endpoint; an unreachable one is reported down, never raised."""
    out = []
    with httpx.Client(timeout=timeout_s) as client:
        for url in urls:
            try:
                response = client.get(url)
                response.raise_for_status()
                out.append(
                    ServiceHealth(url=url, up=True, samples=tuple(parse_metrics(response.text)))
                )
            except (httpx.HTTPError, ValueError) as exc:
                out.append(ServiceHealth(url=url, up=False, error=type(exc).__name__))
    return out


def _quantile(buckets: dict[float, float], q: float) -> float | None:
    """Upper bound of the first bucket holding the q-quantile (no interpolation)."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    for bound, cumulative in ordered:
        if cumulative >= rank:
            return bound if math.isfinite(bound) else ordered[-2][0] if len(ordered) > 1 else None
    return None


def summarize(services: Iterable[ServiceHealth]) -> dict[str, float]:
    """Headline numbers: counters summed, lag gauges maxed, histogram p50/p95 and counts."""
    out: dict[str, float] = {}
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for service in services:
        for s in service.samples:
            if s.name.endswith("_bucket"):
                base = s.name.removesuffix("_bucket")
                buckets[base][float(s.labels["le"])] += s.value
            elif s.name in _MAX_GAUGES:
                out[s.name] = max(out.get(s.name, 0.0), s.value)
            elif not s.name.endswith("_sum"):
                out[s.name] = out.get(s.name, 0.0) + s.value
    for base, by_bound in buckets.items():
        for q in (0.5, 0.95):
            value = _quantile(by_bound, q)
            if value is not None:
                out[f"{base}_p{int(q * 100)}"] = value
    return out
