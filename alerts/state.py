"""Incident state in Redis, next to the namespace's series (same hash tag, same slot).

Per namespace: a cursor per rule (end of the last evaluated window), detector states per
(rule, series), open incidents, the alert log stream, and an outbox of notifications not
yet delivered. One evaluation pass commits all of them in a single MULTI guarded by WATCH
on the rule's cursor and detector states: a crash before the commit re-evaluates the same
windows to the same decisions; a crash after it finds the decisions and the outbox
committed, so the restarted service neither forgets an open incident nor pages it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import redis

from alerts.detector import DetectorState
from alerts.outbox import Outbox, OutboxEntry
from finsent import redis_keys
from finsent.schemas import Alert
from finsent.store.models import to_ms
from finsent.store.replies import as_str, transient_errors

# OutboxEntry lives in alerts.outbox; the engine builds entries through this module too.
__all__ = ["AlertStateStore", "Evaluate", "OutboxEntry", "Transition"]

LOG_MAXLEN = 100_000


@dataclass
class Transition:
    """What one evaluation pass of one rule decided, to be committed atomically."""

    cursor_ms: int
    states: dict[str, DetectorState] = field(default_factory=dict)
    changes: list[OutboxEntry] = field(default_factory=list)
    windows: int = 0


Evaluate = Callable[[int | None, dict[str, DetectorState]], Transition | None]


class AlertStateStore:
    """Reads and commits incident state for the alert engine.

    Args:
        client: the store's Redis.
        clock: wall clock; stamps when an outbox entry was queued.
    """

    def __init__(
        self, client: redis.Redis, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._r = client
        self.outbox_store = Outbox(client, clock)

    def transact(self, namespace: str, rule: str, evaluate: Evaluate) -> Transition | None:
        """Run `evaluate(cursor_ms, detector_states)` and commit what it returns.

        Returns None when there was nothing to do or another process committed first
        (its decisions are the same ones: evaluation is deterministic).
        """
        cursor_key = redis_keys.alert_cursor(namespace)
        detectors_key = redis_keys.alert_detectors(namespace, rule)
        with transient_errors(), self._r.pipeline() as pipe:
            try:
                pipe.watch(cursor_key, detectors_key)  # type: ignore[no-untyped-call]
                raw_cursor = pipe.hget(cursor_key, rule)
                states = {
                    as_str(k): DetectorState.from_json(v)
                    for k, v in pipe.hgetall(detectors_key).items()
                }
                transition = evaluate(int(raw_cursor) if raw_cursor else None, states)
                if transition is None:
                    return None
                pipe.multi()
                pipe.hset(cursor_key, rule, transition.cursor_ms)
                if transition.states:
                    pipe.hset(
                        detectors_key,
                        mapping={k: s.to_json() for k, s in transition.states.items()},
                    )
                self._queue_changes(pipe, namespace, transition.changes)
                pipe.execute()
            except redis.WatchError:
                return None
        return transition

    def _queue_changes(
        self, pipe: redis.client.Pipeline, namespace: str, changes: Sequence[OutboxEntry]
    ) -> None:
        for entry in changes:
            alert = entry.alert
            body = alert.model_dump_json()
            pipe.xadd(
                redis_keys.alert_log(namespace),
                {"alert": body},
                maxlen=LOG_MAXLEN,
                approximate=True,
            )
            if alert.state == "firing":
                pipe.hset(redis_keys.open_incidents(namespace), alert.incident_id, body)
            else:
                pipe.hdel(redis_keys.open_incidents(namespace), alert.incident_id)
        self.outbox_store.queue(pipe, namespace, changes)

    def outbox(self, namespace: str) -> list[OutboxEntry]:
        """Undelivered notifications, oldest decision first (see `alerts.outbox`)."""
        return self.outbox_store.entries(namespace)

    def cursor_ms(self, namespace: str, rule: str) -> int | None:
        """End of the last step the rule decided in the namespace (None before the first)."""
        with transient_errors():
            raw = self._r.hget(redis_keys.alert_cursor(namespace), rule)
        return int(raw) if raw is not None else None

    def open_incidents(self, namespace: str) -> list[Alert]:
        with transient_errors():
            raw = self._r.hvals(redis_keys.open_incidents(namespace))
        return sorted(
            (Alert.model_validate_json(v) for v in raw),
            key=lambda a: (a.window_start, a.incident_id),
        )

    def log(self, namespace: str, since: datetime | None = None, limit: int = 1000) -> list[Alert]:
        """State changes of a namespace logged at or after `since` (wall clock), oldest first."""
        start = f"{to_ms(since)}-0" if since is not None else "-"
        with transient_errors():
            rows = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                self._r.xrevrange(redis_keys.alert_log(namespace), "+", start, count=limit),
            )
        return [Alert.model_validate_json(fields[b"alert"]) for _, fields in reversed(rows)]
