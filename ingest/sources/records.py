"""Parsing of single records shared by the file reader and the push API.

Two shapes are understood:

- a finsent document (`DocumentIn`): `text` and `published_at` at least;
- a Twitter API v1.1 tweet (as in StockNet): only `id_str`, `created_at`, `text`, `lang`
  and `entities.symbols` are read; user-profile fields are never touched or kept.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from finsent.errors import InvalidMessage, Reason
from ingest.models import RawItem

SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,59}$"
"""Sources name series labels downstream: no `,` `(` `)` `=` spaces or colons."""


class DocumentIn(BaseModel):
    """A document as senders write it (JSONL line, CSV row, push API item)."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_max_length=1_000_000)

    id: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    """Your id for the document; re-sending the same id is deduplicated."""
    source: Annotated[str, Field(pattern=SOURCE_PATTERN)] | None = None
    """A short name: letters, digits, `_`, `.`, `-` (it becomes a series label)."""
    url: str | None = None
    title: str | None = None
    text: str | None = None
    """The body; may be HTML. At least one of `text` and `title` must hold words."""
    language: Annotated[str, Field(max_length=16)] | None = None
    tickers: Annotated[list[str], Field(max_length=50)] = []
    """Tickers you know the document is about; more are found in the text."""
    published_at: AwareDatetime
    """When the source published it, with a timezone (ISO 8601 or Unix seconds)."""


def raw_from_document(
    record: DocumentIn, default_source: str, raw: bytes, *, scope_id: bool = False
) -> RawItem:
    """A `RawItem` from a sender's document.

    An id is scoped as `<source>:<id>` unless it already has a scheme (`tw:1`, from files
    we trust); `scope_id=True` always scopes it, so a push client cannot claim another
    source's ids (`tw:1` from a push client becomes `push:desk:tw:1`).
    """
    source = record.source or default_source
    source_id = None
    if record.id is not None:
        scoped = scope_id or ":" not in record.id
        source_id = f"{source}:{record.id}" if scoped else record.id
    return RawItem(
        source=source[:100],
        source_id=source_id,
        text=record.text,
        title=record.title,
        url=record.url,
        published_at=record.published_at,
        language=record.language,
        tickers=tuple(record.tickers),
        raw=raw,
    )


class _Symbol(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str


class _Entities(BaseModel):
    model_config = ConfigDict(extra="ignore")
    symbols: list[_Symbol] = []


class TweetIn(BaseModel):
    """The fields of a Twitter API v1.1 tweet that finsent keeps; nothing else is read."""

    model_config = ConfigDict(extra="ignore")

    id_str: Annotated[str, Field(pattern=r"^[0-9]{1,25}$")]
    created_at: str
    text: str
    lang: str | None = None
    entities: _Entities = _Entities()


def raw_from_tweet(tweet: TweetIn, source: str) -> RawItem:
    try:
        published = datetime.strptime(tweet.created_at, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        raise InvalidMessage(Reason.MALFORMED, "created_at is not a Twitter timestamp") from None
    symbols = tuple(s.text for s in tweet.entities.symbols)
    kept = {
        "id_str": tweet.id_str,
        "created_at": tweet.created_at,
        "text": tweet.text,
        "lang": tweet.lang,
        "symbols": list(symbols),
    }
    return RawItem(
        source=source,
        source_id=f"tw:{tweet.id_str}",
        text=tweet.text,
        published_at=published,
        language=tweet.lang,
        cashtags=symbols,
        # Dead letters carry only the kept fields, never the user profile.
        raw=json.dumps(kept, ensure_ascii=False).encode("utf-8", "backslashreplace"),
    )


def parse_record(obj: Any, default_source: str, raw: bytes, tweet_source: str) -> RawItem:
    """A parsed JSON value as a `RawItem`.

    Raises:
        InvalidMessage: not an object, or not a valid document or tweet.
    """
    if not isinstance(obj, dict):
        raise InvalidMessage(Reason.MALFORMED, f"expected a JSON object, got {type(obj).__name__}")
    try:
        if "id_str" in obj and "created_at" in obj:
            return raw_from_tweet(TweetIn.model_validate(obj), tweet_source)
        return raw_from_document(DocumentIn.model_validate(obj), default_source, raw)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> InvalidMessage:
    """A record's first validation error as the dead-letter reason it earns."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    missing = first["type"] == "missing"
    if missing and where in ("text", "title"):
        kind = Reason.MISSING_TEXT
    elif missing and where == "published_at":
        kind = Reason.MISSING_TIME
    else:
        kind = Reason.MALFORMED
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return InvalidMessage(kind, f"{where}: {first['msg']}{more}", max_chars=500)


def decode_json_line(line: bytes) -> Any:
    """Strict UTF-8 then JSON.

    Raises:
        InvalidMessage: `undecodable:` or `malformed:`.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(Reason.UNDECODABLE, f"invalid UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: also ints over 4300 digits
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep or too large"
        raise InvalidMessage(Reason.MALFORMED, f"invalid JSON: {msg}") from None
