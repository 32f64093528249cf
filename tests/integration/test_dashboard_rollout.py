"""The Redis panels' queries, run as the data-source plugin runs them, on a store that holds
two model versions at once (a rollout): one line per ticker, topic or field, never one per
model, with the counts of both versions added up.

The plugin's backend (redis-datasource 2.2.0) sends `TS.MRANGE from to AGGREGATION <agg>
<bucket> WITHLABELS FILTER <filter...> GROUPBY <label> REDUCE <reducer>`; `as_plugin_argv`
builds the same argv from a committed target, run on the stack's real RedisTimeSeries
(fakeredis's emulation lacks the store's `TS.ADD ... ON_DUPLICATE`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from dashboards.generate import GRAFANA_DIR
from finsent.settings import FinsentSettings
from finsent.store import TimeSeriesStore
from finsent.store.testing import scored_doc

NAMESPACE = "rq" + uuid.uuid4().hex[:10]
START = datetime(2015, 8, 3, 14, tzinfo=UTC)


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _redis_targets() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(GRAFANA_DIR.glob("finsent-*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                if target.get("type") == "timeSeries":
                    out.append((f"{path.stem}:{panel['id']}:{target['refId']}", target))
    return out


def as_plugin_argv(
    target: dict[str, Any], start_ms: int, end_ms: int, **variables: str
) -> list[Any]:
    """The command the plugin's backend sends for a `ts.mrange` target."""
    text = target["filter"]
    for name, value in variables.items():
        text = text.replace(f"${name}", value)
    argv: list[Any] = ["TS.MRANGE", start_ms, end_ms]
    if target.get("aggregation"):
        argv += ["AGGREGATION", target["aggregation"], target["bucket"]]
    argv += ["WITHLABELS", "FILTER", *text.split()]
    if target.get("tsGroupByLabel"):
        argv += ["GROUPBY", target["tsGroupByLabel"], "REDUCE", target["tsReducer"]]
    return argv


@pytest.fixture(scope="module")
def client(settings: FinsentSettings) -> redis.Redis:
    server = settings.redis.client()
    store = TimeSeriesStore(server, settings.store)
    docs = []
    # Same tickers and topic, scored by two model versions over the same hours.
    for i in range(12):
        for model in ("minilm-1.0.0", "minilm-1.1.0"):
            docs.append(
                scored_doc(
                    f"{model}-{i}",
                    START + timedelta(minutes=10 * i),
                    NAMESPACE,
                    ("negative", "neutral", "positive")[i % 3],
                    tickers=("AAPL", "WMT"),
                    topic="Earnings",
                    model_version=model,
                )
            )
    store.write_batch(docs)
    return server


def _run(client: redis.Redis, argv: list[Any]) -> Any:
    # The raw argv, as the plugin sends it (redis-py's typed `ts().mrange` would rebuild it).
    return client.execute_command(*argv)  # type: ignore[no-untyped-call]


def _series(reply: Any) -> dict[str, list[tuple[int, float]]]:
    """{series name: samples} from a RESP2 or RESP3 (dict) TS.MRANGE reply."""
    out: dict[str, list[tuple[int, float]]] = {}
    items = reply.items() if isinstance(reply, dict) else [(i[0], i[1:]) for i in reply]
    for name, rest in items:
        samples = rest[-1]  # labels (and, grouped, reducer and sources) come first
        key = name.decode() if isinstance(name, bytes) else str(name)
        out[key] = [(int(t), float(v)) for t, v in samples]
    return out


@pytest.mark.parametrize("target", _redis_targets(), ids=lambda t: t[0])
def test_a_rollout_does_not_split_a_panel(
    client: redis.Redis, target: tuple[str, dict[str, Any]]
) -> None:
    _, query = target
    start_ms = int(START.timestamp() * 1000) - 3_600_000
    end_ms = start_ms + 6 * 3_600_000
    variables = {"namespace": NAMESPACE, "ticker": "AAPL", "topic": "earnings"}  # label slug
    grouped = _series(_run(client, as_plugin_argv(query, start_ms, end_ms, **variables)))
    assert grouped, "the query selects no series"
    legend = query["legend"]
    # One series per legend value (the label the panel names lines after), not per model.
    assert len(grouped) == len({name.split("=", 1)[1] for name in grouped})
    assert all(name.startswith(f"{legend}=") for name in grouped)
    # ...holding what both model versions wrote.
    ungrouped = {**query, "tsGroupByLabel": None}
    per_model = _series(_run(client, as_plugin_argv(ungrouped, start_ms, end_ms, **variables)))
    assert len(per_model) == 2 * len(grouped)
    assert sum(v for s in grouped.values() for _, v in s) == pytest.approx(
        sum(v for s in per_model.values() for _, v in s)
    )


def test_every_redis_query_groups_by_its_legend_label() -> None:
    targets = _redis_targets()
    assert targets
    for name, target in targets:
        assert target["tsGroupByLabel"] == target["legend"], name
        assert target["tsReducer"] == "sum", name  # counts add; a mean of counts would not


def test_topic_mix_reduces_before_it_sorts() -> None:
    ticker = json.loads((GRAFANA_DIR / "finsent-ticker.json").read_text(encoding="utf-8"))
    panel = next(p for p in ticker["panels"] if p["title"].startswith("Topic mix"))
    ids = [t["id"] for t in panel["transformations"]]
    assert ids.index("reduce") < ids.index("sortBy")
    reduce = panel["transformations"][ids.index("reduce")]["options"]
    assert reduce["mode"] == "seriesToRows" and reduce["reducers"] == ["sum"]
    sort = panel["transformations"][ids.index("sortBy")]["options"]["sort"][0]
    assert sort == {"field": "Total", "desc": True}  # the column `reduce` names `Total`


def test_dashboards_use_grafana_12_schema() -> None:
    for path in GRAFANA_DIR.glob("finsent-*.json"):
        assert json.loads(path.read_text(encoding="utf-8"))["schemaVersion"] == 41, path.name
