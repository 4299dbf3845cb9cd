"""Running the whole bot in tests and watching its background work: ``running`` (an ``App`` on
a ``FakeClock``, started, its start-up backfill done) and ``fire_at`` (a cron instant, and the
fire it causes), the votes the app applied (``VoteLog``), polling for a condition a fake hears
nothing of (``until``), time that passes only when slept (``SleepTime``), and core handlers for
adapters whose commands a test never uses (``NoCommands``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest

from bot.app import App
from bot.config.settings import Settings
from bot.core.messages import ChannelRef, Invocation, ReactionEvent, Reply
from support.clock import FakeClock


@asynccontextmanager
async def running(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    app = App(settings, clock=clock)
    try:
        await app.start()
        # The scheduler has planned the subscriptions and sleeps until the next instant.
        await clock.wait_for_sleepers(1)
        # Votes cast while the bot was away have been read back.
        assert app.backfill is not None
        await app.backfill.wait()
        yield app
    finally:
        await app.stop()


async def fire_at(app: App, clock: FakeClock, when: datetime) -> None:
    """Move the clock to a cron instant and wait until the fire it causes has finished."""
    assert app.scheduler is not None
    await clock.set(when)
    await clock.wait_for_sleepers(1)  # the loop planned the fire and went back to sleep
    await app.scheduler.drain()


class VoteLog:
    """Wraps the App's VoteService to see each reaction the adapter hands over, and its result."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        assert app.votes is not None
        self.seen: list[tuple[ReactionEvent, bool]] = []
        real = app.votes.on_reaction

        async def on_reaction(ev: ReactionEvent) -> bool:
            changed = await real(ev)
            self.seen.append((ev, changed))
            return changed

        monkeypatch.setattr(app.votes, "on_reaction", on_reaction)

    async def wait(self, count: int) -> None:
        """Until ``count`` reactions have been handled (the adapter does that work after the
        ack, and the fake hears nothing of it: poll, a few ms at a time, bounded)."""
        await until(lambda: len(self.seen) >= count, timeout=5)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll background work a fake hears nothing of, a few ms at a time, for at most
    ``timeout`` seconds (a bound on a hang, not a schedule)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class SleepTime:
    """Time for a ``RateLimiter`` (or anything taking ``time`` and ``sleep``) that passes only
    when someone sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class NoCommands:
    """A ``CommandHandler`` and ``ReactionHandler`` for an adapter whose commands and votes are
    not what is being measured or tested."""

    async def handle(self, inv: Invocation) -> Reply:
        raise AssertionError("no commands expected here")

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return []

    async def share(self, channel: ChannelRef, share_id: str) -> Reply:
        raise AssertionError("no commands expected here")

    async def shared(self, channel: ChannelRef, message_id: str, reply: Any) -> None:
        return None

    async def on_reaction(self, ev: ReactionEvent) -> bool:
        return False
