"""Scheduling at scale: each subscription's next instant is stored and indexed, and a wake reads
only what is due (or not planned yet), a page at a time; subscribing, schedule changes, pause and
resume keep the stored instant right, across DST too. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.clock import FakeClock

from bot.core.messages import ChannelRef
from bot.delivery import scheduler as scheduler_module
from bot.delivery.outcome import Outcome
from bot.delivery.scheduler import Scheduler
from bot.storage import Store
from bot.storage.records import Subscription


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


MONDAY_8 = utc(2025, 6, 30, 8, 0)


class Engine:
    """Records each fire; every delivery succeeds."""

    def __init__(self) -> None:
        self.fired: list[tuple[datetime, list[int]]] = []

    async def fire(self, subs: Sequence[Subscription], fire_time: datetime) -> list[Outcome]:
        self.fired.append((fire_time, sorted(s.id or 0 for s in subs)))
        return []

    async def reconcile_pending(self) -> list[Outcome]:
        return []

    async def flush(self) -> None:
        return None

    def ids(self) -> list[int]:
        return sorted(i for _, ids in self.fired for i in ids)


class Reads:
    """The store, counting the subscriptions each read returns (and refusing the full list)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.rows = 0
        self.largest_page = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name == "list_subscriptions":
            raise AssertionError("the scheduler read every subscription")
        if name not in ("due_subscriptions", "unplanned_subscriptions"):
            return attr

        async def counted(*args: Any, **kw: Any) -> Any:
            page = await attr(*args, **kw)
            self.rows += len(page)
            self.largest_page = max(self.largest_page, len(page))
            return page

        return counted


async def add(store: Store, n: int, cron: str, tz: str = "UTC", **kw: Any) -> int:
    sub = await store.upsert_subscription(
        Subscription(ChannelRef("fake", f"w{n % 7}", f"c{n}"), cron, tz, **kw)
    )
    assert sub.id is not None
    return sub.id


async def next_of(store: Store, sid: int) -> datetime | None:
    sub = await store.get_subscription_by_id(sid)
    assert sub is not None
    return sub.next_fire_at


def scheduler(store: Any, clock: FakeClock, engine: Engine, **kw: Any) -> Scheduler:
    return Scheduler(store, engine, clock, leader_poll=timedelta(days=3650), refresh=None, **kw)


async def tick_at(sched: Scheduler, clock: FakeClock, at: datetime) -> datetime | None:
    """One wake at ``at``, its fires finished, and the wake their end triggers (as the loop
    does); returns the instant the loop would sleep until."""
    await clock.set(at)
    await sched.tick()
    await sched.drain()
    return await sched.tick()


async def test_a_wake_reads_only_what_is_due(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "PAGE", 40)
    clock, engine = FakeClock(MONDAY_8), Engine()
    weekly = [await add(store, n, "0 9 * * TUE") for n in range(150)]
    daily = [await add(store, 1000 + n, "30 8 * * *") for n in range(3)]
    reads = Reads(store)
    sched = scheduler(reads, clock, engine)
    # The first wake plans every subscription nobody has planned yet (new ones), page by page.
    assert await tick_at(sched, clock, MONDAY_8) == utc(2025, 6, 30, 8, 30)
    assert reads.rows == 153 and reads.largest_page <= 40
    assert await next_of(store, weekly[0]) == utc(2025, 7, 1, 9)
    assert await next_of(store, daily[0]) == utc(2025, 6, 30, 8, 30)
    # A wake between instants reads nothing; at the instant, only the three that are due.
    reads.rows = 0
    assert await tick_at(sched, clock, utc(2025, 6, 30, 8, 10)) == utc(2025, 6, 30, 8, 30)
    assert reads.rows == 0
    await tick_at(sched, clock, utc(2025, 6, 30, 8, 30))
    assert reads.rows == 3
    assert engine.fired == [(utc(2025, 6, 30, 8, 30), sorted(daily))]
    for sid in daily:
        assert await next_of(store, sid) == utc(2025, 7, 1, 8, 30)
    # Firing moved them on: the next wake reads nothing and sleeps until Tuesday 08:30.
    reads.rows = 0
    assert await tick_at(sched, clock, utc(2025, 6, 30, 8, 31)) == utc(2025, 7, 1, 8, 30)
    assert reads.rows == 0


async def test_more_due_than_a_page_all_fire_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "PAGE", 25)
    clock, engine = FakeClock(utc(2025, 6, 30, 6, 0)), Engine()
    ids = [await add(store, n, "0 9 * * MON") for n in range(90)]
    paris = [await add(store, 500 + n, "0 9 * * MON", "Europe/Paris") for n in range(10)]
    sched = scheduler(store, clock, engine)
    await tick_at(sched, clock, utc(2025, 6, 30, 6, 0))
    await tick_at(sched, clock, utc(2025, 6, 30, 9, 0))  # both instants are due now
    assert engine.ids() == sorted(ids + paris)  # every one, once, across pages
    at_seven = [i for t, group in engine.fired if t == utc(2025, 6, 30, 7) for i in group]
    assert sorted(at_seven) == sorted(paris)  # 09:00 in Paris is 07:00 UTC
    await tick_at(sched, clock, utc(2025, 6, 30, 9, 5))
    assert engine.ids() == sorted(ids + paris)


async def test_schedule_change_replans_and_an_old_plan_never_overwrites_it(store: Store) -> None:
    clock, engine = FakeClock(MONDAY_8), Engine()
    sid = await add(store, 1, "0 9 * * MON")
    sched = scheduler(store, clock, engine)
    await tick_at(sched, clock, MONDAY_8)
    assert await next_of(store, sid) == utc(2025, 6, 30, 9)
    # Subscribing again with the same schedule keeps the plan.
    await add(store, 1, "0 9 * * MON")
    assert await next_of(store, sid) == utc(2025, 6, 30, 9)
    # A new schedule (as /papers subscribe writes it) is planned afresh on the next wake.
    await add(store, 1, "15 8 * * *", "UTC")
    assert await next_of(store, sid) is None
    # A plan computed for the old schedule just before the change is not stored.
    await store.set_next_fire(sid, ("0 9 * * MON", "UTC", utc(2025, 6, 30, 9)))
    assert await next_of(store, sid) is None
    assert await tick_at(sched, clock, utc(2025, 6, 30, 8, 1)) == utc(2025, 6, 30, 8, 15)
    await tick_at(sched, clock, utc(2025, 6, 30, 8, 15))
    await tick_at(sched, clock, utc(2025, 6, 30, 9, 0))
    assert engine.fired == [(utc(2025, 6, 30, 8, 15), [sid])]  # not at the old 09:00
    assert await next_of(store, sid) == utc(2025, 7, 1, 8, 15)
    # A timezone change alone replans too.
    await add(store, 1, "15 8 * * *", "Asia/Tokyo")
    assert await tick_at(sched, clock, utc(2025, 6, 30, 9, 1)) == utc(2025, 6, 30, 23, 15)


async def test_paused_is_not_read_and_resume_catches_up_within_grace(store: Store) -> None:
    clock, engine = FakeClock(MONDAY_8), Engine()
    sid = await add(store, 1, "0 9 * * MON")
    reads = Reads(store)
    sched = scheduler(reads, clock, engine, grace=timedelta(hours=12))
    await tick_at(sched, clock, MONDAY_8)
    await store.set_paused(sid, "channel_not_found")
    reads.rows = 0
    assert await tick_at(sched, clock, utc(2025, 6, 30, 9)) is None  # nothing enabled
    assert reads.rows == 0 and engine.fired == []
    await store.set_paused(sid, None)  # resumed three hours after its instant
    assert await next_of(store, sid) is None
    await tick_at(sched, clock, utc(2025, 6, 30, 12))
    assert engine.fired == [(utc(2025, 6, 30, 9), [sid])]  # the missed one, once
    assert await next_of(store, sid) == utc(2025, 7, 7, 9)
    # Paused past the grace period: the missed week is skipped, the next one planned.
    await store.set_paused(sid, "paused")
    await tick_at(sched, clock, utc(2025, 7, 7, 9))
    await store.set_paused(sid, None)
    assert await tick_at(sched, clock, utc(2025, 7, 8, 12)) == utc(2025, 7, 14, 9)
    assert engine.fired == [(utc(2025, 6, 30, 9), [sid])]


async def test_stored_instants_follow_dst(store: Store) -> None:
    """New York: 01:30 daily through the fall-back overlap fires once a day; 02:30 daily on
    the spring-forward day fires at the transition (03:00 EDT)."""
    clock, engine = FakeClock(utc(2025, 11, 1, 12)), Engine()
    autumn = await add(store, 1, "30 1 * * *", "America/New_York")
    sched = scheduler(store, clock, engine)
    until = await tick_at(sched, clock, utc(2025, 11, 1, 12))
    assert until == utc(2025, 11, 2, 5, 30)  # the first 01:30 (EDT)
    for _ in range(3):
        assert until is not None
        until = await tick_at(sched, clock, until)
    assert [t for t, _ in engine.fired] == [
        utc(2025, 11, 2, 5, 30),
        utc(2025, 11, 3, 6, 30),  # the repeated 01:30 (EST) on the 2nd is not fired
        utc(2025, 11, 4, 6, 30),
    ]
    assert await next_of(store, autumn) == utc(2025, 11, 5, 6, 30)

    clock2, engine2 = FakeClock(utc(2025, 3, 8, 12)), Engine()
    spring = await add(store, 2, "30 2 * * *", "America/New_York")
    await store.set_paused(autumn, "done")
    sched2 = scheduler(store, clock2, engine2)
    assert await tick_at(sched2, clock2, utc(2025, 3, 8, 12)) == utc(2025, 3, 9, 7, 0)
    await tick_at(sched2, clock2, utc(2025, 3, 9, 7, 0))
    assert engine2.fired == [(utc(2025, 3, 9, 7, 0), [spring])]
    assert await next_of(store, spring) == utc(2025, 3, 10, 6, 30)  # 02:30 EDT


async def test_planning_many_new_ones_does_not_hold_a_due_fire_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the migration every subscription is unplanned: a wake plans a few pages, fires
    what is due, and asks to be woken again at once for the rest."""
    monkeypatch.setattr(scheduler_module, "PAGE", 10)
    monkeypatch.setattr(scheduler_module, "UNPLANNED_PAGES", 2)
    clock, engine = FakeClock(utc(2025, 6, 30, 9, 0)), Engine()
    last = utc(2025, 6, 29, 9)
    due = await add(store, 0, "0 9 * * *", last_fire_at=last)  # the first one, due now
    await store.set_last_fire(due, last)  # as left by a version without next_fire_at
    later = [await add(store, n, "0 10 * * *", last_fire_at=last) for n in range(1, 50)]
    sched = scheduler(store, clock, engine)
    assert await sched.tick() == clock.now()  # more to plan: wake again at once
    await sched.drain()
    assert engine.fired == [(utc(2025, 6, 30, 9), [due])]
    for _ in range(3):
        await sched.tick()
    assert await sched.tick() == utc(2025, 6, 30, 10)
    for sid in later:
        assert await next_of(store, sid) == utc(2025, 6, 30, 10)
