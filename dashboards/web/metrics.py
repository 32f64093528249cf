"""Prometheus metrics of the web view itself: requests by route template and status."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram

from dashboards.metric_names import WEB_REQUEST_DURATION, WEB_REQUESTS


class WebMetrics:
    """Request counter and latency histogram in one registry (injected for tests)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            WEB_REQUESTS.removesuffix("_total"),
            "HTTP requests served",
            ["route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            WEB_REQUEST_DURATION,
            "Time to serve a request",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # The route template (`/api/v1/namespaces/{namespace}/...`), never the raw path:
        # label values stay bounded whatever clients send.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        self.requests.labels(route=route, status=str(response.status_code)).inc()
        self.duration.labels(route=route).observe(time.perf_counter() - started)
        return response
