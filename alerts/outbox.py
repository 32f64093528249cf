"""The outbox in Redis: pages still to deliver, per-channel delivered markers, the lease.

Keys (all under the namespace's hash tag, see finsent/redis_keys.py):

- `alerts:outbox` hash, `<incident>|<state>` -> `OutboxEntry`: written in the same
  `MULTI` as the decision (alerts/state.py), removed once every channel has a marker.
- `alerts:delivered:<incident>|<state>` hash, channel -> ms: written the moment a channel
  acknowledges, one `HSET` per channel, so a restart (or another replica) after that
  instant skips the channel even though the outbox entry still names it. Expires after
  the retention plus a day.
- `alerts:delivery_lock` string: the lease of the one process delivering the namespace;
  renewed (compare-and-extend) before every send attempt.
- `alerts:resent` hash, `<incident>|<channel>` -> ms of the last send of an open incident
  to a channel that wants active alerts repeated (Alertmanager).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis
from pydantic import AwareDatetime, BaseModel, ConfigDict

from finsent import redis_keys
from finsent.schemas import Alert
from finsent.store.models import to_ms
from finsent.store.replies import as_str, transient_errors

MARKER_SLACK_S = 86_400
"""Markers outlive the retention by this much, so no late pass can miss one."""


class OutboxEntry(BaseModel):
    """A committed state change and the channels it must reach.

    `pending` is fixed when the decision is committed; which channels have acknowledged
    it is kept in the delivered markers, not here, so acknowledging is one atomic `HSET`.
    """

    model_config = ConfigDict(frozen=True)

    alert: Alert
    pending: tuple[str, ...]
    queued_at: AwareDatetime | None = None
    """Wall clock when the decision was committed (None in entries from older versions)."""

    @property
    def field(self) -> str:
        return outbox_field(self.alert)


def outbox_field(alert: Alert) -> str:
    return f"{alert.incident_id}|{alert.state}"


@dataclass(frozen=True)
class Lease:
    """The delivery lease of one namespace, held under a random token."""

    key: str
    token: bytes
    ttl_ms: int


# KEYS[1]: the lease key; ARGV[1]: our token; ARGV[2]: the TTL in ms.
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Outbox:
    """Redis operations of the outbox; `clock` is the wall clock that stamps `queued_at`."""

    def __init__(self, client: redis.Redis, clock: Callable[[], datetime]) -> None:
        self._r, self._clock = client, clock
        # Compare-and-act in one script: WATCH would fail whenever a sibling channel
        # thread of the same pass renewed the key a moment earlier.
        self._renew = client.register_script(_RENEW_LUA)
        self._release = client.register_script(_RELEASE_LUA)

    def queue(
        self, pipe: redis.client.Pipeline, namespace: str, entries: Iterable[OutboxEntry]
    ) -> None:
        """Queue entries with pending channels into an open `MULTI` (the decision's)."""
        now = self._clock()
        for entry in entries:
            if entry.pending:
                stamped = entry.model_copy(update={"queued_at": entry.queued_at or now})
                pipe.hset(
                    redis_keys.alert_outbox(namespace), entry.field, stamped.model_dump_json()
                )

    def entries(self, namespace: str) -> list[OutboxEntry]:
        """Undelivered notifications, oldest decision first, firing before resolved."""
        with transient_errors():
            raw = self._r.hvals(redis_keys.alert_outbox(namespace))
        entries = [OutboxEntry.model_validate_json(v) for v in raw]
        order = {"firing": 0, "resolved": 1}
        entries.sort(
            key=lambda e: (e.alert.evaluated_at, e.alert.window_end, order[e.alert.state], e.field)
        )
        return entries

    def delivered(self, namespace: str, entries: Sequence[OutboxEntry]) -> dict[str, set[str]]:
        """Entry field -> channels with a delivered marker."""
        with transient_errors(), self._r.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.hkeys(redis_keys.alert_delivered(namespace, entry.field))
            rows = pipe.execute()
        return {e.field: {as_str(c) for c in row} for e, row in zip(entries, rows, strict=True)}

    def is_delivered(self, namespace: str, entry: OutboxEntry, channel: str) -> bool:
        with transient_errors():
            return bool(
                self._r.hexists(redis_keys.alert_delivered(namespace, entry.field), channel)
            )

    def mark(
        self,
        namespace: str,
        entry: OutboxEntry,
        channel: str,
        at: datetime,
        retention_s: float,
        resent: bool,
    ) -> None:
        """Record that `channel` acknowledged `entry` (and, for a repeating channel, when)."""
        key = redis_keys.alert_delivered(namespace, entry.field)
        with transient_errors(), self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, channel, to_ms(at))
            pipe.expire(key, int(retention_s) + MARKER_SLACK_S)
            if resent:
                pipe.hset(
                    redis_keys.alert_resent(namespace),
                    f"{entry.alert.incident_id}|{channel}",
                    to_ms(at),
                )
            pipe.execute()

    def remove(self, namespace: str, entry: OutboxEntry) -> None:
        """Drop a finished (or expired) entry; its markers stay until they expire."""
        with transient_errors():
            self._r.hdel(redis_keys.alert_outbox(namespace), entry.field)

    # -- repeating channels ---------------------------------------------------------------

    def resent(self, namespace: str) -> dict[str, int]:
        """`<incident>|<channel>` -> ms of the last send."""
        with transient_errors():
            raw = self._r.hgetall(redis_keys.alert_resent(namespace))
        return {as_str(k): int(v) for k, v in raw.items()}

    def set_resent(self, namespace: str, incident_id: str, channel: str, at: datetime) -> None:
        with transient_errors():
            self._r.hset(redis_keys.alert_resent(namespace), f"{incident_id}|{channel}", to_ms(at))

    def forget_resent(self, namespace: str, fields: Sequence[str]) -> None:
        if fields:
            with transient_errors():
                self._r.hdel(redis_keys.alert_resent(namespace), *fields)

    # -- the lease --------------------------------------------------------------------------

    def acquire(self, namespace: str, ttl_s: float) -> Lease | None:
        """The namespace's delivery lease, or None while another process holds it."""
        lease = Lease(
            redis_keys.alert_delivery_lock(namespace), uuid.uuid4().hex.encode(), int(ttl_s * 1000)
        )
        with transient_errors():
            held = self._r.set(lease.key, lease.token, nx=True, px=lease.ttl_ms)
        return lease if held else None

    def renew(self, lease: Lease) -> bool:
        """Extend the lease to a full TTL if it is still ours (compare-and-extend)."""
        with transient_errors():
            return bool(self._renew(keys=[lease.key], args=[lease.token, lease.ttl_ms]))

    def release(self, lease: Lease) -> None:
        """Give the lease back if it is still ours (it may have expired and been taken)."""
        with transient_errors():
            self._release(keys=[lease.key], args=[lease.token])
