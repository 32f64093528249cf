"""Files of documents: JSON Lines (finsent documents or Twitter v1.1 tweets, e.g. StockNet's
`tweet/raw/<TICKER>/<date>` files) and CSV with a header (`text`, `published_at`, ...)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from finsent.errors import InvalidMessage, Reason, reason_text
from ingest.models import Candidate, RawItem, Unreadable
from ingest.sources.records import decode_json_line, parse_record

CSV_SUFFIXES = {".csv"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json", ""}
_SKIP_NAMES = ("readme", "license", "stocktable")


def iter_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and files under directories named (sorted, hidden and docs skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path).parts
                if (
                    child.is_file()
                    and not any(p.startswith(".") for p in rel)
                    and not child.name.lower().startswith(_SKIP_NAMES)
                    and child.suffix.lower() in CSV_SUFFIXES | JSONL_SUFFIXES
                ):
                    yield child
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")


def check_paths(paths: Iterable[Path]) -> None:
    """Fail before reading anything when an input does not exist, or is a directory with
    no file this reader takes (it would otherwise report zero inputs, like an empty file).

    Raises:
        FileNotFoundError: naming the first missing path or empty directory.
    """
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
        if path.is_dir() and next(iter_paths([path]), None) is None:
            kinds = ", ".join(f"*{s}" for s in sorted(CSV_SUFFIXES | JSONL_SUFFIXES) if s)
            raise FileNotFoundError(
                f"no input files under {path}: looked for {kinds} and files without an "
                f"extension (hidden files and names starting {', '.join(_SKIP_NAMES)} skipped)"
            )


def read_file(path: Path, max_raw_bytes: int) -> Iterator[Candidate]:
    """Every record of one file, in file order; an unreadable file is one reject."""
    try:
        if path.suffix.lower() in CSV_SUFFIXES:
            yield from _read_csv(path, max_raw_bytes)
        else:
            yield from _read_jsonl(path, max_raw_bytes)
    except OSError as exc:
        reason = reason_text(Reason.UNREADABLE, f"{type(exc).__name__} reading {path.name}")
        yield Unreadable(source=f"file:{path.name}"[:100], raw=str(path).encode(), reason=reason)


def read_files(paths: Iterable[Path], max_raw_bytes: int) -> Iterator[Candidate]:
    for path in iter_paths(paths):
        yield from read_file(path, max_raw_bytes)


def _sources(path: Path) -> tuple[str, str]:
    tweet_source = "stocknet" if "stocknet" in str(path).lower() else "twitter"
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in path.stem)[:60] or "file"
    return f"file:{stem}", tweet_source


def _read_jsonl(path: Path, max_raw_bytes: int) -> Iterator[Candidate]:
    default_source, tweet_source = _sources(path)
    with path.open("rb") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            if len(line) > max_raw_bytes:
                reason = reason_text(Reason.OVERSIZED, f"{len(line)} bytes > {max_raw_bytes}")
                yield Unreadable(source=default_source, raw=line[:max_raw_bytes], reason=reason)
                continue
            try:
                obj = decode_json_line(line)
                yield parse_record(obj, default_source, line, tweet_source)
            except InvalidMessage as exc:
                yield Unreadable(source=default_source, raw=line, reason=exc.reason)


def _read_csv(path: Path, max_raw_bytes: int) -> Iterator[Candidate]:
    default_source, tweet_source = _sources(path)
    # surrogateescape keeps undecodable bytes visible per row instead of failing the file.
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        for row in csv.DictReader(handle):
            record = {k: v for k, v in row.items() if isinstance(k, str) and v not in (None, "")}
            raw = json.dumps(record).encode()  # ensure_ascii: escapes the bad bytes
            bad = next((k for k, v in record.items() if _has_surrogates(v)), None)
            if bad is not None:
                reason = reason_text(Reason.UNDECODABLE, f"invalid UTF-8 in column {bad[:40]!r}")
                yield Unreadable(source=default_source, raw=raw, reason=reason)
                continue
            if isinstance(record.get("tickers"), str):
                record["tickers"] = record["tickers"].replace(",", " ").replace("|", " ").split()
            try:
                yield parse_record(record, default_source, raw, tweet_source)
            except InvalidMessage as exc:
                yield Unreadable(source=default_source, raw=raw, reason=exc.reason)


def _has_surrogates(value: object) -> bool:
    return isinstance(value, str) and any("\udc80" <= c <= "\udcff" for c in value)


_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def event_order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """All candidates sorted by event time (rejects first), ties broken by id then bytes.

    StockNet's daily files are collection buckets, not sorted days, so a replay merges
    every file and sorts; the tie-break makes the order, and so the dedupe decisions,
    identical on every run.
    """

    def key(c: Candidate) -> tuple[int, datetime, str, bytes]:
        if isinstance(c, Unreadable):
            return (0, _EPOCH, c.source, c.raw)
        item: RawItem = c
        return (1, item.published_at or _EPOCH, item.source_id or "", item.raw)

    return sorted(candidates, key=key)
