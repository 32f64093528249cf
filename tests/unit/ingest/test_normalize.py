from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finsent.errors import InvalidMessage, reason_class
from finsent.schemas import MAX_TEXT_CHARS, Document
from ingest.language import LanguageDetector
from ingest.models import RawItem
from ingest.normalize import Limits, Normalizer
from ingest.settings import IngestSettings
from ingest.tickers import TickerTagger

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WHEN = datetime(2015, 10, 14, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def normalize() -> Normalizer:
    return Normalizer(
        TickerTagger.bundled(), LanguageDetector(["en", "de", "fr"]), Limits(max_raw_bytes=4096)
    )


def item(**kw: object) -> RawItem:
    base: dict[str, object] = {"source": "test", "text": "Apple shares fall", "published_at": WHEN}
    base.update(kw)
    return RawItem.model_validate(base)


def test_a_valid_item_becomes_a_clean_tagged_document(normalize: Normalizer) -> None:
    doc = normalize(
        item(
            source_id="tw:1",
            title="<b>Wal-Mart</b> cuts forecast",
            text="<p>Shares of Wal-Mart &amp; peers   fell</p>",
            url="https://x.example/a",
        ),
        now=NOW,
    )
    assert doc.id == "tw:1"
    assert doc.title == "Wal-Mart cuts forecast"
    assert doc.text == "Shares of Wal-Mart & peers fell"
    assert doc.tickers == ("WMT",)
    assert doc.language == "en"
    assert doc.published_at == WHEN
    assert doc.ingested_at == NOW
    assert doc.namespace == "live"


def test_without_a_source_id_the_id_is_a_content_hash(normalize: Normalizer) -> None:
    a = normalize(item(), now=NOW)
    b = normalize(item(), now=NOW + timedelta(hours=1))
    assert a.id == b.id and a.id.startswith("h:")
    assert normalize(item(text="Other text"), now=NOW).id != a.id


def test_language_from_the_source_wins_unless_undetermined(normalize: Normalizer) -> None:
    assert normalize(item(language="in"), now=NOW).language == "in"
    german = item(text="Die Aktie von Apple fällt nach schwachen Zahlen deutlich", language="und")
    assert normalize(german, now=NOW).language == "de"


def test_title_only_items_use_the_title_as_text(normalize: Normalizer) -> None:
    doc = normalize(item(text="   ", title="Oil steadies"), now=NOW)
    assert doc.text == "Oil steadies"


def test_long_text_is_capped(normalize: Normalizer) -> None:
    doc = normalize(item(text="word " * 10_000), now=NOW)
    assert len(doc.text) <= MAX_TEXT_CHARS


def test_bad_urls_are_dropped_not_fatal(normalize: Normalizer) -> None:
    assert normalize(item(url="javascript:alert(1)"), now=NOW).url is None


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"text": "<p> </p>", "title": None}, "missing_text"),
        ({"text": None}, "missing_text"),
        ({"published_at": None}, "missing_time"),
        ({"published_at": datetime(1989, 12, 31, tzinfo=UTC)}, "time_too_old"),
        ({"published_at": NOW + timedelta(seconds=301)}, "time_in_future"),
        ({"published_at": NOW + timedelta(hours=23)}, "time_in_future"),
        ({"raw": b"x" * 5000}, "oversized"),
    ],
)
def test_invalid_items_raise_with_a_reason(
    normalize: Normalizer, kw: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidMessage) as exc:
        normalize(item(**kw), now=NOW)
    assert reason_class(exc.value.reason) == reason


def test_a_few_minutes_ahead_is_accepted_and_the_default_bound_is_minutes(
    normalize: Normalizer,
) -> None:
    # Clocks drift: a few minutes ahead is fine. A day ahead used to be accepted too, and
    # one such document moved the live watermark a day on (issue 12).
    assert normalize(item(published_at=NOW + timedelta(minutes=4)), now=NOW).published_at
    assert IngestSettings().max_future_s == 300


def test_the_future_bound_is_configurable() -> None:
    lenient = Normalizer(
        TickerTagger.bundled(10), LanguageDetector(["en"]), Limits(max_future_s=7200)
    )
    assert lenient(item(published_at=NOW + timedelta(hours=1)), now=NOW).published_at
    with pytest.raises(
        InvalidMessage, match=r"time_in_future: .* more than 7200 s after the clock"
    ):
        lenient(item(published_at=NOW + timedelta(hours=3)), now=NOW)


def test_bad_namespace_is_an_invalid_document_not_a_crash(normalize: Normalizer) -> None:
    with pytest.raises(InvalidMessage, match="invalid_document"):
        normalize(item(), now=NOW, namespace="Not Valid")


hostile_text = st.one_of(
    st.none(),
    st.text(max_size=400),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50).map(lambda s: f"<b>{s}</b>&amp;"),
    st.sampled_from(["", " ", "\x00", "<script>x</script>", "&#0;", "\ud800", "$", "$$$AAPL"]),
)
times = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, None]),
    ).filter(lambda d: d.tzinfo is not None),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=hostile_text,
    title=hostile_text,
    source_id=st.one_of(st.none(), st.text(max_size=300)),
    url=st.one_of(st.none(), st.text(max_size=50)),
    language=st.one_of(st.none(), st.text(max_size=20)),
    published_at=times,
    raw=st.binary(max_size=64),
)
def test_fuzz_normaliser_returns_a_document_or_a_reason(
    normalize: Normalizer,
    text: str | None,
    title: str | None,
    source_id: str | None,
    url: str | None,
    language: str | None,
    published_at: datetime | None,
    raw: bytes,
) -> None:
    raw_item = RawItem(
        source="fuzz",
        source_id=source_id,
        text=text,
        title=title,
        url=url,
        language=language,
        published_at=published_at,
        raw=raw,
    )
    try:
        doc = normalize(raw_item, now=NOW)
    except InvalidMessage as exc:
        assert reason_class(exc.reason) in {
            "missing_text", "missing_time", "time_too_old", "time_in_future", "invalid_document",
        }  # fmt: skip
        return
    # Whatever got through survives the wire round trip unchanged.
    assert Document.model_validate_json(doc.model_dump_json()) == doc
    doc.model_dump_json().encode("utf-8")
    assert doc.text.strip() and len(doc.text) <= MAX_TEXT_CHARS
