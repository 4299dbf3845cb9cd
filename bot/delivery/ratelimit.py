"""Client-side rate limiting for one platform: stay under its limits instead of collecting 429s.

``RateLimiter.acquire(channel)`` returns when a request to ``channel`` may be sent:

* global: at most ``global_limit`` requests in any ``global_period`` seconds (Discord: 50 per
  second). Slots are handed out in arrival order and reserved ahead of time, so a thousand
  waiting senders go out back to back at the limit's pace instead of racing for each slot;
* per channel: at most ``channel_limit`` requests in any ``channel_period`` seconds (Discord:
  5 per 5 s; Slack: about 1 per second). A sender waits for its channel *before* taking a
  global slot, so one busy channel never holds up the others;
* ``penalize(...)`` honours a 429's ``retry_after``: for one channel, or for the whole
  platform when the 429 was global. Senders already holding a slot re-check it when they wake;
* ``sent(channel)``: the request that took the channel's latest slot has completed, so count
  it from now (the server saw it no later than that). A platform counts a request when it
  arrives, which can be well after its slot (a new connection, a slow network): a sender that
  goes one request at a time per channel and calls this stays under the limit whatever the
  latency, instead of relying on ``margin`` alone.

Both windows are sliding logs of send times (never more than N in any window, unlike a token
bucket whose burst can add to its rate). ``margin`` seconds are added to each window to absorb
jitter between our clock and the platform's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


class _Window:
    """The send times of the last ``limit`` requests (non-decreasing, some maybe in the
    future: reserved)."""

    __slots__ = ("limit", "log", "period", "until")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.log: deque[float] = deque(maxlen=limit)
        self.until = 0.0  # penalty: nothing before this instant

    def earliest(self, now: float) -> float:
        """The earliest instant >= now a new request may be sent at."""
        t = max(now, self.until)
        if self.log:
            t = max(t, self.log[-1])
            if len(self.log) == self.limit:
                t = max(t, self.log[0] + self.period)
        return t

    def take(self, at: float) -> None:
        self.log.append(at)


class RateLimiter:
    def __init__(
        self,
        *,
        global_limit: int | None = 50,
        global_period: float = 1.0,
        channel_limit: int | None = 5,
        channel_period: float = 5.0,
        margin: float = 0.0,
        time: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.margin = margin
        self._time = time or _loop_time
        self._sleep = sleep or asyncio.sleep
        self._global = (
            _Window(global_limit, global_period + margin) if global_limit else _Window(1, 0.0)
        )
        self._channel_limit = channel_limit
        self._channel_period = channel_period + margin
        self._channels: dict[str, _Window] = {}
        self.waited = 0.0  # total seconds senders spent waiting (a gauge for benchmarks)
        self.penalties = 0

    # --- presets ---------------------------------------------------------------------------------
    @classmethod
    def discord(cls, *, margin: float = 0.02) -> RateLimiter:
        """About 5 messages per 5 s per channel, 50 requests per second overall."""
        return cls(
            global_limit=50, global_period=1.0, channel_limit=5, channel_period=5.0, margin=margin
        )

    @classmethod
    def slack(cls, *, margin: float = 0.02) -> RateLimiter:
        """``chat.postMessage``: about 1 per second per channel; a workspace-wide limit that
        Slack does not publish (a conservative 20 per second here)."""
        return cls(
            global_limit=20, global_period=1.0, channel_limit=1, channel_period=1.0, margin=margin
        )

    @classmethod
    def for_platform(cls, platform: str) -> RateLimiter | None:
        """The preset for a known platform; None (no limit) for anything else."""
        if platform == "discord":
            return cls.discord()
        if platform == "slack":
            return cls.slack()
        return None

    # --- use -------------------------------------------------------------------------------------
    def _channel(self, channel: str) -> _Window | None:
        if self._channel_limit is None:
            return None
        w = self._channels.get(channel)
        if w is None:
            if len(self._channels) > 10_000:
                self._prune()
            w = self._channels[channel] = _Window(self._channel_limit, self._channel_period)
        return w

    def _prune(self) -> None:
        now = self._time()
        idle = [
            k
            for k, w in self._channels.items()
            if w.until <= now and (not w.log or w.log[-1] + w.period <= now)
        ]
        for k in idle:
            del self._channels[k]

    async def acquire(self, channel: str) -> None:
        """Wait until a request to ``channel`` may go, and count it."""
        while True:
            now = self._time()
            cw = self._channel(channel)
            ready = cw.earliest(now) if cw is not None else now
            if ready > now:
                # Wait for the channel first, without holding a global slot.
                await self._wait(ready - now)
                continue
            slot = self._global.earliest(now)
            self._global.take(slot)
            if cw is not None:
                cw.take(slot)
            if slot > now:
                await self._wait(slot - now)
            # A 429 may have arrived while we waited for the slot: honour it.
            now = self._time()
            if self._global.until > now or (cw is not None and cw.until > now):
                continue
            return

    def sent(self, channel: str) -> None:
        """The request holding ``channel``'s latest slot is done: count it from now."""
        w = self._channels.get(channel) if self._channel_limit is not None else None
        if w is not None and w.log:
            w.log[-1] = max(w.log[-1], self._time())

    def penalize(self, channel: str | None, retry_after: float, *, is_global: bool = False) -> None:
        """A 429 said: nothing more (to ``channel``, or anywhere when ``is_global``) for
        ``retry_after`` seconds."""
        self.penalties += 1
        until = self._time() + max(0.0, retry_after) + self.margin
        if is_global or channel is None:
            self._global.until = max(self._global.until, until)
            return
        w = self._channel(channel)
        if w is not None:
            w.until = max(w.until, until)
        else:  # no per-channel window configured: the pause has to be global
            self._global.until = max(self._global.until, until)

    async def _wait(self, seconds: float) -> None:
        self.waited += seconds
        await self._sleep(seconds)


class PlatformLimiters:
    """The limiter each platform's sends go through: one given ``RateLimiter`` for all, a mapping
    by platform name, or (None) each platform's preset (``RateLimiter.for_platform``)."""

    def __init__(self, limiter: RateLimiter | Mapping[str, RateLimiter] | None = None) -> None:
        self._arg = limiter
        self._by_platform: dict[str, RateLimiter | None] = {}

    def get(self, platform: str) -> RateLimiter | None:
        """The limiter for ``platform`` (None: not limited); the same one on every call."""
        arg = self._arg
        if isinstance(arg, RateLimiter):
            return arg
        if platform not in self._by_platform:
            self._by_platform[platform] = (
                arg.get(platform) if arg is not None else RateLimiter.for_platform(platform)
            )
        return self._by_platform[platform]


__all__ = ["PlatformLimiters", "RateLimiter"]
