"""CSV export of the series a chart shows: one row per series and step, a header row first."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Final, get_args

from dashboards.web.models import SeriesSummary
from dashboards.web.window import Window
from finsent.schemas import SeriesKind, SeriesRef

COLUMNS: Final = (
    "kind",
    "value",
    "t",
    "count",
    "negative",
    "neutral",
    "positive",
    "negative_share",
    "mean_score",
)


def parse_series(text: str) -> SeriesRef:
    """`ticker:TSLA` -> SeriesRef; raises ValueError with the accepted form."""
    kind, sep, value = text.partition(":")
    if not sep or not value or kind not in get_args(SeriesKind):
        kinds = ", ".join(get_args(SeriesKind))
        raise ValueError(f"series {text!r}: expected kind:value with kind one of {kinds}")
    return SeriesRef.model_validate({"kind": kind, "value": value})


def _cell(value: float | None) -> str:
    # Empty, not "None", for a step without documents; repr keeps every digit of a float.
    return "" if value is None else repr(value)


def to_csv(summaries: Sequence[SeriesSummary]) -> str:
    """The points of every series; times in ISO 8601 UTC (the start of each step)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in summaries:
        for p in s.points:
            writer.writerow(
                (
                    s.kind,
                    s.value,
                    p.t.isoformat().replace("+00:00", "Z"),
                    p.count,
                    p.negative,
                    p.neutral,
                    p.positive,
                    _cell(p.negative_share),
                    _cell(p.mean_score),
                )
            )
    return out.getvalue()


def filename(namespace: str, window: Window) -> str:
    stamp = "%Y%m%dT%H%MZ"
    return f"finsent-{namespace}-{window.start:{stamp}}-{window.end:{stamp}}.csv"
