"""Pure text helpers: cleaning for the wire, and the keys that make duplicates collide."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from typing import Final

_BLOCKS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENTS = re.compile(r"<!--.*?-->", re.DOTALL)
# Only things shaped like tags, so "price < 100 and > 90" survives.
_TAGS = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/h[1-6])\b[^>]*>", re.IGNORECASE)
# Control characters (bar whitespace), lone surrogates (unencodable in UTF-8), zero-widths.
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200d\u2060\ufeff]")
_SPACE = re.compile(r"\s+")

_RT_PREFIX = re.compile(r"^(?:rt\s+@\w+:?\s*)+", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_CASHTAG = re.compile(r"\$[A-Za-z][A-Za-z0-9.\-]{0,9}\b")
_NON_WORD = re.compile(r"[^\w$]+")

MIN_TOKENS_WITHOUT_CASHTAGS: Final = 3
"""Content keys drop cashtags only when this many words remain, so "$AAPL up 5%" and
"$MSFT up 5%" stay distinct while a promotion rotating its cashtags collapses."""


def clean_text(value: str) -> str:
    """Wire-ready text: tags stripped, entities decoded, junk removed, NFC, spaces collapsed."""
    value = _BLOCKS.sub(" ", value)
    value = _COMMENTS.sub(" ", value)
    value = _BREAKS.sub(" ", value)
    value = _TAGS.sub("", value)
    value = html.unescape(value)
    value = _JUNK.sub("", value)
    value = unicodedata.normalize("NFC", value)
    return _SPACE.sub(" ", value).strip()


def content_tokens(text: str) -> list[str]:
    """The words that make two posts "the same": no RT prefix, links, mentions or case.

    Cashtags are dropped too when enough other words remain (see
    `MIN_TOKENS_WITHOUT_CASHTAGS`); `#` is dropped but the hashtag word kept.
    """
    value = unicodedata.normalize("NFKC", text).casefold()
    value = _RT_PREFIX.sub("", value.strip())
    value = _URL.sub(" ", value)
    value = _MENTION.sub(" ", value)
    value = value.replace("…", " ")
    without = _CASHTAG.sub(" ", value)
    words = [w for w in _NON_WORD.sub(" ", without).split() if w]
    if len(words) >= MIN_TOKENS_WITHOUT_CASHTAGS:
        return words
    return [w for w in _NON_WORD.sub(" ", value).split() if w]


def content_key(text: str) -> str:
    """A short hash of `content_tokens`: equal for a post and its retweets or reposts."""
    return tokens_key(content_tokens(text))


def tokens_key(tokens: list[str]) -> str:
    return hashlib.blake2b(" ".join(tokens).encode(), digest_size=16).hexdigest()


def content_id(title: str | None, text: str) -> str:
    """A stable document id for sources without one: a hash of the cleaned title and text."""
    payload = f"{title or ''}\x1f{text}".encode()
    return "h:" + hashlib.sha256(payload).hexdigest()[:32]


def simhash(tokens: list[str]) -> int:
    """64-bit SimHash over words (Charikar 2002).

    Words, not word pairs: on tweet-length texts one changed word flips a pair feature on
    each side of it too, which pushes true near-duplicates past a 3-bit threshold.
    """
    weights = [0] * 64
    for feature in tokens:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += 1 if (h >> bit) & 1 else -1
    return sum(1 << bit for bit in range(64) if weights[bit] > 0)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
