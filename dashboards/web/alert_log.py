"""Reads alert state changes from the alert log (a Redis stream written by `alerts`)."""

from __future__ import annotations

import logging
from typing import Final, cast

import redis
from pydantic import ValidationError

from finsent import redis_keys
from finsent.schemas import Alert
from finsent.store.base import transient_errors

log = logging.getLogger(__name__)

ALERT_FIELD: Final = b"alert"
"""Stream entry field holding the alert JSON (as the alerts service writes it)."""
PAGE: Final = 500
MAX_SCANNED: Final = 20_000
"""The log spans all namespaces; stop scanning back after this many entries."""


class RedisAlertLog:
    """`AlertReader` over the `finsent:alerts:log` stream, newest first."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def recent(self, namespace: str, limit: int) -> list[Alert]:
        """The newest `limit` alert state changes of one namespace."""
        found: list[Alert] = []
        upper: bytes = b"+"
        scanned = 0
        with transient_errors():
            while len(found) < limit and scanned < MAX_SCANNED:
                raw = self._r.xrevrange(redis_keys.ALERT_LOG, max=upper, min="-", count=PAGE)
                # decode_responses is off (finsent's client convention): ids and fields are bytes.
                entries = cast(list[tuple[bytes, dict[bytes, bytes]]], raw or [])
                if not entries:
                    break
                for entry_id, fields in entries:
                    alert = _parse(entry_id, fields)
                    if alert is not None and alert.namespace == namespace:
                        found.append(alert)
                scanned += len(entries)
                if len(entries) < PAGE:
                    break
                upper = b"(" + entries[-1][0]
        return found[:limit]


def _parse(entry_id: bytes, fields: dict[bytes, bytes]) -> Alert | None:
    raw = fields.get(ALERT_FIELD)
    if raw is None:
        return None
    try:
        return Alert.model_validate_json(raw)
    except ValidationError:
        # A newer, incompatible entry: skip it rather than break the page.
        log.warning("unreadable alert log entry", extra={"entry_id": entry_id.decode()})
        return None
