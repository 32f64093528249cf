import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from finsent.errors import reason_class
from ingest.models import RawItem, Unreadable
from ingest.settings import IngestSettings
from ingest.sources.files import check_paths, event_order, iter_paths, read_file, read_files

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"

TWEET = {
    "created_at": "Wed Oct 14 18:15:41 +0000 2015",
    "id_str": "654359939541037056",
    "text": "RT @TurnKeyBroker: $WMT Wal-Mart having worst day",
    "lang": "en",
    "entities": {"symbols": [{"text": "WMT", "indices": [19, 23]}], "hashtags": []},
    "user": {"screen_name": "someone", "name": "Some Person", "location": "Somewhere"},
    "retweeted_status": {"user": {"screen_name": "TurnKeyBroker"}},
}


def test_jsonl_documents_and_their_rejects() -> None:
    out = list(read_file(FIXTURES / "documents.jsonl", 64 * 1024))
    assert len(out) == 7
    items = [c for c in out if isinstance(c, RawItem)]
    rejects = [c for c in out if isinstance(c, Unreadable)]
    assert [reason_class(r.reason) for r in rejects] == ["missing_time", "malformed"]
    assert rejects[1].raw == b"not json at all"
    first = items[0]
    assert first.source == "desk"
    assert first.source_id == "desk:d-1"
    assert first.published_at == datetime(2015, 10, 30, 12, tzinfo=UTC)
    assert items[1].tickers == ("JPM",)


def test_csv_rows_with_bad_bytes_or_naive_times_are_rejected() -> None:
    out = list(read_file(FIXTURES / "documents.csv", 64 * 1024))
    assert [type(c).__name__ for c in out] == ["RawItem", "RawItem", "Unreadable", "Unreadable"]
    assert isinstance(out[0], RawItem) and out[0].tickers == ("BAC",)
    assert isinstance(out[2], Unreadable) and reason_class(out[2].reason) == "undecodable"
    assert isinstance(out[3], Unreadable) and "timezone" in out[3].reason
    json.loads(out[2].raw)  # the dead letter is still readable JSON


def test_stocknet_tweets_keep_only_the_allowed_fields(tmp_path: Path) -> None:
    path = tmp_path / "stocknet" / "WMT" / "2015-10-14"
    path.parent.mkdir(parents=True)
    path.write_bytes(json.dumps(TWEET).encode() + b"\n\xff\xfe\n{}\n" + b"9" * 5000 + b"\n")
    out = list(read_file(path, 64 * 1024))
    tweet = out[0]
    assert isinstance(tweet, RawItem)
    assert tweet.source == "stocknet"
    assert tweet.source_id == "tw:654359939541037056"
    assert tweet.cashtags == ("WMT",)
    assert tweet.published_at == datetime(2015, 10, 14, 18, 15, 41, tzinfo=UTC)
    assert set(json.loads(tweet.raw)) == {"id_str", "created_at", "text", "lang", "symbols"}
    assert b"Some Person" not in tweet.raw and b"Somewhere" not in tweet.raw
    assert [reason_class(c.reason) for c in out[1:] if isinstance(c, Unreadable)] == [
        "undecodable",
        "missing_time",
        "malformed",
    ]


def test_oversized_lines_are_rejected_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"text": "x" * 5000, "published_at": "2015-10-01T00:00:00Z"}))
    (only,) = read_file(path, 2048)
    assert isinstance(only, Unreadable) and reason_class(only.reason) == "oversized"


def test_directories_are_walked_in_order_skipping_docs(tmp_path: Path) -> None:
    for name in ("b/2015-10-02", "a/2015-10-01", "README.md", "LICENSE", ".hidden/x", "p.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_paths([tmp_path])]
    assert found == ["a/2015-10-01", "b/2015-10-02", "p.csv"]
    with pytest.raises(FileNotFoundError):
        list(iter_paths([tmp_path / "nope"]))


def test_a_directory_with_nothing_to_read_is_refused_before_reading(tmp_path: Path) -> None:
    """It would otherwise give a report of zero inputs, as if its files were empty."""
    (tmp_path / "notes.txt").write_text("Apple falls")
    (tmp_path / "README.md").write_text("")
    with pytest.raises(FileNotFoundError, match=r"no input files under .*\*\.jsonl"):
        check_paths([tmp_path])
    (tmp_path / "posts.jsonl").write_text("")
    check_paths([tmp_path])  # one readable file, even an empty one, is input


def test_event_order_merges_by_time_with_a_stable_tie_break() -> None:
    t1 = datetime(2015, 10, 1, tzinfo=UTC)
    t2 = datetime(2015, 10, 2, tzinfo=UTC)
    b = RawItem(source="s", source_id="b", text="x", published_at=t1)
    a = RawItem(source="s", source_id="a", text="x", published_at=t1)
    late = RawItem(source="s", source_id="0", text="x", published_at=t2)
    bad = Unreadable(source="s", raw=b"?", reason="malformed: x")
    assert event_order([late, b, bad, a]) == [bad, a, b, late]
    assert event_order([a, late, bad, b]) == [bad, a, b, late]


def test_stocknet_month_is_all_parseable() -> None:
    root = IngestSettings().data_dir / "stocknet-dataset" / "tweet" / "raw"
    items = list(read_files([root], 256 * 1024))
    assert all(isinstance(c, RawItem) for c in items)
    # SOURCES.md: 2,687 lines, 2,287 unique tweet ids.
    assert len(items) == 2687
    assert len({c.source_id for c in items if isinstance(c, RawItem)}) == 2287
