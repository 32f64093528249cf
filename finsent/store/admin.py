"""Keeping a namespace's size in bounds (retention) and dropping a namespace."""

from __future__ import annotations

import logging
import time

from finsent import redis_keys
from finsent.store.models import HOUR_MS, StoreOptions
from finsent.store.reads import SeriesReads
from finsent.store.replies import transient_errors

log = logging.getLogger(__name__)


class NamespaceAdmin(SeriesReads):
    """Retention behind the watermark, and dropping a whole namespace (a replay)."""

    options: StoreOptions
    _trimmed_at: dict[str, tuple[int, float]]

    def _trim_series(self, namespace: str, watermark_ms: int) -> int:
        """Backend-specific retention; returns keys removed."""
        return 0

    def _maybe_trim(self, namespace: str) -> None:
        if not self.options.trims(namespace):
            return
        wm = self.watermark_ms(namespace)
        if wm is None:
            return
        last = self._trimmed_at.get(namespace)
        if last is None:
            self.trim(namespace)
            return
        last_wm, last_at = last
        moved = wm - last_wm >= self.options.trim_every_s * 1000
        if moved and time.monotonic() - last_at >= self.options.trim_min_interval_s:
            self.trim(namespace)

    def trim(self, namespace: str) -> int:
        """Drop data older than retention behind the namespace watermark; returns keys removed.

        A no-op for namespaces that keep their history (`StoreOptions.keep_replays`). Safe
        while writers run: the write script never writes below the horizons this removes,
        and the watermark never moves back.
        """
        if not self.options.trims(namespace):
            return 0
        with transient_errors():
            wm = self.watermark_ms(namespace)
            if wm is None:
                return 0
            removed = 0
            index = redis_keys.evidence_index(namespace)
            old = self._r.zrangebyscore(
                index, "-inf", wm - self.options.evidence_retention_ms - HOUR_MS
            )
            if old:
                removed += int(self._r.unlink(*old))
                self._r.zrem(index, *old)
            removed += self._trim_series(namespace, wm)
            self._trimmed_at[namespace] = (wm, time.monotonic())
            return removed

    def drop_namespace(self, namespace: str) -> int:
        """Delete every key of a namespace (a replay); returns how many were removed."""
        removed = 0
        with transient_errors():
            self._r.srem(redis_keys.NAMESPACES, namespace)
            batch: list[bytes] = []
            for key in self._r.scan_iter(match=redis_keys.namespace_pattern(namespace), count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    removed += int(self._r.unlink(*batch))
                    batch.clear()
            if batch:
                removed += int(self._r.unlink(*batch))
        self._trimmed_at.pop(namespace, None)
        log.info("namespace dropped", extra={"namespace": namespace, "keys": removed})
        return removed
