"""Every dashboard query must select data the services really write.

Redis panels may filter only on labels the store puts on its series (imported from
`finsent.redis_keys`), with label values the store uses; Prometheus panels may use only the
metric names in `dashboards.metric_names`.
"""

from __future__ import annotations

import json
import re
from typing import Any, get_args

import pytest

from dashboards import metric_names
from dashboards.generate import GRAFANA_DIR
from dashboards.queries import PROMETHEUS_DS_UID, REDIS_DS_UID, ts_filter
from finsent.redis_keys import RESOLUTIONS, SERIES_FIELDS, TS_LABELS
from finsent.schemas import SeriesKind

DASHBOARD_FILES = sorted(GRAFANA_DIR.glob("finsent-*.json"))
TEMPLATE = re.compile(r"^\$\w+$")
ALLOWED_VALUES: dict[str, set[str]] = {
    "app": {"finsent"},
    "field": set(SERIES_FIELDS),
    "resolution": set(RESOLUTIONS),
    "kind": set(get_args(SeriesKind)),
}


def _load(path: Any) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in _panels(dashboard) for t in p.get("targets", [])]


def _variables(dashboard: dict[str, Any]) -> set[str]:
    return {v["name"] for v in dashboard.get("templating", {}).get("list", [])}


def test_there_are_four_dashboards() -> None:
    assert [p.stem for p in DASHBOARD_FILES] == [
        "finsent-overview",
        "finsent-pipeline",
        "finsent-ticker",
        "finsent-topics",
    ]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_redis_queries_filter_only_on_labels_the_store_writes(path: Any) -> None:
    dashboard = _load(path)
    queries = [t for t in _targets(dashboard) if t["datasource"]["uid"] == REDIS_DS_UID]
    for query in queries:
        assert query["command"] == "ts.mrange"
        pairs = [term.split("=", 1) for term in query["filter"].split()]
        labels = [name for name, _ in pairs]
        assert set(labels) <= set(TS_LABELS), query["filter"]
        assert {"app", "namespace", "field", "resolution"} <= set(labels)
        for name, value in pairs:
            if TEMPLATE.match(value):
                assert value[1:] in _variables(dashboard), f"undefined variable {value}"
            elif name in ALLOWED_VALUES:
                assert value in ALLOWED_VALUES[name], (name, value)
        assert query.get("legend") is None or query["legend"] in TS_LABELS


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_prometheus_queries_use_declared_metric_names(path: Any) -> None:
    declared = set(metric_names.ALL_METRICS)
    for query in _targets(_load(path)):
        if query["datasource"]["uid"] != PROMETHEUS_DS_UID:
            continue
        for name in re.findall(r"finsent_\w+", query["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in declared or base in metric_names.HISTOGRAMS, name


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_panels_have_unique_ids_and_do_not_overlap(path: Any) -> None:
    everything = _panels(_load(path))
    assert len({p["id"] for p in everything}) == len(everything)
    panels = _load(path)["panels"]  # collapsed rows' panels take no space until expanded
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not (cells & mine), f"panel {p['title']} overlaps another"
        cells |= mine


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_every_variable_used_is_defined(path: Any) -> None:
    dashboard = _load(path)
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue  # its panels are checked one by one
        text = json.dumps(panel)
        ref_ids = {t["refId"] for t in panel.get("targets", [])}
        used = set(re.findall(r"\$(\w+)", text)) - ref_ids  # math expressions name refIds
        used = {u for u in used if not u.startswith("__")}  # Grafana built-ins
        assert used <= _variables(dashboard), (panel["title"], used)
        if "repeat" in panel:
            assert panel["repeat"] in _variables(dashboard)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_math_expressions_pair_single_series_queries(path: Any) -> None:
    """The plugin drops labels, so `$A / $B` is only sound when A and B select one series
    each: their filters must pin `kind=all` or a single ticker/topic variable value in a
    panel repeated over that variable."""
    for panel in _panels(_load(path)):
        targets = {t["refId"]: t for t in panel.get("targets", [])}
        for target in targets.values():
            if target.get("type") != "math":
                continue
            for ref in re.findall(r"\$(\w+)", target["expression"]):
                source = targets[ref]
                assert source["hide"] is True
                terms = dict(term.split("=", 1) for term in source["filter"].split())
                if terms["kind"] == "all":
                    continue
                variable = terms[terms["kind"]]
                assert variable.startswith("$")
                multi = next(
                    v for v in _load(path)["templating"]["list"] if v["name"] == variable[1:]
                ).get("multi", False)
                assert not multi or panel.get("repeat") == variable[1:], panel["title"]


def test_market_ratio_divides_negative_by_count() -> None:
    overview = _load(GRAFANA_DIR / "finsent-overview.json")
    market = next(p for p in overview["panels"] if p["title"].startswith("Market"))
    targets = {t["refId"]: t for t in market["targets"]}
    assert "field=negative" in targets["A"]["filter"] and "kind=all" in targets["A"]["filter"]
    assert "field=count" in targets["B"]["filter"]
    assert targets["C"]["expression"] == "$A / $B"
    assert "field=score_sum" in targets["S"]["filter"] and targets["D"]["expression"] == "$S / $B"
    assert all(
        isinstance(t.get("bucket"), int) for t in targets.values() if t.get("type") == "timeSeries"
    )


def test_filter_builder_refuses_labels_the_store_does_not_write() -> None:
    with pytest.raises(ValueError, match="not written by the store"):
        ts_filter(symbol="AAPL")
