"""The built-in web view against the real Redis: JSON API, then the page in headless Chromium.

Data: a realistic day of scored headlines from August 2015 (so the default window must follow
the namespace watermark, not the wall clock), written by the store's own `write_batch`, plus
alert state changes in the alert log. One server (uvicorn in a thread) serves every test.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
import redis
import uvicorn
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from dashboards.settings import WebSettings
from dashboards.web.alert_log import ALERT_FIELD, RedisAlertLog
from dashboards.web.app import create_app
from finsent import redis_keys
from finsent.labels import TOPIC_LABELS
from finsent.schemas import Alert, Evidence, ScoredDocument, SeriesRef
from finsent.settings import FinsentSettings
from finsent.store import SeriesStore, open_store

REPO = Path(__file__).resolve().parents[2]
WATERMARK = datetime(2015, 8, 24, 20, 0, tzinfo=UTC)
"""Newest event of the data set: the evening of the August 2015 sell-off."""
TICKERS = ("AAPL", "MSFT", "TSLA", "JPM", "XOM", "AMZN", "NVDA", "BA")
SOURCES = ("rss:reuters-markets", "rss:cnbc-top", "push:desk-bot")
HEADLINES = {
    "negative": (
        "{t} shares slide as China fears rattle markets",
        "{t} falls after analyst cuts price target",
        "{t} drops in heavy volume as sell-off deepens",
        "Investors dump {t} amid global growth worries",
    ),
    "neutral": (
        "{t} to present at industry conference next week",
        "{t} files quarterly report with the SEC",
        "What to watch in {t} options today",
    ),
    "positive": (
        "{t} rebounds as buyers step in",
        "{t} beats estimates, raises guidance",
        "Analysts upgrade {t} to buy on valuation",
    ),
}
MODEL = "finsent-bert-test"
DOCS = 1600
BODIES = (
    "Shares of {t} moved in {how} trading as investors weighed the outlook for the quarter.",
    "{t} was among the most active names on the exchange, desk notes say, in {how} dealing.",
    "Traders repositioned in {t} during a {how} session across US equities.",
)


def scored_documents(namespace: str, seed: int = 2015) -> list[ScoredDocument]:
    """Two days of headlines; TSLA turns sharply negative in the last six hours."""
    rng = random.Random(seed)
    docs = []
    start = WATERMARK - timedelta(hours=48)
    for i in range(DOCS):
        published = start + timedelta(seconds=rng.randint(0, 48 * 3600))
        if i == 0:
            published = WATERMARK  # the newest event is exactly the watermark
        ticker = TICKERS[i % len(TICKERS)]
        late = published >= WATERMARK - timedelta(hours=6)
        p_neg = 0.75 if ticker == "TSLA" and late else 0.3 if ticker in ("BA", "XOM") else 0.2
        draw = rng.random()
        label = "negative" if draw < p_neg else "positive" if draw > 0.8 else "neutral"
        strength = 0.55 + 0.4 * rng.random()
        rest = (1.0 - strength) / 2
        probs = {k: rest for k in ("negative", "neutral", "positive")} | {label: strength}
        topic = TOPIC_LABELS[rng.choice((5, 18, 19, 0, 14, 15))]
        title = rng.choice(HEADLINES[label]).format(t=ticker)
        docs.append(
            ScoredDocument(
                document_id=f"web-{i:04d}",
                source=SOURCES[i % len(SOURCES)],
                namespace=namespace,
                tickers=(ticker,),
                published_at=published,
                ingested_at=published + timedelta(seconds=2),
                scored_at=published + timedelta(seconds=3),
                title=title,
                snippet=rng.choice(BODIES).format(
                    t=ticker, how=rng.choice(("heavy", "choppy", "light"))
                ),
                url=f"https://news.example.com/{namespace}/{i}",
                sentiment=label,
                sentiment_probs=(probs["negative"], probs["neutral"], probs["positive"]),
                score=probs["positive"] - probs["negative"],
                topic=topic,
                topic_probs=tuple(1.0 if t == topic else 0.0 for t in TOPIC_LABELS),
                model_version=MODEL,
            )
        )
    return docs


def tsla_alert(namespace: str, docs: list[ScoredDocument]) -> Alert:
    worst = sorted((d for d in docs if d.tickers == ("TSLA",)), key=lambda d: d.score)[:3]
    return Alert(
        incident_id=f"{namespace}-neg-spike-TSLA",
        rule="negative_share_spike",
        namespace=namespace,
        series=SeriesRef(kind="ticker", value="TSLA"),
        state="firing",
        severity="critical",
        window_start=WATERMARK - timedelta(hours=1),
        window_end=WATERMARK,
        observed=0.74,
        baseline=0.21,
        z_score=4.2,
        doc_count=18,
        evidence=tuple(
            Evidence(
                document_id=d.document_id,
                published_at=d.published_at,
                snippet=d.title or "",
                url=d.url,
                score=d.score,
            )
            for d in worst
        ),
        evaluated_at=WATERMARK,
        notify=False,
    )


@dataclass(frozen=True)
class Served:
    url: str
    namespace: str
    docs: list[ScoredDocument]
    store: SeriesStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(settings: FinsentSettings, redis_client: redis.Redis) -> Iterator[Served]:
    namespace = "t" + uuid.uuid4().hex[:12]
    store = open_store(settings)
    docs = scored_documents(namespace)
    assert store.write_batch(docs) == len(docs)
    # The alert log is the namespace's own stream: drop_namespace removes it with the rest.
    redis_client.xadd(
        redis_keys.alert_log(namespace),
        {ALERT_FIELD: tsla_alert(namespace, docs).model_dump_json()},
    )
    web = WebSettings(port=_free_port(), refresh_s=2)
    app = create_app(web, store, RedisAlertLog(settings.redis.client()))
    server = uvicorn.Server(uvicorn.Config(app, host=web.host, port=web.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "web server did not start"
        time.sleep(0.05)
    try:
        yield Served(f"http://{web.host}:{web.port}", namespace, docs, store)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.drop_namespace(namespace)


def test_namespaces_list_the_test_namespace_with_its_watermark(served: Served) -> None:
    listed = httpx.get(f"{served.url}/api/v1/namespaces").json()
    mine = next(n for n in listed if n["name"] == served.namespace)
    assert mine["documents"] == len(served.docs)
    assert datetime.fromisoformat(mine["watermark"]) == max(d.published_at for d in served.docs)


def test_overview_window_ends_at_the_watermark_and_matches_the_documents(served: Served) -> None:
    body = httpx.get(f"{served.url}/api/v1/namespaces/{served.namespace}/overview?hours=24").json()
    start = datetime.fromisoformat(body["window"]["start"])
    end = datetime.fromisoformat(body["window"]["end"])
    assert start <= WATERMARK < end, "the default window follows event time, not the wall clock"
    assert end.year == 2015
    inside = [d for d in served.docs if start <= d.published_at < end]
    assert body["market"]["totals"]["count"] == len(inside)
    negative = sum(d.sentiment == "negative" for d in inside)
    assert body["market"]["totals"]["negative_share"] == pytest.approx(negative / len(inside))
    assert sum(p["count"] for p in body["market"]["points"]) == len(inside)
    by_ticker = {t["value"]: t for t in body["tickers"]}
    for ticker in TICKERS:
        expected = [d for d in inside if d.tickers == (ticker,)]
        assert by_ticker[ticker]["totals"]["count"] == len(expected)
        mean = sum(d.score for d in expected) / len(expected)
        assert by_ticker[ticker]["totals"]["mean_score"] == pytest.approx(mean)


def test_top_movers_come_first(served: Served) -> None:
    body = httpx.get(f"{served.url}/api/v1/namespaces/{served.namespace}/overview?hours=6").json()
    changes = [abs(t["change"]) for t in body["tickers"] if t["change"] is not None]
    assert changes == sorted(changes, reverse=True)
    assert body["tickers"][0]["value"] == "TSLA"


def test_ticker_drilldown_has_evidence_and_alerts(served: Served) -> None:
    url = (
        f"{served.url}/api/v1/namespaces/{served.namespace}/tickers/TSLA?hours=24&evidence_limit=5"
    )
    body = httpx.get(url).json()
    assert body["ticker"]["value"] == "TSLA"
    scores = [e["score"] for e in body["evidence"]]
    assert scores == sorted(scores) and len(scores) == 5
    start = datetime.fromisoformat(body["window"]["start"])
    end = datetime.fromisoformat(body["window"]["end"])
    tsla = [d for d in served.docs if d.tickers == ("TSLA",) and start <= d.published_at < end]
    assert scores[0] == pytest.approx(min(d.score for d in tsla))
    assert [a["incident_id"] for a in body["alerts"]] == [f"{served.namespace}-neg-spike-TSLA"]


def test_unknown_namespace_is_404_and_bad_ticker_is_422(served: Served) -> None:
    assert (
        httpx.get(
            f"{served.url}/api/v1/namespaces/nope-{uuid.uuid4().hex[:6]}/overview"
        ).status_code
        == 404
    )
    bad = httpx.get(f"{served.url}/api/v1/namespaces/{served.namespace}/tickers/not a ticker")
    assert bad.status_code == 422


def test_openapi_documents_every_json_endpoint(served: Served) -> None:
    paths = httpx.get(f"{served.url}/openapi.json").json()["paths"]
    assert {
        "/api/v1/namespaces",
        "/api/v1/namespaces/{namespace}/overview",
        "/api/v1/namespaces/{namespace}/tickers/{ticker}",
        "/api/v1/namespaces/{namespace}/tickers/{ticker}/evidence",
        "/api/v1/namespaces/{namespace}/topics",
        "/api/v1/namespaces/{namespace}/alerts",
        "/api/v1/namespaces/{namespace}/series.csv",
        "/api/v1/health",
    } <= set(paths)


def test_bearer_token_guards_the_api_but_not_the_page(
    served: Served, settings: FinsentSettings
) -> None:
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    guarded = create_app(
        WebSettings(token=SecretStr("s3cret")), served.store, RedisAlertLog(settings.redis.client())
    )
    with TestClient(guarded) as client:
        path = f"/api/v1/namespaces/{served.namespace}/alerts"
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get(path, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()[0]["series"]["value"] == "TSLA"
        assert client.get("/").status_code == 200
        assert client.get("/healthz").text == "ok"


def test_health_scrapes_service_metrics_endpoints(
    served: Served, settings: FinsentSettings
) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

    registry = CollectorRegistry()
    Counter("finsent_inference_documents", "scored", registry=registry).inc(42)
    Gauge("finsent_inference_consumer_lag_seconds", "lag", ["partition"], registry=registry).labels(
        partition="0"
    ).set(1.5)
    port = _free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    down = f"http://127.0.0.1:{_free_port()}/metrics"  # nothing listens there
    try:
        web = WebSettings(metrics_urls=(f"http://127.0.0.1:{port}/metrics", down))
        app = create_app(web, served.store, RedisAlertLog(settings.redis.client()))
        with TestClient(app) as client:
            body = client.get("/api/v1/health").json()
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert body["source"] == "prometheus"
    assert [s["up"] for s in body["services"]] == [True, False]
    assert body["summary"]["finsent_inference_documents_total"] == 42
    assert body["summary"]["finsent_inference_consumer_lag_seconds"] == 1.5
    mine = next(n for n in body["namespaces"] if n["name"] == served.namespace)
    assert mine["documents"] == len(served.docs)


def test_unreachable_store_is_503_not_500() -> None:
    from fastapi.testclient import TestClient

    from finsent.settings import RedisSettings
    from finsent.store import StoreOptions, open_store_on

    nowhere = RedisSettings(port=_free_port(), socket_timeout_s=0.5).client()
    app = create_app(
        WebSettings(), open_store_on(nowhere, StoreOptions(), "core"), RedisAlertLog(nowhere)
    )
    with TestClient(app) as client:
        response = client.get("/api/v1/namespaces")
    assert response.status_code == 503


def test_own_metrics_count_requests_by_route_template(served: Served) -> None:
    httpx.get(f"{served.url}/api/v1/namespaces/{served.namespace}/alerts")
    text = httpx.get(f"{served.url}/metrics").text
    route = 'route="/api/v1/namespaces/{namespace}/alerts"'
    assert any(
        line.startswith("finsent_web_requests_total{") and route in line and 'status="200"' in line
        for line in text.splitlines()
    ), text
    assert served.namespace not in text  # raw paths never become label values


UPLOT = ("/static/vendor/uplot/uPlot.iife.min.js", "/static/vendor/uplot/uPlot.min.css")


def test_page_and_assets_reference_nothing_remote(served: Served) -> None:
    for asset in ("/", "/static/app.js", "/static/charts.js", "/static/style.css"):
        text = httpx.get(served.url + asset).text
        for remote in ("http://", "https://", "//cdn", "@import"):
            # The only URL in the assets is the SVG namespace, which is never fetched.
            assert remote not in text.replace("http://www.w3.org/2000/svg", ""), (asset, remote)
    page = httpx.get(served.url + "/").text
    assert all(f'"{path}"' in page for path in UPLOT), "the page loads uPlot from this server"


def test_chart_library_is_served_from_the_vendored_webjar(served: Served) -> None:
    """uPlot comes from the Maven Central webjar that `make setup` unpacks, not a CDN."""
    for path in UPLOT:
        response = httpx.get(served.url + path)
        assert response.status_code == 200, f"{path} missing: run `make setup` (fetches uPlot)"
    script = httpx.get(served.url + UPLOT[0]).text
    assert "uPlot" in script and "https://" not in script.replace("https://github.com", "")


def test_a_missing_chart_library_is_logged_at_start(
    served: Served,
    settings: FinsentSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dashboards.web import app as web_app

    alerts = RedisAlertLog(settings.redis.client())
    with caplog.at_level("WARNING", logger="dashboards.web.app"):
        create_app(WebSettings(), served.store, alerts)
        assert not caplog.records, "installed: nothing to say"
        monkeypatch.setattr(web_app, "UPLOT", REPO / "nowhere" / "uPlot.iife.min.js")
        create_app(WebSettings(), served.store, alerts)
    assert [r.getMessage() for r in caplog.records] == [
        "uPlot is not installed (run `make setup`): the web view draws no charts"
    ]


def test_free_range_gives_the_same_window_every_time(served: Served) -> None:
    base = f"{served.url}/api/v1/namespaces/{served.namespace}"
    start, end = "2015-08-24T13:07:00Z", "2015-08-24T19:41:00Z"
    first = httpx.get(f"{base}/overview", params={"start": start, "end": end}).json()
    again = httpx.get(f"{base}/overview", params={"start": start, "end": end, "hours": 1}).json()
    assert first == again, "hours is ignored with a free range; the same range, the same view"
    win = first["window"]
    w_start, w_end = datetime.fromisoformat(win["start"]), datetime.fromisoformat(win["end"])
    asked = (datetime.fromisoformat(start), datetime.fromisoformat(end))
    assert w_start <= asked[0] < asked[1] <= w_end
    assert w_end - w_start < asked[1] - asked[0] + 2 * timedelta(seconds=win["step_s"])
    inside = [d for d in served.docs if w_start <= d.published_at < w_end]
    assert first["market"]["totals"]["count"] == len(inside)
    too_long = {"start": "2014-01-01T00:00:00Z", "end": "2015-08-24T00:00:00Z"}
    for params in ({"start": start}, {"start": end, "end": start}, too_long):
        assert httpx.get(f"{base}/overview", params=params).status_code == 422, params


def test_window_between_is_aligned_and_bounded() -> None:
    from dashboards.web.window import MAX_POINTS, window_between

    start = datetime(2015, 8, 24, 13, 7, 31, tzinfo=UTC)
    for length in (timedelta(seconds=20), timedelta(hours=2), timedelta(days=3)):
        win = window_between(start, start + length)
        assert win.start <= start and start + length <= win.end
        steps = (win.end - win.start) / win.step
        assert steps == int(steps) and 1 <= steps <= MAX_POINTS + 1, (length, steps)
    with pytest.raises(ValueError, match="before"):
        window_between(start, start)


def _csv_rows(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def test_csv_export_has_the_same_numbers_as_the_json_api(served: Served) -> None:
    base = f"{served.url}/api/v1/namespaces/{served.namespace}"
    window = {"start": "2015-08-24T08:00:00Z", "end": "2015-08-24T20:00:01Z"}
    response = httpx.get(
        f"{base}/series.csv", params={"series": ["ticker:TSLA", "all:all"], **window}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    header = response.text.splitlines()[0]
    assert header == "kind,value,t,count,negative,neutral,positive,negative_share,mean_score"
    rows = _csv_rows(response.text)
    detail = httpx.get(f"{base}/tickers/TSLA", params=window).json()
    for kind, value, summary in (("ticker", "TSLA", "ticker"), ("all", "all", "market")):
        mine = [r for r in rows if (r["kind"], r["value"]) == (kind, value)]
        points = detail[summary]["points"]
        assert len(mine) == len(points) > 10
        for row, point in zip(mine, points, strict=True):
            assert datetime.fromisoformat(row["t"]) == datetime.fromisoformat(point["t"])
            for key in ("count", "negative", "neutral", "positive"):
                assert int(row[key]) == point[key], (key, row, point)
            for key in ("negative_share", "mean_score"):
                assert (float(row[key]) if row[key] else None) == point[key], (key, row)
    assert sum(int(r["count"]) for r in rows if r["kind"] == "all") == sum(
        1
        for d in served.docs
        if datetime.fromisoformat(detail["window"]["start"])
        <= d.published_at
        < datetime.fromisoformat(detail["window"]["end"])
    )


def test_csv_export_rejects_a_malformed_series(served: Served) -> None:
    base = f"{served.url}/api/v1/namespaces/{served.namespace}"
    for bad in ("TSLA", "stock:TSLA", "ticker:"):
        response = httpx.get(f"{base}/series.csv", params={"series": bad})
        assert response.status_code == 422 and "kind:value" in response.text, bad
    assert httpx.get(f"{base}/series.csv").status_code == 422  # at least one series


def test_api_docs_are_served_locally(served: Served) -> None:
    """Swagger UI comes from the swagger-ui-bundle package, never a CDN."""
    page = httpx.get(served.url + "/docs")
    assert page.status_code == 200
    scripts = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert scripts and all(url.startswith("/docs/assets/") for url in scripts), scripts
    for url in scripts:
        asset = httpx.get(served.url + url)
        assert asset.status_code == 200 and asset.content, url
    assert "openapi.json" in page.text
    bundle = httpx.get(served.url + "/docs/assets/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle  # the real library, not an error page
    assert httpx.get(served.url + "/redoc").status_code == 404  # ReDoc would load from a CDN


# -- the page in a real browser -----------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        # Only a machine set up without a browser on purpose may skip; elsewhere it fails.
        if os.environ.get("FINSENT_SKIP_BROWSER") == "1":
            pytest.skip("FINSENT_SKIP_BROWSER=1: chromium and chromium-driver not installed")
        pytest.fail("chromium and chromium-driver are missing: run `make setup`")
    profile = tempfile.mkdtemp(prefix="finsent-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1440,2200",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # An explicit driver path: selenium-manager never runs, nothing is downloaded.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _loaded(driver: WebDriver) -> None:
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true"
    )


def _query(driver: WebDriver) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(driver.current_url).query))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _shot(driver: WebDriver, name: str) -> Path:
    reports = REPO / "reports"
    reports.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(reports / name))
    return reports / name


def test_page_renders_charts_and_opens_a_ticker_drilldown(
    served: Served, browser: WebDriver
) -> None:
    browser.get(f"{served.url}/?ns={served.namespace}")
    _loaded(browser)
    wait = WebDriverWait(browser, 30)

    status = browser.find_element(By.ID, "status").text
    assert "2015-08-24 20:00" in status, status
    assert browser.find_element(By.ID, "lib-missing").get_attribute("hidden") is not None
    chart = browser.find_element(By.ID, "chart-negative")
    assert int(chart.get_attribute("data-points") or 0) > 20
    # Drawn by uPlot: its canvas and its legend, one entry per ticker plus the market.
    assert chart.find_element(By.CSS_SELECTOR, ".uplot canvas").size["width"] > 300
    legend = chart.find_element(By.CSS_SELECTOR, ".u-legend").text
    assert "market" in legend and "TSLA" in legend
    volume = browser.find_element(By.ID, "chart-volume")
    assert int(volume.get_attribute("data-points") or 0) > 20
    assert volume.find_elements(By.CSS_SELECTOR, ".uplot canvas")
    rows = browser.find_elements(By.CSS_SELECTOR, "#tickers tr[data-ticker]")
    assert {r.get_attribute("data-ticker") for r in rows} == set(TICKERS)
    assert "negative_share_spike" in browser.find_element(By.ID, "alerts").text

    browser.find_element(By.CSS_SELECTOR, '#tickers tr[data-ticker="TSLA"]').click()
    wait.until(ec.visibility_of_element_located((By.ID, "drilldown")))
    wait.until(lambda d: d.find_element(By.ID, "drill-title").text == "TSLA")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#drill-evidence li a")) > 0)
    assert _query(browser)["ticker"] == "TSLA"
    drill_chart = browser.find_element(By.ID, "drill-negative")
    assert int(drill_chart.get_attribute("data-points") or 0) > 10
    assert "TSLA" in browser.find_element(By.ID, "drill-evidence").text
    # The top of the page at a laptop's size (docs/img/web-view.png is a copy of it).
    browser.set_window_size(1280, 1000)
    try:
        browser.execute_script("window.scrollTo(0, 0)")
        _shot(browser, "web-view.png")
    finally:
        browser.set_window_size(1440, 2200)


def test_a_refresh_without_new_data_keeps_the_charts_as_they_are(
    served: Served, browser: WebDriver
) -> None:
    """A replay's data stands still: the periodic refresh (every 2 s here) must not redraw,
    or it would wipe a selection the analyst is dragging."""
    browser.get(f"{served.url}/?ns={served.namespace}")
    _loaded(browser)
    browser.execute_script("document.querySelector('#chart-negative .uplot').dataset.mark = 1")
    status = browser.find_element(By.ID, "status").text
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "status").text != status)
    marked = browser.find_elements(By.CSS_SELECTOR, "#chart-negative .uplot[data-mark='1']")
    assert len(marked) == 1, "the same uPlot instance is still on the page"


def test_dragging_on_a_chart_zooms_and_writes_the_range_into_the_url(
    served: Served, browser: WebDriver
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(f"{served.url}/?ns={served.namespace}&hours=24")
    _loaded(browser)
    assert "from" not in _query(browser) and _query(browser)["hours"] == "24"
    chart = browser.find_element(By.ID, "chart-negative")
    before = (int(chart.get_attribute("data-from") or 0), int(chart.get_attribute("data-to") or 0))
    over = chart.find_element(By.CSS_SELECTOR, ".u-over")
    width = over.size["width"]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", over)
    # Drag from 40% to 70% of the plot's width (offsets are from the element's centre).
    drag = ActionChains(browser).move_to_element_with_offset(over, int(-width * 0.1), 0)
    drag.click_and_hold().move_by_offset(int(width * 0.15), 0)
    drag.move_by_offset(int(width * 0.15), 0).release().perform()
    WebDriverWait(browser, 30).until(lambda d: "from" in _query(d))
    _loaded(browser)
    query = _query(browser)
    start, end = _at(query["from"]), _at(query["to"])
    span = before[1] - before[0]
    assert "hours" not in query
    # The selected part of the window, give or take the plot's pixel rounding.
    assert start.timestamp() * 1000 == pytest.approx(before[0] + 0.4 * span, abs=0.03 * span)
    assert end.timestamp() * 1000 == pytest.approx(before[0] + 0.7 * span, abs=0.03 * span)
    chart = browser.find_element(By.ID, "chart-negative")
    shown = (int(chart.get_attribute("data-from") or 0), int(chart.get_attribute("data-to") or 0))
    assert shown[0] <= start.timestamp() * 1000 < end.timestamp() * 1000 <= shown[1]
    assert shown[1] - shown[0] < span / 2, "the charts now show the narrower window"
    assert browser.find_element(By.ID, "window").get_attribute("value") == "custom"

    # Pan: Shift+drag to the left moves the shown window later by the dragged distance.
    over = chart.find_element(By.CSS_SELECTOR, ".u-over")
    pan = ActionChains(browser).key_down(Keys.SHIFT).move_to_element(over).click_and_hold()
    pan.move_by_offset(-int(width * 0.25), 0).release().key_up(Keys.SHIFT).perform()
    WebDriverWait(browser, 30).until(lambda d: _query(d)["from"] != query["from"])
    moved = _query(browser)
    assert _at(moved["from"]) > start and _at(moved["to"]) > end
    moved_span = (_at(moved["to"]) - _at(moved["from"])).total_seconds()
    assert moved_span == pytest.approx((shown[1] - shown[0]) / 1000, abs=1), "same length"


class _View(NamedTuple):
    """What an analyst sees of a view: ticker, window, chart ranges, URL and CSV link."""

    title: str
    hint: str
    ranges: tuple[str | None, ...]
    query: dict[str, str]
    csv: str | None


def _view_in_new_tab(browser: WebDriver, url: str) -> tuple[_View, str]:
    """Open `url` in a fresh tab; the view it shows and the URL the page then holds."""
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    try:
        browser.get(url)
        _loaded(browser)
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "drill-title").text)
        view = _View(
            title=browser.find_element(By.ID, "drill-title").text,
            hint=browser.find_element(By.ID, "drill-hint").text,
            ranges=tuple(
                browser.find_element(By.ID, chart).get_attribute(attr)
                for chart in ("chart-negative", "drill-negative")
                for attr in ("data-from", "data-to", "data-points")
            ),
            query=_query(browser),
            csv=browser.find_element(By.ID, "drill-csv-negative").get_attribute("href"),
        )
        return view, browser.current_url
    finally:
        browser.close()
        browser.switch_to.window(first)


def _url_range(driver: WebDriver) -> tuple[float, float] | None:
    query = _query(driver)
    if "from" not in query:
        return None
    return _at(query["from"]).timestamp() * 1000, _at(query["to"]).timestamp() * 1000


def _url_range_is(want: tuple[int, int]) -> Callable[[WebDriver], bool]:
    return lambda driver: _url_range(driver) == want


def test_window_buttons_move_and_widen_the_window(served: Served, browser: WebDriver) -> None:
    browser.get(f"{served.url}/?ns={served.namespace}&hours=6")
    _loaded(browser)
    chart = browser.find_element(By.ID, "chart-negative")
    start, end = (int(chart.get_attribute(a) or 0) for a in ("data-from", "data-to"))
    half = (end - start) // 2
    # Each button acts on the window shown: half a window earlier, back, then twice as long.
    for button, expected in (
        ("pan-earlier", (start - half, end - half)),
        ("pan-later", (start, end)),
        ("zoom-out", (start - half, end + half)),
    ):
        browser.find_element(By.ID, button).click()
        WebDriverWait(browser, 30).until(_url_range_is(expected))
        _loaded(browser)


def test_a_shared_url_reproduces_the_same_view(served: Served, browser: WebDriver) -> None:
    url = (
        f"{served.url}/?ns={served.namespace}&ticker=TSLA"
        "&from=2015-08-24T10:15:00Z&to=1440442800000"  # ISO 8601 or epoch ms
    )
    view, copied = _view_in_new_tab(browser, url)
    # The URL the page shows (what an analyst copies) opens the very same view elsewhere.
    shared, _ = _view_in_new_tab(browser, copied)
    assert shared == view
    assert view.title == "TSLA"
    api = httpx.get(
        f"{served.url}/api/v1/namespaces/{served.namespace}/tickers/TSLA",
        params={"start": "2015-08-24T10:15:00Z", "end": "2015-08-24T19:00:00Z"},
    ).json()["window"]
    assert view.ranges[3:5] == tuple(
        str(int(_at(api[k]).timestamp() * 1000)) for k in ("start", "end")
    ), "the drill-down shows the API's window for the URL's range"
    assert view.query["from"] == "2015-08-24T10:15:00Z"
    assert view.query["to"] == "2015-08-24T19:00:00Z"  # epoch ms, written back as ISO


def test_a_malformed_range_in_the_url_is_reported_and_a_preset_shown(
    served: Served, browser: WebDriver
) -> None:
    browser.get(f"{served.url}/?ns={served.namespace}&from=yesterday&to=1440442800000")
    WebDriverWait(browser, 30).until(
        lambda d: "not a range" in d.find_element(By.ID, "status").text
    )
    query = _query(browser)
    assert "from" not in query and query["hours"] == "24" and query["ns"] == served.namespace
    assert int(browser.find_element(By.ID, "chart-negative").get_attribute("data-points") or 0)


def test_clicking_an_alert_opens_its_ticker_at_its_window_with_its_evidence(
    served: Served, browser: WebDriver
) -> None:
    alert = tsla_alert(served.namespace, served.docs)
    browser.get(f"{served.url}/?ns={served.namespace}&hours=168")
    _loaded(browser)
    browser.find_element(By.CSS_SELECTOR, "#alerts .open-alert").click()
    WebDriverWait(browser, 30).until(lambda d: _query(d).get("ticker") == "TSLA")
    _loaded(browser)
    query = _query(browser)
    assert query["alert"] == alert.incident_id
    assert _at(query["from"]) <= alert.window_start < alert.window_end <= _at(query["to"])
    assert _at(query["to"]) - _at(query["from"]) == 3 * (alert.window_end - alert.window_start)
    drill = browser.find_element(By.ID, "drilldown")
    assert drill.is_displayed() and browser.find_element(By.ID, "drill-title").text == "TSLA"
    box = browser.find_element(By.ID, "drill-alert")
    assert "negative_share_spike" in box.text.lower()
    assert "19:00 UTC → 2015-08-24 20:00 UTC" in box.text
    listed = {li.get_attribute("data-document") for li in box.find_elements(By.CSS_SELECTOR, "li")}
    assert listed == {e.document_id for e in alert.evidence}
    assert browser.find_element(By.ID, "drill-negative").get_attribute("data-bands") == "1"
    card = browser.find_element(By.CSS_SELECTOR, "#alerts details.alert.selected")
    assert card.get_attribute("data-incident") == alert.incident_id
    assert card.get_attribute("open") is not None, "its evidence is shown in the list too"
    browser.execute_script("arguments[0].scrollIntoView()", drill)
    assert drill.screenshot(str(REPO / "reports" / "web-view-alert.png"))


def test_clicking_an_alert_band_on_a_chart_opens_the_alert(
    served: Served, browser: WebDriver
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    alert = tsla_alert(served.namespace, served.docs)
    browser.get(f"{served.url}/?ns={served.namespace}&hours=24")
    _loaded(browser)
    chart = browser.find_element(By.ID, "chart-negative")
    assert chart.get_attribute("data-bands") == "1"
    start, end = (
        int(chart.get_attribute("data-from") or 0),
        int(chart.get_attribute("data-to") or 0),
    )
    middle = (alert.window_start + (alert.window_end - alert.window_start) / 2).timestamp() * 1e3
    over = chart.find_element(By.CSS_SELECTOR, ".u-over")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", over)
    offset = (middle - start) / (end - start) * over.size["width"] - over.size["width"] / 2
    ActionChains(browser).move_to_element_with_offset(over, int(offset), 0).click().perform()
    WebDriverWait(browser, 30).until(lambda d: _query(d).get("alert") == alert.incident_id)
    assert _query(browser)["ticker"] == "TSLA"


def test_csv_link_of_a_chart_downloads_its_series(served: Served, browser: WebDriver) -> None:
    browser.get(f"{served.url}/?ns={served.namespace}&ticker=TSLA&hours=24")
    _loaded(browser)
    link = browser.find_element(By.ID, "drill-csv-negative")
    assert link.is_displayed() and link.text == "CSV"
    href = link.get_attribute("href") or ""
    # The page itself fetches the link (same origin, as a click would) and gets the CSV.
    text = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text().then(t => done(r.headers.get('content-type') + '\\n' + t)))",
        href,
    )
    content_type, _, body = text.partition("\n")
    assert content_type.startswith("text/csv")
    rows = _csv_rows(body)
    detail = httpx.get(
        f"{served.url}/api/v1/namespaces/{served.namespace}/tickers/TSLA?hours=24"
    ).json()
    tsla = [r for r in rows if r["value"] == "TSLA"]
    assert [int(r["count"]) for r in tsla] == [p["count"] for p in detail["ticker"]["points"]]
    assert {r["value"] for r in rows} == {"TSLA", "all"}
    # The tables' links too: every topic, and every ticker listed with the market.
    base = f"{served.url}/api/v1/namespaces/{served.namespace}"
    topics = httpx.get(f"{base}/topics?hours=24").json()["topics"]
    for link_id, expected in (
        ("csv-topics", {("topic", t["value"]) for t in topics}),
        ("csv-tickers", {("ticker", t) for t in TICKERS} | {("all", "all")}),
    ):
        href = browser.find_element(By.ID, link_id).get_attribute("href") or ""
        listed = {(r["kind"], r["value"]) for r in _csv_rows(httpx.get(href).text)}
        assert listed == expected, link_id


def test_page_says_so_when_the_chart_library_is_missing(served: Served, browser: WebDriver) -> None:
    """Without uPlot (no `make setup`), the page still loads its data and says what to do."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*uPlot.iife.min.js*"]})
    try:
        browser.get(f"{served.url}/?ns={served.namespace}")
        _loaded(browser)
        notice = browser.find_element(By.ID, "lib-missing")
        assert notice.is_displayed() and "make setup" in notice.text
        missing = browser.find_element(By.CSS_SELECTOR, "#chart-negative .missing-lib")
        assert "make setup" in missing.text
        assert len(browser.find_elements(By.CSS_SELECTOR, "#tickers tr[data-ticker]")) == len(
            TICKERS
        )
        assert "charts unavailable" in browser.find_element(By.ID, "status").text
        _shot(browser, "web-view-no-uplot.png")
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
