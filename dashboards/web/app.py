"""The FastAPI application of `finsent web`: a read-only JSON API and one static page.

Every `/api/` route is documented in the OpenAPI schema (`/docs`, `/openapi.json`). The
page itself holds no data, so it is served without the optional bearer token; the API
checks it. Time ranges end at the namespace watermark unless `end` is given; `start` with
`end` is a free range (a zoom, a shared URL).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import AwareDatetime
from swagger_ui_bundle import swagger_ui_path

from dashboards.settings import WebSettings
from dashboards.web import export, health, views
from dashboards.web.metrics import WebMetrics
from dashboards.web.models import (
    NamespaceHealth,
    NamespaceInfo,
    Overview,
    PipelineHealth,
    TickerDetail,
    TopicsView,
)
from dashboards.web.reader import AlertReader, SeriesReader
from dashboards.web.window import Window
from finsent.clock import REAL_TIME, Clock
from finsent.errors import TransientError
from finsent.observability import instrument_process
from finsent.schemas import Alert, Evidence, SeriesRef

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
UPLOT: Final = STATIC_DIR / "vendor" / "uplot" / "uPlot.iife.min.js"
"""The chart library, unpacked by `make setup` from its Maven Central webjar (never committed)."""

log = logging.getLogger(__name__)

NamespaceArg = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}$")]
TickerArg = Annotated[str, PathParam(pattern=r"^[A-Z][A-Z0-9.\-]{0,9}$")]
MAX_RANGE: Final = timedelta(days=400)
HoursArg = Annotated[
    float, Query(gt=0, le=MAX_RANGE / timedelta(hours=1), description="Window length in hours.")
]
EndArg = Annotated[
    AwareDatetime | None,
    Query(description="Window end; default: the namespace watermark (newest event time)."),
]
StartArg = Annotated[
    AwareDatetime | None,
    Query(description="Window start; with `end`, a free range `[start, end)` (`hours` unused)."),
]
SeriesArg = Annotated[
    list[str],
    Query(
        min_length=1,
        max_length=50,
        description="Series as `kind:value`, repeated: `ticker:TSLA`, `topic:...`, `all:all`.",
    ),
]


def _require_token(settings: WebSettings) -> Callable[[Request], None]:
    def check(request: Request) -> None:
        if settings.token is None:
            return
        expected = f"Bearer {settings.token.get_secret_value()}"
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(
                status_code=401,
                detail="bearer token required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def create_app(
    settings: WebSettings,
    store: SeriesReader,
    alerts: AlertReader,
    registry: CollectorRegistry | None = None,
    clock: Clock = REAL_TIME,
) -> FastAPI:
    """Build the app over a store and an alert log.

    Args:
        settings: port, token, refresh interval and metrics endpoints.
        store: the series store (read side).
        alerts: the alert log (read side).
        registry: where the web view's own metrics go (`/metrics`); a fresh one if None.
        clock: the service clock; a default window never ends after its "now".
    """
    # API docs from the swagger-ui-bundle package (PyPI), never FastAPI's default CDN: the
    # view must work on a machine without internet, and must not leak its use to a third party.
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        title="finsent web view",
        version="1",
        description="Read-only sentiment series, top movers, evidence, alerts and pipeline health.",
    )
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(_require_token(settings))])
    if not UPLOT.exists():
        # The page still serves its data and tables, and says the same on screen.
        log.warning("uPlot is not installed (run `make setup`): the web view draws no charts")
    metrics = WebMetrics(registry or CollectorRegistry())
    instrument_process(metrics.registry)
    app.middleware("http")(metrics.middleware)

    @app.exception_handler(TransientError)
    def store_unavailable(request: Request, exc: TransientError) -> JSONResponse:
        # Redis restarting or unreachable: the page keeps its data and retries next refresh.
        return JSONResponse(status_code=503, content={"detail": "store unavailable, retry"})

    def window_or_404(
        namespace: str, hours: float, end: datetime | None, start: datetime | None = None
    ) -> tuple[datetime | None, Window]:
        if start is not None and (end is None or start >= end):
            raise HTTPException(status_code=422, detail="`start` needs an `end` after it")
        if start is not None and end is not None and end - start > MAX_RANGE:
            raise HTTPException(status_code=422, detail="a range spans at most 400 days")
        watermark, window = views.window_for(store, namespace, hours, end, clock.now(), start)
        if window is None:
            raise HTTPException(status_code=404, detail="namespace holds no data")
        return watermark, window

    @api.get("/config", summary="Page settings")
    def config() -> dict[str, float]:
        """Refresh interval and default window the page starts with."""
        return {"refresh_s": settings.refresh_s, "default_window_h": settings.default_window_h}

    @api.get("/namespaces", summary="Namespaces with data")
    def list_namespaces() -> list[NamespaceInfo]:
        """`live` first, then replays by newest watermark."""
        return views.namespaces(store)

    @api.get("/namespaces/{namespace}/overview", summary="Market overview")
    def overview(
        namespace: NamespaceArg,
        hours: HoursArg = settings.default_window_h,
        start: StartArg = None,
        end: EndArg = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 12,
    ) -> Overview:
        """Market series and the tickers whose negative share moved most."""
        watermark, window = window_or_404(namespace, hours, end, start)
        return views.overview(store, namespace, window, watermark, limit)

    @api.get("/namespaces/{namespace}/tickers/{ticker}", summary="Ticker drill-down")
    def ticker(
        namespace: NamespaceArg,
        ticker: TickerArg,
        hours: HoursArg = settings.default_window_h,
        start: StartArg = None,
        end: EndArg = None,
        evidence_limit: Annotated[int, Query(ge=1, le=50)] = 8,
    ) -> TickerDetail:
        """One ticker's series with the market's, its most negative documents and its alerts."""
        watermark, window = window_or_404(namespace, hours, end, start)
        return views.ticker_detail(
            store, alerts, namespace, ticker, window, watermark, evidence_limit
        )

    @api.get("/namespaces/{namespace}/tickers/{ticker}/evidence", summary="Evidence documents")
    def evidence(
        namespace: NamespaceArg,
        ticker: TickerArg,
        hours: HoursArg = settings.default_window_h,
        start: StartArg = None,
        end: EndArg = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> list[Evidence]:
        """The most negative documents about a ticker in the window."""
        _, window = window_or_404(namespace, hours, end, start)
        ref = SeriesRef(kind="ticker", value=ticker)
        return store.evidence(ref, namespace, window.start, window.end, limit)

    @api.get("/namespaces/{namespace}/topics", summary="Sentiment by topic")
    def topics(
        namespace: NamespaceArg,
        hours: HoursArg = settings.default_window_h,
        start: StartArg = None,
        end: EndArg = None,
    ) -> TopicsView:
        """Every topic series, movers first."""
        _, window = window_or_404(namespace, hours, end, start)
        return views.topics(store, namespace, window)

    @api.get(
        "/namespaces/{namespace}/series.csv",
        summary="Series as CSV",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/csv": {}}}},
    )
    def series_csv(
        namespace: NamespaceArg,
        series: SeriesArg,
        hours: HoursArg = settings.default_window_h,
        start: StartArg = None,
        end: EndArg = None,
    ) -> Response:
        """The points of one or more series over the window, one row per series and step
        (the same numbers as the JSON `points`), as a CSV download."""
        try:
            refs = [export.parse_series(text) for text in series]
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        _, window = window_or_404(namespace, hours, end, start)
        summaries = [views.summarize(store, namespace, ref, window) for ref in refs]
        return Response(
            export.to_csv(summaries),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{export.filename(namespace, window)}"'
            },
        )

    @api.get("/namespaces/{namespace}/alerts", summary="Alert log")
    def alert_log(
        namespace: NamespaceArg, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> list[Alert]:
        """Newest alert state changes first, with their evidence."""
        return alerts.recent(namespace, limit)

    @api.get("/health", summary="Pipeline health")
    def pipeline_health() -> PipelineHealth:
        """Service metrics when endpoints are configured; store statistics always."""
        infos = views.namespaces(store)
        ns_health = tuple(
            NamespaceHealth(name=i.name, documents=i.documents, watermark=i.watermark)
            for i in infos
        )
        if not settings.metrics_urls:
            return PipelineHealth(source="store", store_backend=store.backend, namespaces=ns_health)
        services = health.scrape(settings.metrics_urls, settings.metrics_timeout_s)
        return PipelineHealth(
            source="prometheus",
            store_backend=store.backend,
            namespaces=ns_health,
            services=tuple(services),
            summary=health.summarize(services),
        )

    app.include_router(api)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="finsent web view API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )

    return app
