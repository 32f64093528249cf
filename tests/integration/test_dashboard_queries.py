"""Every Grafana Redis query, run on the real RedisTimeSeries module against what the store
wrote, adds up to the store's own totals.

The dashboards filter `TS.MRANGE` on labels (`tests/unit/dashboards/test_definitions.py`
checks the names); this checks the values: the labels the store really writes (escaped
where the module needs it), several model versions, both resolutions, each field. Grafana
panels exist for the RedisTimeSeries backend only (core Redis has no `TS.MRANGE`); the
core backend's reads are checked by the store contract tests.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from dashboards.generate import GRAFANA_DIR
from dashboards.queries import REDIS_DS_UID
from finsent.labels import TOPIC_LABELS, topic_slug
from finsent.redis_keys import Resolution
from finsent.schemas import SeriesKind, SeriesRef
from finsent.settings import FinsentSettings
from finsent.store import SourceOffset, StoreOptions, TimeSeriesStore, open_store_on
from finsent.store.models import SeriesTotals
from finsent.store.testing import scored_doc

T0 = datetime(2015, 10, 14, 12, 0, tzinfo=UTC)
SPAN = (T0 - timedelta(hours=1), T0 + timedelta(hours=7))
TICKER, TOPIC = "WMT", TOPIC_LABELS[0]


def redis_targets() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(GRAFANA_DIR.glob("finsent-*.json")):
        panels = json.loads(path.read_text())["panels"]
        for panel in panels + [p for row in panels for p in row.get("panels", [])]:
            for target in panel.get("targets", []):
                if target["datasource"]["uid"] == REDIS_DS_UID:
                    out.append((f"{path.stem}:{panel.get('title')}:{target['filter']}", target))
    return out


@pytest.fixture(scope="module")
def written(settings: FinsentSettings) -> Iterator[tuple[TimeSeriesStore, str]]:
    client = settings.redis.client()
    store = open_store_on(client, StoreOptions(), "timeseries")
    assert isinstance(store, TimeSeriesStore)
    ns = "dash" + random.Random().randbytes(4).hex()
    rng = random.Random(1)
    docs = [
        scored_doc(
            f"g{i}", T0 + timedelta(minutes=rng.randrange(6 * 60)), ns,
            rng.choice(["negative", "neutral", "positive"]),
            tickers=tuple(rng.sample(["WMT", "AAPL", "XOM"], rng.randint(1, 2))),
            source=rng.choice(["rss:reuters", "push:desk, (EU)"]),
            topic=rng.choice(TOPIC_LABELS[:3]), model_version=rng.choice(["m-a", "m-b"]),
            score=round(rng.uniform(-1, 1), 3),
        )
        for i in range(300)
    ]  # fmt: skip
    store.write_batch(docs, [SourceOffset("dash", i % 4, i) for i in range(len(docs))])
    yield store, ns
    store.drop_namespace(ns)


def store_total(store: TimeSeriesStore, ns: str, filters: dict[str, str]) -> SeriesTotals:
    kind: SeriesKind = filters["kind"]  # type: ignore[assignment]
    res: Resolution = filters["resolution"]  # type: ignore[assignment]
    values = [filters[kind]] if kind in filters else None
    refs = [r for r in store.list_series(ns, kind) if values is None or r.value in values] or [
        SeriesRef(kind=kind, value=values[0] if values else "all")
    ]
    total = SeriesTotals()
    for ref in refs:
        total = total + store.total(ref, ns, *SPAN, resolution=res)
    return total


@pytest.mark.parametrize(
    ("name", "target"), redis_targets(), ids=[f"timeseries:{n}" for n, _ in redis_targets()]
)
def test_dashboard_query_sums_to_the_store_totals(
    name: str, target: dict[str, Any], written: tuple[TimeSeriesStore, str]
) -> None:
    store, ns = written
    variables = {"$namespace": ns, "$ticker": TICKER, "$topic": topic_slug(TOPIC)}
    terms = [
        variables.get(t.split("=", 1)[1], t.split("=", 1)[1]) for t in target["filter"].split()
    ]
    names = [t.split("=", 1)[0] for t in target["filter"].split()]
    filters = dict(zip(names, terms, strict=True))
    client: redis.Redis = store.client
    start, end = (int(t.timestamp() * 1000) for t in SPAN)
    reply = client.execute_command(  # type: ignore[no-untyped-call]
        "TS.MRANGE", start, end - 1, "AGGREGATION", target["aggregation"], target["bucket"],
        "FILTER", *(f"{k}={v}" for k, v in filters.items()),
    )  # fmt: skip
    # redis-py parses the reply as {key: [labels, metadata, samples]}.
    got = sum(float(v) for series in reply.values() for _, v in series[-1])
    assert reply, f"no series for {name}"
    want = store_total(store, ns, filters)
    field = filters["field"]
    assert got == pytest.approx(float(getattr(want, field)), abs=1e-6), name
