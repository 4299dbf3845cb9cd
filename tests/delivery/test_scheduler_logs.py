"""What the scheduler logs about timing: an on-time fire (the loop wakes a moment after the
instant) is not "late"; a catch-up after downtime is."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from support.clock import FakeClock

from bot.core.messages import ChannelRef
from bot.delivery.outcome import Outcome
from bot.delivery.scheduler import Scheduler
from bot.storage import Store
from bot.storage.records import Subscription

MONDAY_9 = datetime(2025, 6, 30, 9, tzinfo=UTC)


class Engine:
    def __init__(self) -> None:
        self.fired: list[datetime] = []

    async def fire(self, subs: Sequence[Subscription], fire_time: datetime) -> list[Outcome]:
        self.fired.append(fire_time)
        return []

    async def reconcile_pending(self) -> list[Outcome]:
        return []


async def subscribe(store: Store) -> None:
    ch = ChannelRef("fake", "w", "c1")
    last = MONDAY_9 - timedelta(days=7)
    await store.upsert_subscription(Subscription(ch, "0 9 * * MON", "UTC", last_fire_at=last))


def late_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "late" in r.getMessage()]


@pytest.mark.parametrize("woke", [timedelta(0), timedelta(milliseconds=350), timedelta(seconds=5)])
async def test_an_on_time_fire_is_not_logged_late(
    store: Store, caplog: pytest.LogCaptureFixture, woke: timedelta
) -> None:
    await subscribe(store)
    clock, engine = FakeClock(MONDAY_9 - timedelta(hours=1)), Engine()
    sched = Scheduler(store, engine, clock, refresh=None)
    with caplog.at_level(logging.INFO, logger="paperboy.scheduler"):
        task = asyncio.create_task(sched.run())
        await clock.wait_for_sleepers(1)
        await clock.set(MONDAY_9 + woke)
        await clock.wait_for_sleepers(1)
        await sched.drain()
        await sched.stop()
        await asyncio.wait_for(task, 5)
    assert engine.fired == [MONDAY_9]
    assert late_logs(caplog) == []


async def test_a_catch_up_after_downtime_is_logged_late(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await subscribe(store)
    clock, engine = FakeClock(MONDAY_9 + timedelta(hours=3)), Engine()
    sched = Scheduler(store, engine, clock, grace=timedelta(hours=12), refresh=None)
    with caplog.at_level(logging.INFO, logger="paperboy.scheduler"):
        task = asyncio.create_task(sched.run())
        await clock.wait_for_sleepers(1)
        await sched.drain()
        await sched.stop()
        await asyncio.wait_for(task, 5)
    assert engine.fired == [MONDAY_9]
    assert late_logs(caplog) == ["firing late (catch-up within grace)"]
