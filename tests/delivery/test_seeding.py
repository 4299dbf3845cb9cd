"""The seeder on both store backends, against an in-process platform: seed jobs are durable and
resumed, every 429 is waited out however long, seeding never runs while the engine posts, gone
messages drop their job, failures back off and give up; and the engine records a digest (and
its seed job) before its ledger row is complete, also when reconciliation finds it."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime

import pytest
from support.clock import FakeClock
from support.fakeplatform import FakePoster
from support.watch import SleepTime

from bot.core.errors import PermanentError, RateLimited, TransientError
from bot.core.messages import ChannelRef, Message
from bot.delivery.digest import Digest
from bot.delivery.engine import DeliveryEngine
from bot.delivery.ratelimit import RateLimiter
from bot.delivery.seeding import Seeder, SeedTarget, SendActivity
from bot.ops.metrics import Metrics
from bot.storage import Store
from bot.storage.records import PostedDigest, SeedJob, Subscription

T0 = datetime(2025, 6, 30, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Log at INFO, as the bot runs: a log call that breaks (a reserved ``extra`` key) fails."""
    caplog.set_level(logging.INFO)


HERE = ChannelRef("fake", "W1", "C1")
THERE = ChannelRef("fake", "W1", "C2")
KEYS = ("k1", "k2", "k3", "k4")


class Target:
    """A platform that adds reactions when told, fails as scripted, and can hold a call."""

    platform = "fake"

    def __init__(self, activity: SendActivity | None = None) -> None:
        self.seed_emoji: tuple[str, ...] = KEYS
        self.seed_limiter: RateLimiter | None = None
        self.added: list[tuple[ChannelRef, str, str]] = []
        self.calls = 0
        self.script: deque[Exception | None] = deque()
        self.gate = asyncio.Event()
        self.hold_call: int | None = None  # that call (1, 2, ...) waits for ``gate``
        self.waiting = asyncio.Event()  # set once the held call is waiting
        self.activity = activity
        self.while_posting = 0  # calls made while the engine was sending (must stay 0)

    def seed_bucket(self, channel: ChannelRef) -> str:
        return channel.workspace

    async def add_reaction(self, channel: ChannelRef, message_id: str, emoji: str) -> None:
        self.calls += 1
        if self.activity is not None and self.activity.busy(self.platform):
            self.while_posting += 1
        if self.calls == self.hold_call:
            self.waiting.set()
            await self.gate.wait()
        if self.script:
            exc = self.script.popleft()
            if exc is not None:
                raise exc
        self.added.append((channel, message_id, emoji))


def digest_at(channel: ChannelRef, mid: str, papers: int = 3) -> PostedDigest:
    return PostedDigest(channel, mid, "week:2025-06-23", tuple(f"p{i}" for i in range(papers)), T0)


def seeder(store: Store, target: Target, **kw: object) -> Seeder:
    s = Seeder(store, clock=FakeClock(T0), **kw)  # type: ignore[arg-type]
    s.targets[target.platform] = target
    return s


async def test_the_fake_target_is_a_seed_target() -> None:
    assert isinstance(Target(), SeedTarget)


async def test_a_job_per_digest_one_reaction_per_paper(store: Store) -> None:
    target = Target()
    s = seeder(store, target)
    assert await s.enqueue(digest_at(HERE, "m1", papers=3))
    assert not await s.enqueue(digest_at(HERE, "m1", papers=3))  # recorded twice: one job
    assert await s.enqueue(digest_at(THERE, "m1", papers=9))  # same id, other channel
    [one, two] = await store.seed_jobs()
    assert (one.channel, one.emoji) == (HERE, ("k1", "k2", "k3"))
    assert (two.channel, two.emoji) == (THERE, KEYS)  # no more keycaps than the platform has
    s.start()
    try:
        await s.settled()
    finally:
        await s.stop()
    assert [(c, e) for c, _, e in target.added] == [
        (HERE, "k1"),
        (HERE, "k2"),
        (HERE, "k3"),
        *[(THERE, k) for k in KEYS],
    ]
    assert await store.seed_jobs() == []


async def test_nothing_to_seed_where_a_platform_seeds_nothing(store: Store) -> None:
    target = Target()
    target.seed_emoji = ()
    s = seeder(store, target)
    assert not await s.enqueue(digest_at(HERE, "m1"))
    assert not await s.enqueue(digest_at(ChannelRef("terminal", "local", "t"), "m2"))
    assert await store.seed_jobs() == []


async def test_what_is_left_is_resumed_after_a_restart(store: Store) -> None:
    target = Target()
    first = seeder(store, target)
    await first.enqueue(digest_at(HERE, "m1"))
    target.hold_call = 2  # the second reaction is on its way when the process stops
    first.start()
    await asyncio.wait_for(target.waiting.wait(), 5)
    await first.stop()
    [job] = await store.seed_jobs()
    assert job.emoji == ("k2", "k3")  # the first one is on; the second was not confirmed

    again = Target()
    second = seeder(store, again)
    second.start()
    try:
        await second.settled()
    finally:
        await second.stop()
    assert [e for _, _, e in again.added] == ["k2", "k3"]
    assert await store.seed_jobs() == []


async def test_every_429_is_waited_out_however_long(store: Store) -> None:
    target = Target()
    clock = SleepTime()
    target.seed_limiter = RateLimiter(
        global_limit=None, channel_limit=50, channel_period=60, time=clock.time, sleep=clock.sleep
    )
    target.script.extend([None, RateLimited(3600), RateLimited(7200, is_global=True)])
    s = seeder(store, target)
    await s.enqueue(digest_at(HERE, "m1"))
    s.start()
    try:
        await s.settled()
    finally:
        await s.stop()
    assert [e for _, _, e in target.added] == ["k1", "k2", "k3"]
    assert target.calls == 5 and s.stats["rate_limited"] == 2 and s.stats["retried"] == 0
    # The bucket waited an hour, then the platform two hours, before trying "k2" again.
    assert clock.now >= 3600 + 7200 and max(clock.slept) >= 7200


async def test_no_seeding_request_while_the_engine_sends(store: Store) -> None:
    activity = SendActivity()
    target = Target(activity)
    s = seeder(store, target, activity=activity)
    await s.enqueue(digest_at(HERE, "m1"))
    target.hold_call = 1  # the first reaction is in flight ...
    s.start()
    try:
        await asyncio.wait_for(target.waiting.wait(), 5)
        with activity.sending("fake"):  # ... when a fan-out starts
            target.gate.set()
            await asyncio.wait_for(_until(lambda: activity.waiting["fake"] == 1), 5)
            assert len(target.added) == 1  # held back: nothing more goes out meanwhile
        await s.settled()
    finally:
        await s.stop()
    assert len(target.added) == 3 and target.while_posting == 0


async def test_a_gone_message_drops_its_job_and_failures_back_off(store: Store) -> None:
    target = Target()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    target.script.extend([PermanentError("message_not_found", "gone")])
    target.script.extend([TransientError("HTTP 500")] * 2 + [None] * 3)
    target.script.extend([TransientError("HTTP 500")] * 4)
    metrics = Metrics()
    s = seeder(store, target, sleep=sleep, base_backoff=1.0, max_attempts=4, metrics=metrics)
    for mid in ("gone", "flaky", "broken"):
        await s.enqueue(digest_at(HERE, mid))
    s.start()
    try:
        await s.settled()
    finally:
        await s.stop()
    # "gone": dropped at once; "flaky": two failures backed off, then all three; "broken":
    # given up after four failures in a row.
    assert [(mid, e) for _, mid, e in target.added] == [("flaky", k) for k in KEYS[:3]]
    assert slept == [1.0, 2.0, 1.0, 2.0, 4.0]
    assert s.stats["dropped"] == 2 and await store.seed_jobs() == []
    assert metrics.get("seed_reactions", platform="fake", status="added") == 3
    assert metrics.get("seed_reactions", platform="fake", status="dropped") == 2


async def test_a_failed_job_is_kept_with_its_failures_counted(store: Store) -> None:
    target = Target()
    target.script.extend([TransientError("HTTP 500")])
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await gate.wait()  # a back-off that lasts until the test looks

    s = seeder(store, target, sleep=sleep)
    await s.enqueue(digest_at(HERE, "m1"))
    s.start()
    try:
        await asyncio.wait_for(_until(lambda: s.stats["retried"] == 1), 5)
        [job] = await store.seed_jobs()
        assert job == SeedJob(HERE, "m1", ("k1", "k2", "k3"), T0, attempts=1)
        gate.set()
        await s.settled()
    finally:
        await s.stop()
    assert len(target.added) == 3


# --- the engine's side ---------------------------------------------------------------------------


class OneDigest:
    def __init__(self, papers: int) -> None:
        msg = Message(header="week", kind="digest", ephemeral=False)
        self.digest = Digest("week:2025-06-23", msg, tuple(f"p{i}" for i in range(papers)))

    async def next_digest(self, sub: Subscription, sent: set[str], now: datetime) -> Digest | None:
        return None if self.digest.key in sent else self.digest

    async def digest_for(self, sub: Subscription, key: str) -> Digest | None:
        return self.digest if key == self.digest.key else None


@pytest.mark.parametrize("failure", ["ok", "lost"])
async def test_the_digest_and_its_seed_job_are_recorded_before_the_ledger_completes(
    store: Store, failure: str
) -> None:
    """Also for a digest reconciliation finds after a lost reply."""
    poster = FakePoster("fake")
    poster.fail_next(failure)
    target = Target()
    s = seeder(store, target)
    seen: list[tuple[str | None, bool]] = []

    async def on_posted(posted: PostedDigest) -> None:
        assert sub.id is not None
        row = await store.get_delivery(sub.channel, posted.digest_key)
        seen.append(
            (
                row.status if row else None,
                await store.get_posted(HERE, posted.message_id) is not None,
            )
        )
        await s.enqueue(posted)

    sub = await store.upsert_subscription(Subscription(HERE, "0 9 * * MON", "UTC"))
    engine = DeliveryEngine(
        store,
        {"fake": poster},
        OneDigest(papers=2),
        clock=FakeClock(T0, auto_advance=True),
        base_backoff=0.001,
        on_posted=on_posted,
    )
    outcome = await engine.deliver(sub, now=T0)
    assert outcome.status == ("sent" if failure == "ok" else "reconciled")
    assert seen == [("pending", True)]  # recorded, then the job, then the ledger row done
    [job] = await store.seed_jobs()
    assert (job.message_id, job.emoji) == (outcome.message_id, ("k1", "k2"))
    row = await store.get_delivery(sub.channel, "week:2025-06-23")
    assert row is not None and row.status == "sent"


async def test_the_engine_marks_a_platform_busy_while_a_fan_out_is_due(store: Store) -> None:
    poster = FakePoster("fake", latency=0.01)
    activity = SendActivity()
    subs = [
        await store.upsert_subscription(
            Subscription(ChannelRef("fake", "W", f"C{i}"), "0 9 * * MON", "UTC")
        )
        for i in range(3)
    ]
    engine = DeliveryEngine(
        store, {"fake": poster}, OneDigest(1), clock=FakeClock(T0), concurrency=1, activity=activity
    )
    fire = asyncio.create_task(engine.fire(subs, T0))
    await asyncio.wait_for(_until(lambda: poster.in_flight == 1), 5)
    assert activity.busy("fake") and not activity.busy("other")
    await fire
    assert not activity.busy("fake")
    await asyncio.wait_for(activity.quiet("fake"), 1)


async def _until(predicate: object) -> None:
    assert callable(predicate)
    while not predicate():
        await asyncio.sleep(0.001)
