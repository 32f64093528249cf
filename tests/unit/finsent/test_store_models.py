"""Pure parts of the store: time arithmetic, totals, options, which series a document hits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fakeredis
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from finsent import redis_keys
from finsent.schemas import SeriesRef
from finsent.store import ALL_SERIES, CoreStore, StoreOptions, TimeSeriesStore, open_store_on
from finsent.store.models import SeriesTotals, floor_ms, from_ms, to_ms
from finsent.store.replies import parse_registry_member, registry_member
from finsent.store.testing import scored_doc
from finsent.store.timeseries import label_value
from finsent.store.write import build_calls, evidence_of, series_of

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


def test_options_need_minutes_kept_no_longer_than_hours() -> None:
    with pytest.raises(ValidationError):
        StoreOptions(minute_retention_s=400 * 86_400, hour_retention_s=365 * 86_400)


def test_retention_applies_to_live_and_replays_keep_their_history() -> None:
    assert StoreOptions().trims("live") and not StoreOptions().trims("replay-2015")
    assert StoreOptions(keep_replays=False).trims("replay-2015")


def test_a_document_counts_in_each_ticker_its_topic_source_and_all() -> None:
    doc = scored_doc(
        "d1",
        T0,
        "live",
        tickers=("WMT", "AAPL", "WMT"),
        topic="Fed | Central Banks",
        source="rss:reuters",
    )
    assert series_of(doc) == [
        ("ticker", "WMT"),
        ("ticker", "AAPL"),
        ("topic", "fed-central-banks"),
        ("source", "rss:reuters"),
        ("all", "all"),
    ]
    assert (ALL_SERIES.kind, ALL_SERIES.value) in series_of(doc)


def test_registry_member_round_trip_keeps_colons_in_values() -> None:
    ref = SeriesRef(kind="source", value="rss:reuters-markets")
    assert parse_registry_member(registry_member(ref).encode()) == ref


def test_evidence_carries_no_full_text() -> None:
    doc = scored_doc("d1", T0, "live", "negative")
    ev = evidence_of(doc)
    assert ev.snippet == "title d1 — snippet" and ev.score == doc.score and ev.url == doc.url


def test_keys_of_a_namespace_share_one_hash_tag() -> None:
    keys = [
        redis_keys.meta("ns1"),
        redis_keys.fences("ns1"),
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


def test_the_backend_is_chosen_once_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    # A service-level default of "auto" used to override FINSENT_STORE__BACKEND=timeseries,
    # turning a missing module back into a silent fallback to core.
    from alerts.settings import AlertsSettings
    from finsent.errors import ConfigurationError
    from finsent.settings import FinsentSettings
    from inference.settings import InferenceSettings

    monkeypatch.setenv("FINSENT_STORE__BACKEND", "timeseries")
    assert InferenceSettings().store_backend is None and AlertsSettings().store_backend is None
    plain = fakeredis.FakeRedis()
    plain.execute_command = _no_ts_commands(plain.execute_command)  # type: ignore[method-assign]
    with pytest.raises(ConfigurationError, match="no RedisTimeSeries"):
        open_store_on(plain, FinsentSettings().store, InferenceSettings().store_backend)


def _no_ts_commands(run: Any) -> Any:
    """fakeredis emulates TS.*; this makes it answer like a Redis without the module."""

    def execute(*args: Any, **kwargs: Any) -> Any:
        if str(args[0]).upper().startswith("TS.") or str(args[0]).upper() == "MODULE LIST":
            raise redis.ResponseError(f"unknown command '{args[0]}'")
        return run(*args, **kwargs)

    return execute


def test_label_values_are_escaped_only_where_redistimeseries_refuses_them() -> None:
    assert label_value("rss:reuters-markets") == "rss:reuters-markets"
    assert label_value("a,b(c)") == "a%2Cb%28c%29"
    assert label_value("100%") == "100%25" and label_value("") == "%00"
    assert label_value("x\ny") == "x%0Ay" and label_value("é") == "é"


MINUTE = datetime(2015, 10, 14, 12, 0, tzinfo=UTC)


def test_a_batch_is_summed_per_series_bucket_and_model() -> None:
    # 300 documents in one minute, two models: Redis sees 4 series x 2 resolutions x 2
    # models buckets, whatever the number of documents.
    docs = [
        scored_doc(f"d{i}", MINUTE + timedelta(seconds=i % 60), "live",
                   ("negative", "neutral", "positive")[i % 3], model_version=f"m{i % 2}")
        for i in range(300)
    ]  # fmt: skip
    calls = build_calls(docs, StoreOptions(), lambda i: i == 0)
    call = calls["live"]
    assert len(call.docs) == 299
    assert len(call.sums) == 4 * 2 * 2
    all_minute = [v for k, v in call.sums.items() if k[0] == "all" and k[3] == "1m"]
    # Sums: count, negative, neutral, positive, score_sum.
    assert sum(s[0] for s in all_minute) == 299
    assert sum(s[1] for s in all_minute) == 99
    assert sum(s[4] for s in all_minute) == pytest.approx(sum(d.score for d in docs[1:]))
    keys, argv = call.script_args(
        lambda ns, res, kind, value, start, model: [f"{ns}:{res}:{kind}:{value}:{start}:{model}"],
        lambda ns, kind, value, model: [],
    )
    payload = json.loads(argv[0])
    assert len(payload["buckets"]) == 16 and len(keys) == len(set(keys))
    cap = StoreOptions().evidence_per_hour
    assert all(len(e["members"]) == 2 * cap for e in payload["evidence"])
