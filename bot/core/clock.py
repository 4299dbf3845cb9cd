"""Time as a dependency: the scheduler, the delivery engine and votes read the time and sleep
through a ``Clock``, so tests can run schedules at fixed instants without ever sleeping.

``SystemClock`` is the real one; ``OffsetClock`` is it shifted by a fixed offset. Tests use
``FakeClock`` (``tests/support/clock.py``), which only moves when the test moves it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Protocol

# A long sleep is cut into chunks so a wall-clock jump (NTP step, suspend/resume) is noticed.
MAX_CHUNK_SECONDS = 300.0


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        """Return at ``when`` (or at once if it has passed), or earlier as soon as ``wake`` is
        set. Never raises for a past ``when``."""


def aware_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("Clock needs timezone-aware datetimes")
    return when.astimezone(UTC)


async def _wait_event(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class SystemClock:
    """The real time. Sleeps re-read the wall clock at least every five minutes."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        when = aware_utc(when)
        while True:
            if wake is not None and wake.is_set():
                return
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            chunk = min(remaining, MAX_CHUNK_SECONDS)
            if wake is None:
                await asyncio.sleep(chunk)
            else:
                await _wait_event(wake, chunk)


class OffsetClock(SystemClock):
    """The system clock shifted by a fixed offset (``clock_offset`` in the config): lets a demo
    or an end-to-end test see a schedule fire without waiting for the real instant."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


__all__ = ["Clock", "OffsetClock", "SystemClock"]
