"""How every finsent service stops: SIGINT and SIGTERM set one `threading.Event`.

The service finishes what it holds (the scorer its in-flight batch, the alert engine its
pass, the RSS poller its fetches) and exits 0. One place, so `docker stop`, Ctrl-C and
Kubernetes' SIGTERM mean the same to every service, and each logs the same line.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Within the block, SIGINT/SIGTERM set `stop` (logged once per signal); the previous
    handlers come back afterwards. Call it on the main thread, as `signal` requires."""

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("stopping on signal", extra={"signal": signal.Signals(signum).name})
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
