"""Reads alert state changes from a namespace's alert log (a Redis stream written by
`alerts`; each entry's field `alert` holds the `Alert` JSON)."""

from __future__ import annotations

import logging
from typing import Final, cast

import redis
from pydantic import ValidationError

from finsent import redis_keys
from finsent.schemas import Alert
from finsent.store.replies import transient_errors

log = logging.getLogger(__name__)

ALERT_FIELD: Final = b"alert"


class RedisAlertLog:
    """`AlertReader` over `redis_keys.alert_log(namespace)`, newest first."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def recent(self, namespace: str, limit: int) -> list[Alert]:
        """The newest `limit` alert state changes of one namespace."""
        with transient_errors():
            # decode_responses is off (finsent's client convention): ids and fields are bytes.
            rows = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                self._r.xrevrange(redis_keys.alert_log(namespace), "+", "-", count=limit),
            )
        alerts = (_parse(entry_id, fields) for entry_id, fields in rows)
        return [a for a in alerts if a is not None]


def _parse(entry_id: bytes, fields: dict[bytes, bytes]) -> Alert | None:
    raw = fields.get(ALERT_FIELD)
    if raw is None:
        return None
    try:
        return Alert.model_validate_json(raw)
    except ValidationError:
        # An entry this version cannot read: skip it rather than break the page.
        log.warning("unreadable alert log entry", extra={"entry_id": entry_id.decode()})
        return None
