"""The one service clock: real time by default, or real time sped up for soaks and tests.

Event time decides windows; this clock decides everything the wall clock decides (paging
recency, future-dated input, `ingested_at`, latency metrics, loop intervals). Every
service builds it once from `FinsentSettings` (`FINSENT_CLOCK_SPEED`,
`FINSENT_CLOCK_EPOCH`) and passes it down, so a soak can run a day of live traffic in
minutes with every process agreeing on "now":

    now = epoch + speed * (real_now - epoch)

`epoch` is a real instant at which service time and real time coincide; after it, service
time runs `speed` times faster. Processes started at different moments with the same two
settings compute the same "now", which is why the epoch is an absolute time and not the
moment a process started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from finsent.errors import ConfigurationError


class Clock:
    """A callable `() -> datetime` (UTC), possibly accelerated.

    Args:
        speed: service seconds per real second (1 is real time).
        epoch: the real instant where service and real time agree; required unless
            `speed == 1`.
        real: the real clock in Unix seconds (injectable for tests).
    """

    def __init__(
        self,
        speed: float = 1.0,
        epoch: datetime | None = None,
        real: Callable[[], float] = time.time,
    ) -> None:
        if speed <= 0:
            raise ConfigurationError(f"clock speed must be positive, not {speed}")
        if speed != 1.0 and epoch is None:
            raise ConfigurationError(
                "an accelerated clock needs an epoch shared by every service: set "
                "FINSENT_CLOCK_EPOCH (ISO 8601) alongside FINSENT_CLOCK_SPEED"
            )
        if epoch is not None and epoch.tzinfo is None:
            raise ConfigurationError("FINSENT_CLOCK_EPOCH needs a timezone (e.g. ...Z)")
        self.speed = speed
        self.epoch = epoch
        self._real = real
        self._epoch_s = epoch.timestamp() if epoch is not None else 0.0

    @property
    def accelerated(self) -> bool:
        return self.speed != 1.0

    def now(self) -> datetime:
        """Service "now" (UTC)."""
        return datetime.fromtimestamp(self.now_s(), UTC)

    def __call__(self) -> datetime:
        return self.now()

    def now_s(self) -> float:
        """Service "now" in Unix seconds."""
        real = self._real()
        if not self.accelerated:
            return real
        return self._epoch_s + self.speed * (real - self._epoch_s)

    def at_real(self, real_s: float) -> datetime:
        """The service time that corresponded to real Unix time `real_s`."""
        if not self.accelerated:
            return datetime.fromtimestamp(real_s, UTC)
        return datetime.fromtimestamp(self._epoch_s + self.speed * (real_s - self._epoch_s), UTC)

    def real_seconds(self, service_s: float) -> float:
        """How many real seconds `service_s` of service time take (sleeps, intervals)."""
        return service_s / self.speed

    def real_delay_until(self, moment: datetime) -> float:
        """Real seconds until service time reaches `moment` (0 if it already has)."""
        return max(0.0, (moment - self.now()) / timedelta(seconds=1) / self.speed)

    def __repr__(self) -> str:
        if not self.accelerated:
            return "Clock(real time)"
        assert self.epoch is not None
        return f"Clock(speed={self.speed:g}, epoch={self.epoch.isoformat()})"


REAL_TIME = Clock()
"""The default: plain UTC wall clock."""
