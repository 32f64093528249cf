"""Every service stops the same way: SIGINT and SIGTERM set one event, handlers restored."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from finsent.lifecycle import stop_on_signals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_sets_the_stop_event_and_the_old_handler_comes_back(
    signum: signal.Signals, caplog: pytest.LogCaptureFixture
) -> None:
    before = signal.getsignal(signum)
    stop = threading.Event()
    with caplog.at_level("INFO", logger="finsent.lifecycle"), stop_on_signals(stop):
        os.kill(os.getpid(), signum)
        assert stop.wait(5)
    assert signal.getsignal(signum) is before
    assert [r.getMessage() for r in caplog.records] == ["stopping on signal"]
