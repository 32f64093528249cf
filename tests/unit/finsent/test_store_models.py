"""Pure parts of the store: time arithmetic, totals, options, which series a document hits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from finsent import redis_keys
from finsent.store import ALL_SERIES, CoreStore, StoreOptions, TimeSeriesStore, open_store_on
from finsent.store.base import evidence_of, parse_registry_member, registry_member, series_of
from finsent.store.models import SeriesTotals, floor_ms, from_ms, to_ms
from finsent.store.testing import scored_doc

T0 = datetime(2015, 10, 14, 18, 15, 41, 123456, tzinfo=UTC)


@given(
    st.datetimes(
        # hypothesis wants naive bounds; `timezones` makes the generated values aware.
        min_value=datetime(1971, 1, 1),  # noqa: DTZ001
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_ms_round_trip_is_exact_to_the_millisecond(moment: datetime) -> None:
    ms = to_ms(moment)
    assert from_ms(ms) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_to_ms_respects_offsets() -> None:
    est = T0.astimezone(timezone(timedelta(hours=-5)))
    assert to_ms(est) == to_ms(T0)
    assert floor_ms(to_ms(T0), 60_000) == to_ms(T0.replace(second=0, microsecond=0))


def test_totals_add_and_shares() -> None:
    a = SeriesTotals(count=4, negative=1, neutral=2, positive=1, score_sum=-0.5)
    b = SeriesTotals(count=6, negative=5, neutral=1, positive=0, score_sum=-3.0)
    total = a + b
    assert (total.count, total.negative, total.neutral, total.positive) == (10, 6, 3, 1)
    assert total.negative_share == 0.6 and total.mean_score == pytest.approx(-0.35)
    assert SeriesTotals().negative_share == 0.0


def test_options_refuse_lateness_outside_minute_and_hour_retention() -> None:
    with pytest.raises(ValidationError):
        StoreOptions(minute_retention_s=7 * 86_400, max_lateness_s=86_400)
    with pytest.raises(ValidationError):
        StoreOptions(max_lateness_s=400 * 86_400)
    assert StoreOptions().max_lateness_s == 62 * 86_400


def test_a_document_counts_in_each_ticker_its_topic_source_and_all() -> None:
    doc = scored_doc(
        "d1",
        T0,
        "live",
        tickers=("WMT", "AAPL", "WMT"),
        topic="Fed | Central Banks",
        source="rss:reuters",
    )
    refs = [(r.kind, r.value) for r in series_of(doc)]
    assert refs == [
        ("ticker", "WMT"),
        ("ticker", "AAPL"),
        ("topic", "fed-central-banks"),
        ("source", "rss:reuters"),
        ("all", "all"),
    ]
    assert ALL_SERIES in series_of(doc)


def test_registry_member_round_trip_keeps_colons_in_values() -> None:
    ref = series_of(scored_doc("d", T0, "live", source="rss:reuters-markets"))[1]
    assert parse_registry_member(registry_member(ref).encode()) == ref


def test_evidence_carries_no_full_text() -> None:
    doc = scored_doc("d1", T0, "live", "negative")
    ev = evidence_of(doc)
    assert ev.snippet == "title d1 — snippet" and ev.score == doc.score and ev.url == doc.url


def test_keys_of_a_namespace_share_one_hash_tag() -> None:
    keys = [
        redis_keys.meta("ns1"),
        redis_keys.seen("ns1", 0),
        redis_keys.bucket("ns1", "1m", "ticker", "WMT", 60_000),
        redis_keys.ts_series("ns1", "1h", "all", "all", "count", "m1"),
        redis_keys.evidence("ns1", "ticker", "WMT", 0),
        redis_keys.alert_log("ns1"),
    ]
    assert all("{ns1}" in k and k.count("{") == 1 for k in keys)
    assert redis_keys.namespace_pattern("a*b") == r"finsent:{a\*b}:*"


def test_auto_picks_the_backend_the_server_has() -> None:
    # fakeredis emulates TS.*: auto finds it by probing TS.INFO.
    fake = fakeredis.FakeRedis()
    assert isinstance(open_store_on(fake, StoreOptions(), "auto"), TimeSeriesStore)
    assert isinstance(open_store_on(fake, StoreOptions(), "core"), CoreStore)


def test_every_service_reads_store_options_from_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from finsent.settings import FinsentSettings

    monkeypatch.setenv("FINSENT_STORE__MINUTE_RETENTION_S", str(14 * 86_400))
    monkeypatch.setenv("FINSENT_STORE__EVIDENCE_PER_HOUR", "5")
    options = FinsentSettings().store
    assert options.minute_retention_s == 14 * 86_400
    assert options.evidence_per_hour == 5
    assert options.hour_retention_s == StoreOptions().hour_retention_s
