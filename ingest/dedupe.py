"""Deduplication across sources, workers and restarts, kept in Redis.

A document is a duplicate when, in its namespace:

1. its id was seen before, e.g. the same tweet filed under two tickers; or
2. its normalised content (`ingest.text.content_key`: no RT prefix, links, mentions, case,
   and no cashtags when enough words remain) was counted within `window` of event time,
   e.g. the same headline from five feeds, or a retweet storm; or
3. its 64-bit SimHash is within `max_distance` bits of one counted within `window`,
   e.g. a promotion re-posted with a different link or one changed word.

All three checks and the writes run in one Lua script, so concurrent workers agree.
Windows are in event time, not wall time, so a replay at any speed decides the same way;
the Redis TTL only bounds memory.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import redis

from finsent import redis_keys
from finsent.errors import TransientError
from finsent.schemas import Document
from ingest.settings import IngestSettings
from ingest.text import content_tokens, simhash, tokens_key

Verdict = Literal["new", "id", "content", "near"]

_BANDS: Final = 4

_SCRIPT: Final = """
local ts = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local token = ARGV[10]
-- The id key holds "<token>:<verdict>": a retried call (same token) whose first attempt
-- ran but whose reply was lost gets its first verdict back, not "id".
local prev = redis.call('GET', KEYS[1])
if prev then
  local tok, verdict = string.match(prev, '^([^:]*):(.*)$')
  if tok == token then return verdict end
  return 'id'
end
local function decide(verdict)
  redis.call('SET', KEYS[1], token .. ':' .. verdict, 'EX', ttl)
  return verdict
end
local use_content = ARGV[4] == '1'
local use_near = ARGV[5] == '1'
if use_content then
  local seen = redis.call('GET', KEYS[2])
  if seen and math.abs(ts - tonumber(seen)) <= window then return decide('content') end
end
local hi = tonumber(ARGV[6])
local lo = tonumber(ARGV[7])
local maxd = tonumber(ARGV[8])
local function popcount(x)
  local c = 0
  for i = 0, 31 do
    if bit.band(bit.rshift(x, i), 1) == 1 then c = c + 1 end
  end
  return c
end
if use_near then
  for i = 3, 6 do
    local members = redis.call('ZRANGEBYSCORE', KEYS[i], ts - window, ts + window)
    for _, m in ipairs(members) do
      local mhi, mlo = string.match(m, '^(%d+):(%d+):')
      local d = popcount(bit.bxor(hi, tonumber(mhi))) + popcount(bit.bxor(lo, tonumber(mlo)))
      if d <= maxd then return decide('near') end
    end
  end
end
if use_content then redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl) end
if use_near then
  for i = 3, 6 do
    redis.call('ZADD', KEYS[i], ts, ARGV[9])
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
return decide('new')
"""


HEADLINE_MIN_WORDS: Final = 6
"""A headline this long identifies its story on its own: the same headline from five
feeds, each with its own summary, counts once. Shorter ones ("Market wrap") do not."""


def dedupe_tokens(doc: Document) -> list[str]:
    """The words whose equality (or near-equality) makes two documents duplicates."""
    if doc.title:
        headline = content_tokens(doc.title)
        if len(headline) >= HEADLINE_MIN_WORDS:
            return headline
        return content_tokens(f"{doc.title}\n{doc.text}")
    return content_tokens(doc.text)


@dataclass(frozen=True)
class Claim:
    """What `Deduplicator.check` wrote for a new document, so `release` can undo it."""

    keys: tuple[str, ...]
    member: str


@dataclass(frozen=True)
class DedupeConfig:
    enabled: bool = True
    ttl_s: int = 7 * 86_400
    window_s: int = 86_400
    max_distance: int = 3
    min_tokens: int = 4

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> DedupeConfig:
        return cls(
            settings.dedupe_enabled,
            settings.dedupe_ttl_s,
            settings.dedupe_window_s,
            settings.near_dup_max_distance,
            settings.near_dup_min_tokens,
        )


class Deduplicator:
    """Decides, atomically in Redis, whether a document was already counted.

    Args:
        client: a Redis client (bytes responses).
        config: windows and thresholds.
        retries: attempts on a connection error before raising `TransientError`.
    """

    def __init__(self, client: redis.Redis, config: DedupeConfig, retries: int = 3) -> None:
        self._client = client
        self._config = config
        self._retries = retries
        self._script: Any = client.register_script(_SCRIPT)

    def check(self, doc: Document) -> tuple[Verdict, Claim | None]:
        """Claim `doc` if it is new; otherwise say which kind of duplicate it is."""
        return self.check_many([doc])[0]

    def check_many(self, docs: Sequence[Document]) -> list[tuple[Verdict, Claim | None]]:
        """`check` for each document, in order, in one round trip.

        Redis runs the scripts of one pipeline one after another, so a document sees the
        claims of those before it: the verdicts equal those of one call per document.
        A retry after a lost reply reuses each call's token, so it cannot turn a
        document's own claim into an `id` duplicate.

        Raises:
            TransientError: Redis stayed unreachable through the retries.
        """
        if not self._config.enabled:
            return [("new", None)] * len(docs)
        calls = [self._prepare(doc) for doc in docs]

        def run() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for claim, args in calls:
                self._script(keys=list(claim.keys), args=args, client=pipe)
            return list(pipe.execute())

        out: list[tuple[Verdict, Claim | None]] = []
        for (claim, _), reply in zip(calls, self._call(run), strict=True):
            text = reply.decode() if isinstance(reply, bytes) else str(reply)
            if text == "new":
                out.append(("new", claim))
            elif text in ("id", "content", "near"):
                out.append((text, None))  # type: ignore[arg-type]
            else:
                raise RuntimeError(f"dedupe script returned {text!r}")
        return out

    def _prepare(self, doc: Document) -> tuple[Claim, list[int | str]]:
        cfg = self._config
        ns = doc.namespace
        tokens = dedupe_tokens(doc)
        use_content = bool(tokens)
        use_near = cfg.max_distance > 0 and len(tokens) >= cfg.min_tokens
        sh = simhash(tokens) if use_near else 0
        bands = [(sh >> (16 * i)) & 0xFFFF for i in range(_BANDS)]
        claim_keys = (
            redis_keys.ingest_seen_id(ns, doc.id),
            redis_keys.ingest_seen_content(ns, tokens_key(tokens)),
            *(redis_keys.ingest_simhash_band(ns, i, band) for i, band in enumerate(bands)),
        )
        member = f"{sh >> 32}:{sh & 0xFFFFFFFF}:{doc.id}"
        args: list[int | str] = [
            int(doc.published_at.timestamp() * 1000),
            cfg.window_s * 1000,
            cfg.ttl_s,
            int(use_content),
            int(use_near),
            sh >> 32,
            sh & 0xFFFFFFFF,
            cfg.max_distance,
            member,
            uuid.uuid4().hex,
        ]
        return Claim(claim_keys, member), args

    def release(self, claim: Claim) -> None:
        """Undo a claim whose document could not be produced, so a retry is not a duplicate."""
        id_key, content, *bands = claim.keys

        def undo() -> None:
            pipe = self._client.pipeline(transaction=False)
            pipe.delete(id_key, content)
            for band in bands:
                pipe.zrem(band, claim.member)
            pipe.execute()

        self._call(undo)

    def _call(self, fn: Any) -> Any:
        delay = 0.2
        for attempt in range(self._retries):
            try:
                return fn()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if attempt == self._retries - 1:
                    raise TransientError(f"redis unavailable: {type(exc).__name__}") from exc
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def drop_namespace_keys(client: redis.Redis, namespace: str) -> int:
    """Delete every ingest key of `namespace`; returns how many."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=redis_keys.ingest_pattern(namespace), count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(client.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted
