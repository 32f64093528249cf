"""Pure text helpers: cleaning for the wire, and the keys that make duplicates collide."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from typing import Final

import numpy as np

# Every pattern here is linear: no `.*?` that can rescan the rest of the text from each
# of many unclosed openers (`<!--<!--<!--...` made the old ones quadratic: issue 13).
_OPENERS = re.compile(r"<!--|<(script|style)\b", re.IGNORECASE)
_CLOSERS = {
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}
# Only things shaped like tags, so "price < 100 and > 90" survives. Attribute runs stop at
# the next `<`, so a scan never goes past the next opener.
_TAGS = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/h[1-6])\b[^<>]*>", re.IGNORECASE)
# Control characters (bar whitespace), lone surrogates (unencodable in UTF-8), zero-widths,
# and bidi controls (they reorder what a reader sees: "Trojan Source", CVE-2021-42574).
_JUNK = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u202a-\u202e"
    "\u2060\u2066-\u2069\u061c\ufeff]"
)
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
    """Wire-ready text: tags stripped, entities decoded, junk removed, NFC, spaces collapsed.

    Linear in the length of `value`, whatever it holds.
    """
    value = _drop_blocks(value)
    value = _BREAKS.sub(" ", value)
    value = _TAGS.sub("", value)
    value = html.unescape(value)
    value = _JUNK.sub("", value)
    value = unicodedata.normalize("NFC", value)
    return _SPACE.sub(" ", value).strip()


def _drop_blocks(value: str) -> str:
    """Remove comments and script/style blocks in one forward scan.

    An opener without its closer hides the rest of the text, as in a browser. Each
    search starts where the last one ended, so the whole scan is linear.
    """
    parts: list[str] = []
    pos = 0
    while (opener := _OPENERS.search(value, pos)) is not None:
        parts.append(value[pos : opener.start()])
        parts.append(" ")
        if opener.group(1) is None:
            end = value.find("-->", opener.end())
            pos = len(value) if end < 0 else end + 3
        else:
            closer = _CLOSERS[opener.group(1).lower()].search(value, opener.end())
            pos = len(value) if closer is None else closer.end()
    parts.append(value[pos:])
    return "".join(parts)


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


_DIGIT = re.compile(r"\d")
NUMBER_FEATURE: Final = "<number>"


def near_dup_features(tokens: list[str]) -> list[str]:
    """SimHash features of `tokens`: every word that holds a digit is one and the same feature.

    A bot that re-posts its template with a new time, price or counter ("HFT Algos triggered
    SELL ... @ 13:24, P/T 24.00 ... $MSFT $FB $GOOG ...", then "@ 14:41", "@ 15:20") changed
    two or three of its ~18 words each time, too many for a 3-bit SimHash match, so every
    copy counted as a new document toward each ticker it names: three false pages in the
    StockNet month with a stronger model (docs/model.md, run 12). Only near-duplicate
    matching sees numbers this way; the exact content key keeps them, and texts under
    `near_dup_min_tokens` words ("$AAPL up 5%") never reach SimHash.
    """
    return [NUMBER_FEATURE if _DIGIT.search(t) else t for t in tokens]


def content_key(text: str) -> str:
    """A short hash of `content_tokens`: equal for a post and its retweets or reposts."""
    return tokens_key(content_tokens(text))


def tokens_key(tokens: list[str]) -> str:
    return hashlib.blake2b(" ".join(tokens).encode(), digest_size=16).hexdigest()


def content_id(title: str | None, text: str) -> str:
    """A stable document id for sources without one: a hash of the cleaned title and text."""
    payload = f"{title or ''}\x1f{text}".encode()
    return "h:" + hashlib.sha256(payload).hexdigest()[:32]


_BITS = np.arange(64, dtype=np.uint64)


def simhash(tokens: list[str], key: bytes = b"") -> int:
    """64-bit SimHash over words (Charikar 2002), keyed.

    The key (secret, up to 64 bytes) keeps senders from computing the hashes, so they
    cannot craft near-duplicates of a story they want suppressed.

    Words, not word pairs: on tweet-length texts one changed word flips a pair feature on
    each side of it too, which pushes true near-duplicates past a 3-bit threshold.
    """
    if not tokens:
        return 0
    digests = b"".join(
        hashlib.blake2b(feature.encode(), digest_size=8, key=key[:64]).digest()
        for feature in tokens
    )
    # Bit b of the result is set when more features have bit b set than clear (a vote
    # per bit); numpy counts the votes of all features at once (the push API's hot path).
    hashes = np.frombuffer(digests, dtype=">u8").astype(np.uint64)
    ones = ((hashes[:, None] >> _BITS) & np.uint64(1)).sum(axis=0)
    won = (2 * ones > len(tokens)).astype(np.uint64)
    return int((won << _BITS).sum())


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
