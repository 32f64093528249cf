"""Deduplication across sources, workers and restarts, kept in Redis.

A document is a duplicate when, in its namespace:

1. its id was seen before, e.g. the same tweet filed under two tickers; or
2. its normalised content (`ingest.text.content_key`: no RT prefix, links, mentions, case,
   and no cashtags when enough words remain) was counted within `window` of event time,
   e.g. the same headline from five feeds, or a retweet storm; or
3. its 64-bit SimHash is within `max_distance` bits of one counted within `window`,
   e.g. a promotion re-posted with a different link or one changed word, or a bot's
   template re-posted with new numbers (words holding a digit are one feature).

All three checks and the writes run in one Lua script, so concurrent workers agree.
Windows are in event time, not wall time, so a replay at any speed decides the same way;
the Redis TTL only bounds memory.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import redis

from finsent import redis_keys
from finsent.errors import TransientError
from finsent.schemas import Document
from finsent.store.replies import transient_errors
from ingest.settings import IngestSettings
from ingest.text import content_tokens, near_dup_features, simhash, tokens_key

Verdict = Literal["new", "id", "content", "near", "pending"]
"""`pending`: another caller claimed this id and its produce is not settled yet."""

T = TypeVar("T")

_BANDS: Final = 4

_SCRIPT: Final = """
local ts = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local token = ARGV[10]
local pending_ttl = tonumber(ARGV[11])
local max_members = tonumber(ARGV[12])
-- The id key holds "<token>:<state>". A new document's claim is "pending" until Kafka
-- acknowledges it (CONFIRM) or it fails (RELEASE); it expires after pending_ttl if the
-- process dies in between. A retried call (same token) whose first attempt ran but whose
-- reply was lost gets its first verdict back, not "id".
local prev = redis.call('GET', KEYS[1])
if prev then
  local tok, verdict = string.match(prev, '^([^:]*):(.*)$')
  if tok == token then
    if verdict == 'pending' then return 'new' end
    return verdict
  end
  if verdict == 'pending' then return 'pending' end
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
    -- Bounded bands: members two windows behind this one can match nothing any more
    -- (out-of-order input has one window of slack), and a band never holds more than
    -- max_members (the oldest go first), so a flood of one band cannot slow every check.
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. (ts - 2 * window))
    local n = redis.call('ZCARD', KEYS[i])
    if n > max_members then redis.call('ZREMRANGEBYRANK', KEYS[i], 0, n - max_members - 1) end
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
redis.call('SET', KEYS[1], token .. ':pending', 'EX', math.min(pending_ttl, ttl))
return 'new'
"""

_CONFIRM: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] .. ':pending' then
  redis.call('SET', KEYS[1], ARGV[1] .. ':new', 'EX', tonumber(ARGV[2]))
end
return 1
"""

_RELEASE: Final = """
local prev = redis.call('GET', KEYS[1])
if prev ~= ARGV[1] .. ':pending' and prev ~= ARGV[1] .. ':new' then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], ARGV[2]) end
return 1
"""

_HASH_KEY: Final = f"{redis_keys.PREFIX}:ingest:simhash-key"
"""String: the random SimHash key every ingest worker shares when none is configured."""


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


class _Lua:
    """A Lua script queued by its SHA1 (EVALSHA), loaded only when Redis lacks it.

    redis-py's `Script` in a pipeline sends `SCRIPT EXISTS` before every `execute`: one
    more round trip per call, which doubled the Redis work of each pushed document.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def queue(self, pipe: Any, keys: Sequence[str | bytes], args: Sequence[Any]) -> None:
        pipe.evalsha(self.sha, len(keys), *keys, *args)


@dataclass(frozen=True)
class Claim:
    """What `Deduplicator.check` wrote for a new document: `confirm` or `release` it."""

    keys: tuple[str, ...]
    member: str
    token: str
    content_value: str


@dataclass(frozen=True)
class DedupeConfig:
    enabled: bool = True
    ttl_s: int = 7 * 86_400
    window_s: int = 86_400
    max_distance: int = 3
    min_tokens: int = 4
    pending_ttl_s: int = 300
    max_band_members: int = 2000
    hash_key: bytes | None = None
    """SimHash key; None: a random one shared through Redis by every worker."""

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> DedupeConfig:
        key = settings.dedupe_hash_key
        return cls(
            settings.dedupe_enabled,
            settings.dedupe_ttl_s,
            settings.dedupe_window_s,
            settings.near_dup_max_distance,
            settings.near_dup_min_tokens,
            settings.dedupe_pending_ttl_s,
            settings.near_dup_max_band_members,
            key.get_secret_value().encode() if key is not None else None,
        )


class Deduplicator:
    """Decides, atomically in Redis, whether a document was already counted.

    A new document's id claim is provisional until `confirm` (after Kafka acknowledged
    it) or `release` (it was not produced); meanwhile another caller's check of the same
    id answers `pending`, so a client's retry is never told "duplicate" about a document
    that may still fail.

    Args:
        client: a Redis client (bytes responses).
        config: windows and thresholds.

    A connection error or timeout is retried by the client itself (`RedisSettings.client`:
    redis-py's `Retry`); what is left after that is a `TransientError`.
    """

    def __init__(self, client: redis.Redis, config: DedupeConfig) -> None:
        self._client = client
        self._config = config
        self._script = _Lua(_SCRIPT)
        self._confirm = _Lua(_CONFIRM)
        self._release = _Lua(_RELEASE)
        self._hash_key: bytes | None = config.hash_key

    def check(self, doc: Document) -> tuple[Verdict, Claim | None]:
        """Claim `doc` if it is new; otherwise say which kind of duplicate it is."""
        return self.check_many([doc])[0]

    def check_many(self, docs: Sequence[Document]) -> list[tuple[Verdict, Claim | None]]:
        """`check` for each document, in order, in one round trip.

        Redis runs the scripts of one pipeline one after another, so a document sees the
        claims of those before it: the verdicts equal those of one call per document
        (an id repeated within the call is an `id` duplicate of its first occurrence).
        A retry after a lost reply reuses each call's token, so it cannot turn a
        document's own claim into an `id` duplicate.

        Raises:
            TransientError: Redis stayed unreachable through the retries.
        """
        if not self._config.enabled:
            return [("new", None)] * len(docs)
        if self._hash_key is None:
            self._hash_key = self._call(self._shared_key)
        first: dict[tuple[str, str], int] = {}
        calls: list[tuple[int, Claim, list[int | str]]] = []
        for i, doc in enumerate(docs):
            if first.setdefault((doc.namespace, doc.id), i) == i:
                calls.append((i, *self._prepare(doc)))

        def run() -> list[Any]:
            return self._execute(self._script, [(claim.keys, args) for _, claim, args in calls])

        out: list[tuple[Verdict, Claim | None]] = [("id", None)] * len(docs)
        for (i, claim, _), reply in zip(calls, self._call(run) if calls else [], strict=True):
            text = reply.decode() if isinstance(reply, bytes) else str(reply)
            if text == "new":
                out[i] = ("new", claim)
            elif text in ("id", "content", "near", "pending"):
                out[i] = (text, None)  # type: ignore[assignment]
            else:
                raise RuntimeError(f"dedupe script returned {text!r}")
        return out

    @property
    def key_id(self) -> str | None:
        """A fingerprint of the SimHash key that decided (never the key); None before the first
        check or with dedupe off.

        Near-duplicate verdicts on borderline pairs depend on the key: two installations
        with their own random keys count a few documents of the same history differently
        (docs/ingest.md). Reports carry this so two replays can be told apart; set
        `FINSENT_INGEST_DEDUPE_HASH_KEY` to the same secret to make them agree.
        """
        if self._hash_key is None:
            return None
        return hashlib.blake2b(self._hash_key, digest_size=6, person=b"finsent-key-id").hexdigest()

    def _shared_key(self) -> bytes:
        self._client.set(_HASH_KEY, secrets.token_hex(32), nx=True)
        key = self._client.get(_HASH_KEY)
        if not isinstance(key, bytes):
            raise TransientError("redis lost the SimHash key just after setting it")
        return key

    def _prepare(self, doc: Document) -> tuple[Claim, list[int | str]]:
        cfg = self._config
        ns = doc.namespace
        tokens = dedupe_tokens(doc)
        use_content = bool(tokens)
        use_near = cfg.max_distance > 0 and len(tokens) >= cfg.min_tokens
        sh = simhash(near_dup_features(tokens), self._hash_key or b"") if use_near else 0
        bands = [(sh >> (16 * i)) & 0xFFFF for i in range(_BANDS)]
        claim_keys = (
            redis_keys.ingest_seen_id(ns, doc.id),
            redis_keys.ingest_seen_content(ns, tokens_key(tokens)),
            *(redis_keys.ingest_simhash_band(ns, i, band) for i, band in enumerate(bands)),
        )
        member = f"{sh >> 32}:{sh & 0xFFFFFFFF}:{doc.id}"
        token = uuid.uuid4().hex
        ts = int(doc.published_at.timestamp() * 1000)
        args: list[int | str] = [
            ts,
            cfg.window_s * 1000,
            cfg.ttl_s,
            int(use_content),
            int(use_near),
            sh >> 32,
            sh & 0xFFFFFFFF,
            cfg.max_distance,
            member,
            token,
            cfg.pending_ttl_s,
            cfg.max_band_members,
        ]
        return Claim(claim_keys, member, token, str(ts)), args

    def confirm(self, claims: Sequence[Claim]) -> None:
        """Make claims final: their documents are on the topic."""
        if not claims:
            return

        def run() -> None:
            ttl = self._config.ttl_s
            self._execute(self._confirm, [([c.keys[0]], [c.token, ttl]) for c in claims])

        self._call(run)

    def release(self, claims: Sequence[Claim]) -> None:
        """Undo claims whose documents were not produced, so a retry is not a duplicate."""
        if not claims:
            return

        def run() -> None:
            self._execute(
                self._release,
                [(c.keys, [c.token, c.member, c.content_value]) for c in claims],
            )

        self._call(run)

    def _execute(
        self, script: _Lua, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]
    ) -> list[Any]:
        """Run one script for each (keys, args) in one pipeline; load it if Redis lacks it.

        After a Redis restart (or SCRIPT FLUSH) every EVALSHA of the pipeline answers
        NOSCRIPT, so none of them ran: loading the script and sending the same commands
        again is safe (the scripts are also idempotent for a call's token). A pipeline
        is emptied by `execute`, even one that failed, so the retry queues them anew.
        """
        for attempt in range(2):
            pipe = self._client.pipeline(transaction=False)
            for keys, args in calls:
                script.queue(pipe, keys, args)
            try:
                return list(pipe.execute())
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                self._client.script_load(script.source)
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        """Whether Redis answers now (no retries)."""
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def _call(self, fn: Callable[[], T]) -> T:
        """`fn`, with Redis unavailable or refusing (`transient_errors`) as `TransientError`."""
        with transient_errors():
            return fn()


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
