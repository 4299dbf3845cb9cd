"""A clock for tests: time stands still until the test moves it; nothing ever waits for real
time. Implements ``bot.core.clock.Clock``."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.clock import aware_utc


class FakeClock:
    """A clock for tests: time stands still until ``advance``/``set`` moves it; sleepers whose
    instant has come are then resolved in order. Nothing ever waits for real time.

    With ``auto_advance=True`` a sleeper moves the clock forward to its own instant and returns
    at once (useful for back-offs inside code under test).
    """

    def __init__(self, start: datetime | None = None, *, auto_advance: bool = False) -> None:
        self._now = aware_utc(start) if start is not None else datetime(2025, 1, 6, 9, tzinfo=UTC)
        self.auto_advance = auto_advance
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None], asyncio.Event | None]] = []
        self._seq = itertools.count()
        self._changed: asyncio.Event | None = None
        self.sleep_calls: list[datetime] = []  # every instant anyone asked to sleep until

    def now(self) -> datetime:
        return self._now

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        when = aware_utc(when)
        self.sleep_calls.append(when)
        if when <= self._now or (wake is not None and wake.is_set()):
            await asyncio.sleep(0)
            return
        if self.auto_advance:
            self._now = when
            self._release()
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (when, next(self._seq), fut, wake)
        heapq.heappush(self._sleepers, entry)
        self._notify()
        waiters: list[asyncio.Future[Any]] = [fut]
        wake_task: asyncio.Task[Any] | None = None
        if wake is not None:
            wake_task = asyncio.ensure_future(wake.wait())
            waiters.append(wake_task)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if wake_task is not None and not wake_task.done():
                wake_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await wake_task
            if not fut.done():
                fut.cancel()
            self._sleepers = [s for s in self._sleepers if s[2] is not fut]
            heapq.heapify(self._sleepers)
            self._notify()

    def _release(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut, _ = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def set(self, when: datetime) -> None:
        """Move to ``when`` (never backwards) and let the woken sleepers run."""
        when = aware_utc(when)
        if when < self._now:
            raise ValueError(f"FakeClock cannot go back from {self._now} to {when}")
        self._now = when
        self._release()
        for _ in range(5):
            await asyncio.sleep(0)

    async def advance(self, delta: timedelta | float) -> None:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        await self.set(self._now + delta)

    @property
    def sleepers(self) -> list[datetime]:
        """Instants that pending sleepers wait for, earliest first (a sleeper whose wake event
        is set is already on its way out)."""
        return sorted(
            s[0] for s in self._sleepers if not s[2].done() and not (s[3] and s[3].is_set())
        )

    async def wait_for_sleepers(self, count: int = 1, *, within: float = 5.0) -> None:
        """Wait until at least ``count`` tasks are asleep on this clock: the code under test has
        finished reacting. ``within`` (real seconds) only bounds a hang, it is never slept."""
        async with asyncio.timeout(within):
            while len(self.sleepers) < count:
                self._changed = asyncio.Event()
                await self._changed.wait()
