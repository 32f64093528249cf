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
from dashboards.definitions import PROMETHEUS_DS_UID, REDIS_DS_UID, ts_filter
from dashboards.generate import GRAFANA_DIR
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


def _targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in dashboard["panels"] for t in p.get("targets", [])]


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
        for label in (query.get("legend"), query.get("tsGroupByLabel")):
            assert label is None or label in TS_LABELS or label == "field"


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
    panels = _load(path)["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
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
    text = json.dumps(dashboard["panels"]) + json.dumps(dashboard["annotations"])
    used = set(re.findall(r"\$(\w+)", text)) - {"A", "B", "C"}  # math expression refs
    used = {u for u in used if not u.startswith("__")}  # Grafana built-ins
    assert used <= _variables(dashboard)


def test_ratio_panels_divide_two_hidden_redis_queries() -> None:
    overview = _load(GRAFANA_DIR / "finsent-overview.json")
    negative = next(p for p in overview["panels"] if p["title"].startswith("Negative share"))
    a, b, c = negative["targets"]
    assert "field=negative" in a["filter"] and a["hide"] is True
    assert "field=count" in b["filter"] and b["hide"] is True
    assert c["type"] == "math" and c["expression"] == "$A / $B"


def test_filter_builder_refuses_labels_the_store_does_not_write() -> None:
    with pytest.raises(ValueError, match="not written by the store"):
        ts_filter(symbol="AAPL")
