"""The built-in web view against the real Redis: JSON API, then the page in headless Chromium.

Data: a realistic day of scored headlines from August 2015 (so the default window must follow
the namespace watermark, not the wall clock), written by the store's own `write_batch`, plus
alert state changes in the alert log. One server (uvicorn in a thread) serves every test.
"""

from __future__ import annotations

import random
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
import uvicorn

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


def test_page_and_assets_reference_nothing_remote(served: Served) -> None:
    for asset in ("/", "/static/app.js", "/static/charts.js", "/static/style.css"):
        text = httpx.get(served.url + asset).text
        for remote in ("http://", "https://", "//cdn", "@import"):
            # The only URL in the assets is the SVG namespace, which is never fetched.
            assert remote not in text.replace("http://www.w3.org/2000/svg", ""), (asset, remote)


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
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed")
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


def test_page_renders_charts_and_opens_a_ticker_drilldown(served: Served, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    browser.get(f"{served.url}/#{served.namespace}")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true")

    status = browser.find_element(By.ID, "status").text
    assert "2015-08-24 20:00" in status, status
    chart = browser.find_element(By.CSS_SELECTOR, "#chart-negative svg")
    assert int(chart.get_attribute("data-points") or 0) > 20
    assert len(chart.find_elements(By.CSS_SELECTOR, "circle.point")) > 20
    paths = [
        p.get_attribute("d") or "" for p in chart.find_elements(By.CSS_SELECTOR, "g.series path")
    ]
    assert any(d.count("L") > 10 for d in paths), "a line with many segments is drawn"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-volume rect.point")) > 20
    rows = browser.find_elements(By.CSS_SELECTOR, "#tickers tr[data-ticker]")
    assert {r.get_attribute("data-ticker") for r in rows} == set(TICKERS)
    assert "negative_share_spike" in browser.find_element(By.ID, "alerts").text

    browser.find_element(By.CSS_SELECTOR, '#tickers tr[data-ticker="TSLA"]').click()
    wait.until(ec.visibility_of_element_located((By.ID, "drilldown")))
    wait.until(lambda d: d.find_element(By.ID, "drill-title").text == "TSLA")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#drill-evidence li a")) > 0)
    drill_chart = browser.find_element(By.CSS_SELECTOR, "#drill-negative svg")
    assert int(drill_chart.get_attribute("data-points") or 0) > 10
    evidence = browser.find_element(By.ID, "drill-evidence").text
    assert "TSLA" in evidence

    reports = REPO / "reports"
    reports.mkdir(exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    shot = reports / "web-view.png"
    assert browser.save_screenshot(str(shot))
    docs_img = REPO / "docs" / "img"
    docs_img.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, docs_img / "web-view.png")
    drill = browser.find_element(By.ID, "drilldown")
    browser.execute_script("arguments[0].scrollIntoView()", drill)
    time.sleep(0.3)
    assert drill.screenshot(str(reports / "web-view-drilldown.png"))
