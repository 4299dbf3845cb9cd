"""The scheduler: next_fire at fixed instants (DST, year boundary), and the loop on a FakeClock
(never sleeping): fires on time, catches up within grace, skips beyond it, wakes on change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from support.clock import FakeClock

from bot.core.messages import ChannelRef
from bot.delivery.leadership import Leadership
from bot.delivery.outcome import Outcome
from bot.delivery.scheduler import Scheduler, next_fire, prev_fire
from bot.storage import Store
from bot.storage.records import Subscription

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def fires(cron: str, tz: str, start: datetime, until: datetime) -> list[datetime]:
    out, t = [], start
    while True:
        t = next_fire(cron, tz, t)
        if t > until:
            return out
        out.append(t)


# --- next_fire ------------------------------------------------------------------------------------


def test_weekly_across_year_boundary() -> None:
    after = utc(2025, 12, 29, 9, 0)  # a Monday 09:00 exactly: strictly after means next week
    assert next_fire("0 9 * * MON", "UTC", after) == utc(2026, 1, 5, 9, 0)
    assert next_fire("0 9 * * MON", "UTC", after - timedelta(microseconds=1)) == after
    assert next_fire("0 9 * * MON", "UTC", utc(2025, 12, 24, 12)) == utc(2025, 12, 29, 9)


def test_next_fire_is_strictly_after_and_utc() -> None:
    t = next_fire("*/15 * * * *", "Asia/Tokyo", utc(2025, 6, 1, 0, 0))
    assert t == utc(2025, 6, 1, 0, 15)
    assert t.tzinfo == UTC
    local = next_fire("0 9 * * *", "Asia/Tokyo", utc(2025, 6, 1, 0, 0))
    assert local.astimezone(ZoneInfo("Asia/Tokyo")).hour == 9
    with pytest.raises(ValueError):
        next_fire("0 9 * * *", "UTC", datetime(2025, 6, 1))  # naive


def test_new_york_spring_forward_gap_fires_once_at_transition() -> None:
    # 2025-03-09: 02:00 EST jumps to 03:00 EDT, 02:30 does not exist that day.
    got = fires("30 2 * * *", "America/New_York", utc(2025, 3, 8, 12), utc(2025, 3, 11, 12))
    local = [t.astimezone(NY) for t in got]
    assert [(d.day, d.hour, d.minute) for d in local] == [(9, 3, 0), (10, 2, 30), (11, 2, 30)]
    assert got[0] == utc(2025, 3, 9, 7, 0)  # exactly the transition instant
    # An hourly job has no run in the missing hour.
    hourly = fires("30 * * * *", "America/New_York", utc(2025, 3, 9, 5), utc(2025, 3, 9, 9))
    assert [t.astimezone(NY).hour for t in hourly] == [0, 1, 3, 4]


def test_new_york_fall_back_overlap_fires_once() -> None:
    # 2025-11-02: 02:00 EDT goes back to 01:00 EST, 01:30 happens twice.
    got = fires("30 1 * * *", "America/New_York", utc(2025, 11, 1, 12), utc(2025, 11, 4, 12))
    assert got == [utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30), utc(2025, 11, 4, 6, 30)]
    # From inside the overlap (after the first 01:30, before the second) it is next day's.
    assert next_fire("30 1 * * *", "America/New_York", utc(2025, 11, 2, 6, 0)) == utc(
        2025, 11, 3, 6, 30
    )
    # The daily 02:30 job is unaffected (02:30 happens once, in EST).
    assert next_fire("30 2 * * *", "America/New_York", utc(2025, 11, 2, 5)) == utc(
        2025, 11, 2, 7, 30
    )
    hourly = fires("0 * * * *", "America/New_York", utc(2025, 11, 2, 4, 30), utc(2025, 11, 2, 8))
    assert [t.astimezone(NY).strftime("%H%z") for t in hourly] == [
        "01-0400",  # the first 01:00; the repeated one is not fired again
        "02-0500",
        "03-0500",
    ]


def test_london_transitions() -> None:
    # 2025-03-30 01:00 GMT -> 02:00 BST; 2025-10-26 02:00 BST -> 01:00 GMT.
    spring = fires("30 1 * * *", "Europe/London", utc(2025, 3, 29, 12), utc(2025, 3, 31, 12))
    assert spring == [utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)]
    autumn = fires("30 1 * * *", "Europe/London", utc(2025, 10, 25, 12), utc(2025, 10, 27, 12))
    assert autumn == [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)]
    weekly = fires("0 9 * * MON", "Europe/London", utc(2025, 3, 20), utc(2025, 4, 1))
    assert [t.astimezone(LONDON).hour for t in weekly] == [9, 9]
    assert weekly == [utc(2025, 3, 24, 9), utc(2025, 3, 31, 8)]


def test_prev_fire_agrees_with_next_fire() -> None:
    at = utc(2025, 11, 2, 6, 45)  # 01:45 EST, in the repeated hour
    p = prev_fire("30 1 * * *", "America/New_York", at)
    assert p == utc(2025, 11, 2, 5, 30)  # the first 01:30, not the repeat
    assert prev_fire("0 9 * * MON", "UTC", utc(2026, 1, 5, 9)) == utc(2026, 1, 5, 9)
    assert prev_fire("0 9 * * MON", "UTC", utc(2026, 1, 5, 8, 59)) == utc(2025, 12, 29, 9)


# --- the loop ---------------------------------------------------------------------------------------


class FakeEngine:
    """Records its fires; every delivery succeeds, so nothing is left to reconcile."""

    def __init__(self) -> None:
        self.fired: list[tuple[datetime, list[int]]] = []
        self.fail_next = False
        self.block: asyncio.Event | None = None
        self.entered = asyncio.Event()  # a fire has started
        self.flushes = 0
        self.reconciles = 0
        self.lose_lead: Store | None = None  # another process takes the lease during a fire

    async def fire(self, subs: Sequence[Subscription], fire_time: datetime) -> list[Outcome]:
        self.entered.set()
        if self.block is not None:
            await self.block.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("boom")
        self.fired.append((fire_time, sorted(s.id or 0 for s in subs)))
        if self.lose_lead is not None:
            await self.lose_lead.acquire_lease("scheduler", "intruder", 30.0, steal=True)
            return [Outcome(s.channel, None, "standby") for s in subs]
        return []

    async def reconcile_pending(self) -> list[Outcome]:
        self.reconciles += 1
        return []

    async def flush(self) -> None:
        self.flushes += 1


# Most tests watch the loop sleep straight to the next fire: no lease renewals in between.
NO_POLL = timedelta(days=3650)


def channel(n: int) -> ChannelRef:
    return ChannelRef("fake", "w", f"c{n}")


async def add(
    store: Store, n: int, cron: str, tz: str = "UTC", last: datetime | None = None
) -> int:
    sub = await store.upsert_subscription(Subscription(channel(n), cron, tz, last_fire_at=last))
    assert sub.id is not None
    return sub.id


@pytest.fixture
async def loop_parts(store: Store) -> AsyncIterator[tuple[Store, FakeClock, FakeEngine]]:
    yield store, FakeClock(utc(2025, 6, 30, 8, 0)), FakeEngine()  # a Monday


async def start(sched: Scheduler, clock: FakeClock) -> asyncio.Task[None]:
    """Run the loop as the app does: after taking the lead (and settling what was pending)."""
    await sched.leadership.acquire()
    task = asyncio.create_task(sched.run())
    await clock.wait_for_sleepers(1)
    return task


async def step(sched: Scheduler, clock: FakeClock, to: datetime) -> None:
    """Move the clock, then wait until the scheduler has reacted and is asleep again."""
    await clock.set(to)
    await clock.wait_for_sleepers(1)
    await sched.drain()
    await clock.wait_for_sleepers(1)


async def finish(sched: Scheduler, task: asyncio.Task[None]) -> None:
    await sched.stop()
    await asyncio.wait_for(task, 5)


async def test_fires_at_the_instant_without_polling(loop_parts) -> None:
    store, clock, engine = loop_parts
    sid = await add(store, 1, "0 9 * * MON", last=utc(2025, 6, 23, 9))
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None)
    task = await start(sched, clock)
    assert clock.sleepers == [utc(2025, 6, 30, 9)]  # one sleep, straight to the due instant
    await step(sched, clock, utc(2025, 6, 30, 9))
    assert engine.fired == [(utc(2025, 6, 30, 9), [sid])]
    sub = await store.get_subscription_by_id(sid)
    assert sub is not None and sub.last_fire_at == utc(2025, 6, 30, 9)
    assert clock.sleepers == [utc(2025, 7, 7, 9)]
    assert len(clock.sleep_calls) <= 4  # no minute-by-minute polling
    await finish(sched, task)


async def test_refresh_caps_a_long_sleep(loop_parts) -> None:
    store, clock, engine = loop_parts
    await add(store, 1, "0 9 * * MON", last=utc(2025, 6, 30, 9))
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=timedelta(hours=1))
    task = await start(sched, clock)
    assert clock.sleepers == [utc(2025, 6, 30, 9)]  # within the hour: no cap needed
    await step(sched, clock, utc(2025, 6, 30, 9, 0, 1))
    assert clock.sleepers == [utc(2025, 6, 30, 10, 0, 1)]
    assert engine.fired == []
    await finish(sched, task)


async def test_new_subscription_starts_from_now_and_wake_recomputes(loop_parts) -> None:
    store, clock, engine = loop_parts
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None)
    task = await start(sched, clock)
    assert clock.sleepers[0] > utc(2030, 1, 1)  # nothing scheduled: asleep until woken
    sid = await add(store, 2, "30 8 * * *")  # today 08:30, 30 minutes from now
    sched.wake()
    await clock.wait_for_sleepers(1)
    assert clock.sleepers == [utc(2025, 6, 30, 8, 30)]
    await step(sched, clock, utc(2025, 6, 30, 8, 30))
    assert engine.fired == [(utc(2025, 6, 30, 8, 30), [sid])]
    await finish(sched, task)


async def test_catch_up_within_grace_fires_at_start(loop_parts) -> None:
    store, clock, engine = loop_parts
    await clock.set(utc(2025, 6, 30, 15))  # six hours after Monday 09:00
    sid = await add(store, 1, "0 9 * * MON", last=utc(2025, 6, 23, 9))
    other = await add(store, 2, "0 9 * * MON", last=utc(2025, 6, 30, 9))  # already handled
    sched = Scheduler(
        store, engine, clock, leader_poll=NO_POLL, grace=timedelta(hours=12), refresh=None
    )
    task = await start(sched, clock)
    await sched.drain()
    assert engine.fired == [(utc(2025, 6, 30, 9), [sid])]
    for s in (sid, other):
        sub = await store.get_subscription_by_id(s)
        assert sub is not None and sub.last_fire_at == utc(2025, 6, 30, 9)
    await finish(sched, task)


async def test_catch_up_fires_only_the_latest_missed(loop_parts) -> None:
    store, clock, engine = loop_parts
    sid = await add(store, 1, "0 * * * *", last=utc(2025, 6, 30, 4))
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None)
    task = await start(sched, clock)  # now 08:00: 05:00, 06:00, 07:00 and 08:00 were due
    await sched.drain()
    assert engine.fired == [(utc(2025, 6, 30, 8), [sid])]
    await finish(sched, task)


async def test_missed_beyond_grace_is_skipped_and_logged(loop_parts, caplog) -> None:
    store, clock, engine = loop_parts
    await clock.set(utc(2025, 6, 30, 22))  # 13 hours late
    sid = await add(store, 1, "0 9 * * MON", last=utc(2025, 6, 23, 9))
    sched = Scheduler(
        store, engine, clock, leader_poll=NO_POLL, grace=timedelta(hours=12), refresh=None
    )
    with caplog.at_level(logging.WARNING, logger="paperboy.scheduler"):
        task = await start(sched, clock)
    assert engine.fired == []
    assert any("skipped" in r.getMessage() and r.subscription == sid for r in caplog.records)
    sub = await store.get_subscription_by_id(sid)
    assert sub is not None and sub.last_fire_at == utc(2025, 6, 30, 9)
    assert clock.sleepers == [utc(2025, 7, 7, 9)]
    await finish(sched, task)


async def test_dst_fall_back_daily_fires_once_in_repeated_hour(store: Store) -> None:
    clock = FakeClock(utc(2025, 11, 1, 16))
    engine = FakeEngine()
    sid = await add(store, 1, "30 1 * * *", "America/New_York", last=utc(2025, 11, 1, 5, 30))
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None)
    task = await start(sched, clock)
    for _ in range(3):
        await step(sched, clock, clock.sleepers[0])
    assert [t for t, _ in engine.fired] == [
        utc(2025, 11, 2, 5, 30),  # 01:30 EDT
        utc(2025, 11, 3, 6, 30),  # 01:30 EST the next day; never 01:30 EST on the 2nd
        utc(2025, 11, 4, 6, 30),
    ]
    assert all(ids == [sid] for _, ids in engine.fired)
    await finish(sched, task)


async def test_dst_guard_skips_same_wall_time_as_last_fire(store: Store) -> None:
    # Even if last_fire_at was written as the first 01:30 and the loop looks during the repeat.
    clock = FakeClock(utc(2025, 11, 2, 6, 45))  # 01:45 EST
    engine = FakeEngine()
    await add(store, 1, "30 1 * * *", "America/New_York", last=utc(2025, 11, 2, 5, 30))
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None)
    task = await start(sched, clock)
    assert engine.fired == []
    assert clock.sleepers == [utc(2025, 11, 3, 6, 30)]
    await finish(sched, task)


async def test_dst_spring_forward_daily_fires_once(store: Store) -> None:
    clock = FakeClock(utc(2025, 3, 8, 12))
    engine = FakeEngine()
    await add(store, 1, "30 2 * * *", "America/New_York", last=utc(2025, 3, 8, 7, 30))
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None)
    task = await start(sched, clock)
    for _ in range(2):
        await step(sched, clock, clock.sleepers[0])
    assert [t for t, _ in engine.fired] == [utc(2025, 3, 9, 7, 0), utc(2025, 3, 10, 6, 30)]
    await finish(sched, task)


async def test_errors_go_to_the_hook_and_the_loop_goes_on(loop_parts) -> None:
    store, clock, engine = loop_parts
    errors: list[str] = []
    await add(store, 1, "0 9 * * *", last=utc(2025, 6, 29, 9))
    await add(store, 2, "not a cron", last=utc(2025, 6, 29, 9))
    sched = Scheduler(
        store,
        engine,
        clock,
        leader_poll=NO_POLL,
        refresh=None,
        on_error=lambda e, w: errors.append(w),
    )
    task = await start(sched, clock)
    assert errors and "subscription 2" in errors[0]
    engine.fail_next = True
    await step(sched, clock, utc(2025, 6, 30, 9))
    assert any("fire at" in w for w in errors)
    await step(sched, clock, utc(2025, 7, 1, 9))
    assert [t for t, _ in engine.fired] == [utc(2025, 7, 1, 9)]
    await finish(sched, task)


async def test_only_the_leader_fires_and_a_standby_takes_over_within_a_poll(
    loop_parts, store_factory
) -> None:
    store, clock, engine = loop_parts
    await add(store, 1, "0 8 * * *", last=utc(2025, 6, 29, 8))  # due right now
    other = Leadership(await store_factory())  # another process on the same database
    assert await other.acquire()
    poll = timedelta(seconds=5)
    sched = Scheduler(store, engine, clock, refresh=None, leader_poll=poll)
    task = await start(sched, clock)
    assert engine.fired == [] and not sched.is_leader
    assert clock.sleepers == [utc(2025, 6, 30, 8, 0, 5)]  # looks at the lease again in 5 s
    await other.release()
    await step(sched, clock, utc(2025, 6, 30, 8, 0, 5))
    assert sched.is_leader
    assert engine.reconciles == 1  # first it finishes what the old leader left pending
    assert [t for t, _ in engine.fired] == [utc(2025, 6, 30, 8)]  # caught up, within grace
    await step(sched, clock, utc(2025, 6, 30, 8, 0, 10))
    assert engine.flushes >= 1  # the leader's chores, every poll
    await finish(sched, task)


async def test_a_fire_cut_short_by_a_lost_lead_is_left_to_the_next_leader(loop_parts) -> None:
    store, clock, engine = loop_parts
    sid = await add(store, 1, "0 9 * * MON", last=utc(2025, 6, 23, 9))
    engine.lose_lead = store
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None)
    task = await start(sched, clock)
    await step(sched, clock, utc(2025, 6, 30, 9))
    assert engine.fired == [(utc(2025, 6, 30, 9), [sid])]
    sub = await store.get_subscription_by_id(sid)
    assert sub is not None and sub.last_fire_at == utc(2025, 6, 23, 9)  # not marked handled
    assert not sched.is_leader
    await finish(sched, task)


async def test_stop_lets_an_in_flight_fire_finish(loop_parts) -> None:
    store, clock, engine = loop_parts
    sid = await add(store, 1, "0 8 * * *", last=utc(2025, 6, 29, 8))
    engine.block = asyncio.Event()
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None, stop_timeout=5)
    task = asyncio.create_task(sched.run())
    await asyncio.wait_for(engine.entered.wait(), 5)
    stopping = asyncio.create_task(sched.stop())
    await asyncio.sleep(0)
    task.cancel()  # the app cancels the loop task; the fire is shielded from that
    engine.block.set()
    await stopping
    assert engine.fired == [(utc(2025, 6, 30, 8), [sid])]
    sub = await store.get_subscription_by_id(sid)
    assert sub is not None and sub.last_fire_at == utc(2025, 6, 30, 8)
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_stop_gives_up_after_timeout_without_marking_the_fire(loop_parts) -> None:
    store, clock, engine = loop_parts
    sid = await add(store, 1, "0 8 * * *", last=utc(2025, 6, 29, 8))
    engine.block = asyncio.Event()  # never set
    sched = Scheduler(store, engine, clock, leader_poll=NO_POLL, refresh=None, stop_timeout=0.05)
    task = asyncio.create_task(sched.run())
    await asyncio.wait_for(engine.entered.wait(), 5)
    await sched.stop()
    await asyncio.wait_for(task, 5)
    assert engine.fired == []
    sub = await store.get_subscription_by_id(sid)
    # Not handled: the next start catches it up (within grace) or the ledger finishes it.
    assert sub is not None and sub.last_fire_at == utc(2025, 6, 29, 8)


class FailingEngine(FakeEngine):
    """Its fires fail; ``reconcile_pending`` fails ``still_failing`` more times, then works."""

    def __init__(self, still_failing: int) -> None:
        super().__init__()
        self.still_failing = still_failing
        self.retries: list[datetime] = []
        self.clock: FakeClock | None = None

    async def fire(self, subs: Sequence[Subscription], fire_time: datetime) -> list[Outcome]:
        await super().fire(subs, fire_time)
        return [FAILED]

    async def reconcile_pending(self) -> list[Outcome]:
        assert self.clock is not None
        self.retries.append(self.clock.now())
        self.still_failing -= 1
        return [FAILED] if self.still_failing >= 0 else []


FAILED = Outcome(channel(1), "week:2025-06-30", "failed", error="TransientError: HTTP 503")


async def test_failed_deliveries_are_retried_with_back_off(loop_parts) -> None:
    store, clock, _ = loop_parts
    engine = FailingEngine(still_failing=1)
    engine.clock = clock
    await add(store, 1, "0 9 * * MON", last=utc(2025, 6, 23, 9))
    sched = Scheduler(
        store, engine, clock, leader_poll=NO_POLL, refresh=None, retry_failed=timedelta(minutes=10)
    )
    task = await start(sched, clock)
    await step(sched, clock, utc(2025, 6, 30, 9))
    assert clock.sleepers == [utc(2025, 6, 30, 9, 10)]  # retry in ten minutes
    await step(sched, clock, clock.sleepers[0])
    assert clock.sleepers == [utc(2025, 6, 30, 9, 30)]  # failed again: twenty more
    await step(sched, clock, clock.sleepers[0])
    assert engine.retries == [utc(2025, 6, 30, 9, 10), utc(2025, 6, 30, 9, 30)]
    assert clock.sleepers == [utc(2025, 7, 7, 9)]  # all delivered: back to the schedule
    await finish(sched, task)
