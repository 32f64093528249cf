"""Request parsing and rate limiting of the push API (no I/O; the endpoint itself is
exercised over real HTTP in tests/integration/test_ingest_push.py)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsent.errors import InvalidMessage, reason_class
from ingest.models import RawItem, Unreadable
from ingest.sources.push import TokenBucket, _candidates, bearer_token

DOC = {"text": "Apple falls", "published_at": "2015-10-14T12:00:00Z"}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, monotonic=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    assert bucket.take("b") == 0.0  # per client
    clock.now += 0.5
    assert bucket.take("a") == 0.0


@pytest.mark.parametrize(
    "body",
    [json.dumps(DOC), json.dumps([DOC, DOC]), json.dumps({"documents": [DOC]})],
)
def test_single_list_and_wrapped_batches_are_accepted(body: str) -> None:
    out = _candidates(body.encode(), max_batch=10)
    assert out and all(isinstance(c, RawItem) for c in out)
    assert all(isinstance(c, RawItem) and c.source == "push:default" for c in out)


def test_sources_are_prefixed_so_push_cannot_pose_as_another_source() -> None:
    (item,) = _candidates(json.dumps({**DOC, "source": "stocknet", "id": "7"}).encode(), 10)
    assert isinstance(item, RawItem)
    assert item.source == "push:stocknet" and item.source_id == "push:stocknet:7"


@pytest.mark.parametrize("given_id", ["tw:654", "rss:https://x/1", "push:desk:9"])
def test_ids_with_a_colon_are_scoped_too_so_no_client_claims_another_sources_ids(
    given_id: str,
) -> None:
    (item,) = _candidates(json.dumps({**DOC, "source": "desk", "id": given_id}).encode(), 10)
    assert isinstance(item, RawItem)
    assert item.source_id == f"push:desk:{given_id}"


@pytest.mark.parametrize("source", ["a,b=c", "x (y)", "desk one", "push:desk", "", "-x", "é"])
def test_sources_that_would_break_series_labels_are_rejected(source: str) -> None:
    (item,) = _candidates(json.dumps({**DOC, "source": source}).encode(), 10)
    assert isinstance(item, Unreadable)
    assert item.reason.startswith("malformed: source")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    body = f'{{"text": "Apple falls", "published_at": {constant}}}'.encode()
    with pytest.raises(InvalidMessage, match=f"malformed: {constant}"):
        _candidates(body, max_batch=10)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
    ],
)
def test_bearer_scheme_is_case_insensitive(header: str, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "undecodable"),
        (b"{not json", "malformed"),
        (b"[]", "empty_batch"),
        (json.dumps([DOC] * 11).encode(), "batch_too_large"),
        (b'{"documents": 3}', "malformed"),
        (b"[" * 100_000, "malformed"),
        (b"1" * 5000, "malformed"),  # over Python's int-digit limit
    ],
)
def test_unusable_bodies_raise_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage) as exc:
        _candidates(body, max_batch=10)
    assert reason_class(exc.value.reason) == reason


def test_bad_items_are_rejected_one_by_one() -> None:
    out = _candidates(json.dumps([DOC, 3, {"text": "no time"}]).encode(), 10)
    assert isinstance(out[0], RawItem)
    assert isinstance(out[1], Unreadable) and reason_class(out[1].reason) == "malformed"
    assert isinstance(out[2], Unreadable) and reason_class(out[2].reason) == "missing_time"


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_any_bytes_give_candidates_or_a_reason(body: bytes) -> None:
    try:
        out = _candidates(body, max_batch=50)
    except InvalidMessage as exc:
        assert exc.reason
        return
    for c in out:
        assert isinstance(c, RawItem) or c.reason


def test_token_bucket_forgets_refilled_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.sources.push as push

    monkeypatch.setattr(push, "_MAX_CLIENTS", 3)
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=2, monotonic=clock)
    for client in ("a", "b", "c", "d"):
        bucket.take(client)
    clock.now += 10  # all refilled
    bucket.take("e")
    assert set(bucket._buckets) == {"e"}
