"""The delivery engine against a fake platform that fails on command: the ledger protocol,
retries, reconciliation, pausing, admin notices, fan-out; plus the rate limiter and metrics."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from support.clock import FakeClock
from support.db import count_sent
from support.fakeplatform import FakePoster

from bot.core.messages import ChannelRef, Message
from bot.delivery.digest import Digest
from bot.delivery.engine import DeliveryEngine
from bot.delivery.leadership import Leadership
from bot.delivery.outcome import Outcome, idempotency_key
from bot.delivery.ratelimit import RateLimiter
from bot.ops.metrics import Metrics
from bot.storage import Store
from bot.storage.records import Delivery, Subscription

T0 = datetime(2025, 6, 30, 9, tzinfo=UTC)
ADMIN = ChannelRef("fake", "w", "admin")


def digest(key: str, n_papers: int = 3) -> Digest:
    msg = Message(header=key, kind="digest", ephemeral=False)
    return Digest(key, msg, tuple(f"p{key[-2:]}{i}" for i in range(1, n_papers + 1)))


class Digests:
    """Offers one current digest (None: nothing) to every subscription. Cannot rebuild a digest
    by key: reconciliation falls back to asking for the next digest."""

    def __init__(self, current: Digest | None) -> None:
        self.current = current
        self.calls = 0

    async def next_digest(
        self, sub: Subscription, sent_keys: set[str], now: datetime
    ) -> Digest | None:
        self.calls += 1
        if self.current is None or self.current.key in sent_keys:
            return None
        return self.current

    async def digest_for(
        self, sub: Subscription, key: str, paper_ids: tuple[str, ...] = ()
    ) -> Digest | None:
        return None


async def subs(store: Store, n: int, platform: str = "fake") -> list[Subscription]:
    out = []
    for i in range(n):
        ch = ChannelRef(platform, "w", f"c{i:03}")
        out.append(await store.upsert_subscription(Subscription(ch, "0 9 * * MON", "UTC")))
    return out


# One leadership per store: the engines a test makes on one store are this process, started
# again (a second process on the same database would be on standby).
_LEADS: weakref.WeakKeyDictionary[Store, Leadership] = weakref.WeakKeyDictionary()


def engine(
    store: Store,
    poster: FakePoster,
    digests: Digests,
    clock: FakeClock | None = None,
    **kw: object,
) -> DeliveryEngine:
    kw.setdefault("base_backoff", 1.0)
    kw.setdefault("send_timeout", 0.05)
    if "leadership" not in kw:
        kw["leadership"] = _LEADS.setdefault(store, Leadership(store))
    return DeliveryEngine(
        store,
        {poster.platform: poster},
        digests,
        clock=clock or FakeClock(T0, auto_advance=True),
        admin_channel=ADMIN,
        **kw,  # type: ignore[arg-type]
    )


def statuses(outcomes: Sequence[Outcome]) -> list[str]:
    return [o.status for o in outcomes]


async def claim(store: Store, sub: Subscription, d: Digest, *, attempted: bool = False) -> Delivery:
    """The ledger row a process left behind for ``d``: claimed, and with ``attempted`` an
    attempt counted (the process may have posted, then stopped without settling it)."""
    key = idempotency_key(d.key, sub.channel)
    row, _ = await store.claim_delivery(
        sub.channel, d.key, key, T0, subscription_id=sub.id, paper_ids=d.paper_ids
    )
    if attempted:
        other = Leadership(store)
        fence = await other.ensure()
        assert fence is not None
        marked = await store.begin_attempt(row.id, fence, T0)
        assert marked is not None
        row = marked
        await other.release()
    return row


# --- keys ------------------------------------------------------------------------------------------


def test_idempotency_key_is_short_stable_and_distinct() -> None:
    a = ChannelRef("discord", "g1", "c1")
    b = ChannelRef("discord", "g1", "c2")
    k = idempotency_key("week:2025-06-23", a)
    assert len(k) <= 25 and k == idempotency_key("week:2025-06-23", a)
    assert k != idempotency_key("week:2025-06-23", b)
    assert k != idempotency_key("week:2025-06-30", a)


# --- the ledger protocol ----------------------------------------------------------------------------


async def test_sent_once_then_already_sent(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    eng = engine(store, poster, Digests(digest("week:2025-06-23")))
    first = await eng.deliver(sub)
    assert first.status == "sent" and first.attempts == 1 and first.message_id
    again = await eng.deliver(sub, digest("week:2025-06-23"))
    assert again.status == "already_sent" and again.message_id == first.message_id
    assert (await eng.deliver(sub)).status == "nothing_new"
    assert poster.count(sub.channel) == 1
    posted = await store.get_posted(sub.channel, first.message_id or "")
    assert posted is not None and posted.paper_ids == ("p231", "p232", "p233")
    assert posted.digest_key == "week:2025-06-23"


async def test_concurrent_deliveries_of_one_digest_post_once(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster(latency=0.001)
    eng = engine(store, poster, Digests(digest("week:2025-06-23")))
    outcomes = await asyncio.gather(*(eng.deliver(sub) for _ in range(5)))
    assert statuses(outcomes).count("sent") == 1
    assert set(statuses(outcomes)) <= {"sent", "already_sent", "nothing_new"}
    assert poster.count(sub.channel) == 1


async def test_rate_limited_waits_and_does_not_count_as_an_attempt(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster(retry_after=2.5)
    poster.fail_next("429", "429g", "429")
    clock = FakeClock(T0, auto_advance=True)
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), clock, max_attempts=2)
    out = await eng.deliver(sub)
    assert out.status == "sent" and poster.count(sub.channel) == 1
    assert clock.now() >= T0 + timedelta(seconds=7.5)  # honoured every retry_after
    assert eng.metrics.get("rate_limited") == 3


async def test_rate_limited_goes_through_the_limiter(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster(retry_after=3.0)
    poster.fail_next("429", "429g")
    vt = VirtualTime()
    limiter = RateLimiter(channel_limit=None, global_limit=None, time=vt.time, sleep=vt.sleep)
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), limiter=limiter)
    assert (await eng.deliver(sub)).status == "sent"
    assert limiter.penalties == 2 and vt.now >= 6.0


async def test_server_errors_back_off_and_retry(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    poster.fail_next("500", "500", "500")
    clock = FakeClock(T0, auto_advance=True)
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), clock)
    out = await eng.deliver(sub)
    assert out.status == "sent" and out.attempts == 4
    waited = (clock.now() - T0).total_seconds()
    assert 0.5 + 1 + 2 <= waited <= 1.5 * (1 + 2 + 4)  # exponential, jittered
    assert poster.find_calls == 0  # a 500 means not stored: no reconciliation needed
    assert poster.count(sub.channel) == 1


async def test_lost_reply_is_reconciled_not_reposted(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    poster.fail_next("lost")
    eng = engine(store, poster, Digests(digest("week:2025-06-23")))
    out = await eng.deliver(sub)
    assert out.status == "reconciled" and out.message_id == poster.posts[0].message_id
    assert poster.count(sub.channel) == 1
    posted = await store.get_posted(sub.channel, out.message_id or "")
    assert posted is not None and len(posted.paper_ids) == 3  # reactions on it still count
    row = await store.get_delivery(sub.channel, "week:2025-06-23")
    assert row is not None and row.status == "sent" and row.message_id == out.message_id


@pytest.mark.parametrize(
    ("mode", "expected"), [("timeout", "sent"), ("timeout_stored", "reconciled")]
)
async def test_send_timeout_is_an_unknown_outcome(store: Store, mode: str, expected: str) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    poster.fail_next(mode)
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), send_timeout=0.02)
    out = await eng.deliver(sub)
    assert out.status == expected
    assert poster.find_calls == 1 and poster.count(sub.channel) == 1


async def test_failing_history_lookup_is_retried_before_posting(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    poster.fail_next("lost")
    poster.fail_find("500", "500")
    eng = engine(store, poster, Digests(digest("week:2025-06-23")))
    out = await eng.deliver(sub)
    assert out.status == "reconciled" and poster.find_calls == 3
    assert poster.count(sub.channel) == 1


async def test_permanent_error_pauses_and_tells_admin_once(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    poster.fail_next("permanent", channel=sub.channel)
    eng = engine(store, poster, Digests(digest("week:2025-06-23")))
    out = await eng.deliver(sub)
    assert out.status == "paused" and out.error == "channel_not_found"
    stored = await store.get_subscription_by_id(sub.id or 0)
    assert stored is not None and not stored.enabled
    assert stored.paused_reason == "channel_not_found"
    assert poster.count(ADMIN) == 1 and "channel_not_found" in poster.posts[-1].text
    # Paused: nothing is sent, and the admin is not told again (not even by a new engine).
    assert (await eng.deliver(stored)).status == "paused"
    await engine(store, poster, Digests(None)).notify_admin(
        f"paused:{sub.channel}:week:2025-06-23", "again"
    )
    assert poster.count(ADMIN) == 1 and poster.count(sub.channel) == 0
    # Resumed: the pending row is reconciled (nothing there) and sent.
    await store.set_paused(sub.id or 0, None)
    resumed = await store.get_subscription_by_id(sub.id or 0)
    assert resumed is not None
    assert (await eng.deliver(resumed)).status == "sent"
    assert poster.count(sub.channel) == 1


async def test_gives_up_after_max_attempts_and_reconcile_finishes_later(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    poster.fail_next("500", "500", "500")
    d = Digests(digest("week:2025-06-23"))
    out = await engine(store, poster, d, max_attempts=3).deliver(sub)
    assert out.status == "failed" and out.attempts == 3 and "500" in (out.error or "")
    assert [r.digest_key for r in await store.pending_deliveries()] == ["week:2025-06-23"]
    # A restart: a new engine reconciles every pending row.
    outcomes = await engine(store, poster, d).reconcile_pending()
    assert statuses(outcomes) == ["sent"]
    assert await store.pending_deliveries() == []
    assert poster.count(sub.channel) == 1


async def test_crash_after_platform_stored_reconciles_on_restart(store: Store) -> None:
    """The process died after the platform stored the post but before the ledger knew."""
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    d = digest("week:2025-06-23")
    row = await claim(store, sub, d, attempted=True)
    mid = poster.store(sub.channel, row.idempotency_key, d.key)  # what the platform kept
    outcomes = await engine(store, poster, Digests(d)).reconcile_pending()
    assert statuses(outcomes) == ["reconciled"] and outcomes[0].message_id == mid
    assert poster.count(sub.channel) == 1
    posted = await store.get_posted(sub.channel, mid)
    assert posted is not None and posted.paper_ids == d.paper_ids


async def test_crash_before_any_attempt_sends_on_restart(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    d = digest("week:2025-06-23")
    await claim(store, sub, d)
    outcomes = await engine(store, poster, Digests(d)).reconcile_pending()
    assert statuses(outcomes) == ["sent"] and poster.find_calls == 0


async def test_stale_pending_row_is_completed_or_skipped(store: Store) -> None:
    a, b = await subs(store, 2)
    poster = FakePoster()
    old = digest("week:2025-06-16")
    for sub in (a, b):
        await claim(store, sub, old, attempted=True)
    mid = poster.store(a.channel, idempotency_key(old.key, a.channel), old.key)  # a got it
    # The provider has moved on to a newer week and cannot rebuild the old one.
    outcomes = await engine(store, poster, Digests(digest("week:2025-06-23"))).reconcile_pending()
    by_channel = {o.channel: o for o in outcomes}
    assert by_channel[a.channel].status == "reconciled" and by_channel[a.channel].message_id == mid
    assert by_channel[b.channel].status == "skipped"
    assert await store.pending_deliveries() == []
    assert poster.count(b.channel) == 0


class ReplayDigests(Digests):
    def __init__(self, current: Digest, *older: Digest) -> None:
        super().__init__(current)
        self.known = {d.key: d for d in (current, *older)}

    async def digest_for(
        self, sub: Subscription, key: str, paper_ids: tuple[str, ...] = ()
    ) -> Digest | None:
        return self.known.get(key)


async def test_provider_that_can_replay_finishes_a_stale_row(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    old = digest("week:2025-06-16")
    await claim(store, sub, old)
    eng = engine(store, poster, ReplayDigests(digest("week:2025-06-23"), old))
    assert statuses(await eng.reconcile_pending()) == ["sent"]
    assert poster.count(sub.channel, "week:2025-06-16") == 1


async def test_missing_poster_fails_without_sending(store: Store) -> None:
    (sub,) = await subs(store, 1, platform="nowhere")
    out = await engine(store, FakePoster(), Digests(digest("week:2025-06-23"))).deliver(sub)
    assert out.status == "failed" and "nowhere" in (out.error or "")


# --- nothing new, stalled sources -------------------------------------------------------------------


async def test_nothing_new_and_stalled_source_told_once(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    clock = FakeClock(T0)
    d = Digests(digest("week:2025-06-23"))
    eng = engine(store, poster, d, clock, stalled_after_weeks=2)
    assert (await eng.fire([sub], T0))[0].status == "sent"
    await clock.advance(timedelta(weeks=1))
    assert statuses(await eng.fire([sub], clock.now())) == ["nothing_new"]
    assert poster.count(ADMIN) == 0  # one week of nothing is normal
    await clock.advance(timedelta(weeks=1))
    assert statuses(await eng.fire([sub], clock.now())) == ["nothing_new"]
    assert poster.count(ADMIN) == 1  # two weeks: stalled
    await clock.advance(timedelta(weeks=1))
    # A restarted engine derives the same from the ledger, and does not repeat itself.
    eng2 = engine(store, poster, d, clock, stalled_after_weeks=2)
    assert statuses(await eng2.fire([sub], clock.now())) == ["nothing_new"]
    assert poster.count(ADMIN) == 1
    # A new week arrives: sent, and a later stall is a new episode.
    d.current = digest("week:2025-07-14")
    assert statuses(await eng2.fire([sub], clock.now())) == ["sent"]
    await clock.advance(timedelta(weeks=2))
    await eng2.fire([sub], clock.now())
    assert poster.count(ADMIN) == 2


async def test_stalled_with_no_history_counts_fires(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    eng = engine(store, poster, Digests(None), stalled_after_weeks=2)
    await eng.fire([sub], T0)
    assert poster.count(ADMIN) == 0
    await eng.fire([sub], T0 + timedelta(weeks=1))
    assert poster.count(ADMIN) == 1


async def test_community_nothing_new_is_not_a_stall(store: Store) -> None:
    ch = ChannelRef("fake", "w", "community")
    sub = await store.upsert_subscription(Subscription(ch, "0 9 * * MON", "UTC", "community"))
    poster = FakePoster()
    eng = engine(store, poster, Digests(None), stalled_after_weeks=1)
    for week in range(3):
        await eng.fire([sub], T0 + timedelta(weeks=week))
    assert poster.count(ADMIN) == 0


# --- fan-out ------------------------------------------------------------------------------------------


async def test_fan_out_with_random_failures_posts_exactly_once_each(store: Store) -> None:
    channels = await subs(store, 50)
    poster = FakePoster(
        fail_rate=0.3, modes=("429", "429g", "500", "timeout", "timeout_stored", "lost"), seed=7
    )
    d = Digests(digest("week:2025-06-23"))
    eng = engine(store, poster, d, max_attempts=4, send_timeout=0.02, concurrency=20)
    outcomes = await eng.fire(channels, T0)
    assert set(statuses(outcomes)) <= {"sent", "reconciled", "failed"}
    # Whatever gave up stays pending; the next start finishes it.
    rounds = 0
    while await store.pending_deliveries():
        rounds += 1
        assert rounds < 10
        await engine(store, poster, d, max_attempts=4, send_timeout=0.02).reconcile_pending()
    assert sum(poster.calls[m] for m in poster.calls if m != "ok") > 10  # it really failed a lot
    assert poster.per_channel_header() == {(str(s.channel), "week:2025-06-23"): 1 for s in channels}
    # A second fire of the same week sends nothing.
    again = await eng.fire(channels, T0)
    assert set(statuses(again)) == {"nothing_new"}
    assert await count_sent(store) == 50


async def test_fan_out_is_concurrent_but_bounded(store: Store) -> None:
    channels = await subs(store, 30)
    poster = FakePoster(latency=0.005)
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), concurrency=8)
    assert set(statuses(await eng.fire(channels, T0))) == {"sent"}
    assert 1 < poster.max_in_flight <= 8


# --- metrics -----------------------------------------------------------------------------------------


async def test_metrics_count_outcomes(store: Store) -> None:
    channels = await subs(store, 3)
    poster = FakePoster()
    poster.fail_next("permanent", channel=channels[2].channel)
    metrics = Metrics()
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), metrics=metrics)
    await eng.fire(channels, T0)
    assert metrics.get("posts_sent") == 2
    assert metrics.get("deliveries", status="paused", platform="fake") == 1
    text = metrics.render_prometheus()
    assert 'paperboy_posts_sent_total{platform="fake"} 2.0' in text
    assert "# TYPE paperboy_send_seconds histogram" in text


async def test_last_successful_fire_is_stamped_only_when_nothing_failed(store: Store) -> None:
    channels = await subs(store, 2)
    poster = FakePoster()
    clock = FakeClock(T0, auto_advance=True)
    metrics = Metrics()
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), clock, metrics=metrics)
    assert metrics.get("last_successful_fire_timestamp_seconds") == 0
    assert set(statuses(await eng.fire(channels, T0))) == {"sent"}
    stamped = metrics.get("last_successful_fire_timestamp_seconds")
    assert stamped >= T0.timestamp()

    later = T0 + timedelta(days=7)
    poster.fail_next("500", "500", "500", channel=channels[0].channel)
    eng2 = engine(
        store, poster, Digests(digest("week:2025-06-30")), clock, metrics=metrics, max_attempts=3
    )
    assert "failed" in statuses(await eng2.fire(channels, later))
    assert metrics.get("last_successful_fire_timestamp_seconds") == stamped


# --- the rate limiter (virtual time) ----------------------------------------------------------------


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # Wake in order of wake-up time: advance only as far as this sleeper asked.
        target = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, target)


async def test_limiter_keeps_global_and_channel_windows() -> None:
    vt = VirtualTime()
    lim = RateLimiter(
        global_limit=50, global_period=1.0, channel_limit=5, channel_period=5.0,
        time=vt.time, sleep=vt.sleep,
    )  # fmt: skip
    sends: list[tuple[float, str]] = []

    async def send(ch: str) -> None:
        await lim.acquire(ch)
        sends.append((vt.now, ch))

    for i in range(200):
        await send(f"c{i}")
    times = [t for t, _ in sends]
    assert all(times[i + 50] - times[i] >= 1.0 for i in range(len(times) - 50))
    assert times[-1] == pytest.approx(3.0)  # 200 at 50/s: the floor, no slower

    sends.clear()
    for _ in range(12):
        await send("busy")
    busy = [t for t, _ in sends]
    assert all(busy[i + 5] - busy[i] >= 5.0 for i in range(len(busy) - 5))


async def test_limiter_channel_wait_does_not_block_other_channels() -> None:
    vt = VirtualTime()
    lim = RateLimiter(global_limit=100, channel_limit=1, channel_period=10.0,
                      time=vt.time, sleep=vt.sleep)  # fmt: skip
    await lim.acquire("a")
    waiting = asyncio.create_task(lim.acquire("a"))  # must wait ten seconds
    await asyncio.sleep(0)
    await lim.acquire("b")  # free to go now
    assert vt.now < 10.0
    await waiting
    assert vt.now >= 10.0


async def test_limiter_honours_penalties() -> None:
    vt = VirtualTime()
    lim = RateLimiter(global_limit=None, channel_limit=None, time=vt.time, sleep=vt.sleep)
    lim.penalize("a", 2.0)
    await lim.acquire("a")
    assert vt.now >= 2.0
    lim.penalize(None, 3.0, is_global=True)
    await lim.acquire("b")
    assert vt.now >= 5.0
    assert RateLimiter.for_platform("terminal") is None
    assert RateLimiter.for_platform("discord") is not None


async def test_limiter_counts_a_request_from_when_it_completed() -> None:
    """A platform counts a request when it arrives: one that took long to get there (a new
    connection) moves its window on, so the request a window later still finds room."""
    vt = VirtualTime()
    lim = RateLimiter(global_limit=None, channel_limit=2, channel_period=10.0,
                      time=vt.time, sleep=vt.sleep)  # fmt: skip
    await lim.acquire("w")
    vt.now = 0.8  # the first call took 0.8 s to complete
    lim.sent("w")
    await lim.acquire("w")
    lim.sent("w")
    await lim.acquire("w")
    assert vt.now == pytest.approx(10.8)  # ten seconds after the first was surely there
    lim.sent("nobody")  # a key without slots: nothing to move


# --- two replicas on one PostgreSQL database -----------------------------------------------------------


async def test_two_replicas_post_once_and_one_leads(store_url: str, store_factory) -> None:
    """Two processes on one database (PostgreSQL replicas, or two on one SQLite file): one
    leads and sends, the other stays on standby; when the leader stops, the other takes over
    within one leader poll."""
    a, b = await store_factory(), await store_factory()
    channels = await subs(a, 20)
    poster = FakePoster(latency=0.002)  # one platform, seen by both processes
    d = Digests(digest("week:2025-06-23"))
    e1, e2 = engine(a, poster, d), engine(b, poster, d)  # two stores: two processes
    o1, o2 = await asyncio.gather(e1.fire(channels, T0), e2.fire(channels, T0))
    assert poster.per_channel_header() == {(str(s.channel), "week:2025-06-23"): 1 for s in channels}
    assert {frozenset(statuses(o1)), frozenset(statuses(o2))} == {
        frozenset({"sent"}),
        frozenset({"standby"}),
    }
    assert await a.pending_deliveries() == []

    from bot.delivery.scheduler import Scheduler

    clock = FakeClock(T0)
    poll = timedelta(seconds=5)
    s1 = Scheduler(a, e1, clock, refresh=None, leadership=e1.leadership, leader_poll=poll)
    s2 = Scheduler(b, e2, clock, refresh=None, leadership=e2.leadership, leader_poll=poll)
    t1, t2 = asyncio.create_task(s1.run()), asyncio.create_task(s2.run())
    await clock.wait_for_sleepers(2)
    assert sorted([s1.is_leader, s2.is_leader]) == [False, True]
    leader, follower = (s1, s2) if s1.is_leader else (s2, s1)
    await leader.stop()
    await clock.advance(poll)  # the follower looks again, and takes over
    await clock.wait_for_sleepers(1)
    assert follower.is_leader
    await follower.stop()
    await asyncio.wait_for(asyncio.gather(t1, t2), 5)


async def test_endless_429s_give_up_at_the_cap(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster(retry_after=1.0)
    poster.fail_next(*["429"] * 10)
    out = await engine(
        store, poster, Digests(digest("week:2025-06-23")), max_rate_limited=4
    ).deliver(sub)
    assert out.status == "failed" and "rate limited" in (out.error or "")
    assert poster.calls["429"] == 5 and poster.count(sub.channel) == 0


async def test_admin_notice_without_admin_channel_is_logged_once(store: Store, caplog) -> None:
    eng = DeliveryEngine(store, {}, Digests(None), clock=FakeClock(T0))
    with caplog.at_level("WARNING", logger="paperboy.delivery"):
        await eng.notify_admin("hello", "first")
        await eng.notify_admin("hello", "second")
    notices = [r for r in caplog.records if r.getMessage() == "admin notice"]
    assert [r.notice for r in notices] == ["first"]
    notice = await store.get_notice("hello")
    assert notice is not None and notice.status == "dropped" and notice.text == "first"


# --- fencing: a send goes ahead only while this process holds the lease and the row ------------


async def steal_the_lease(store: Store) -> None:
    """Another process takes the leadership lease (ours lapsed while we were not looking)."""
    assert await store.acquire_lease("scheduler", "intruder", 30.0, steal=True) is not None


async def test_a_lease_lost_while_waiting_out_a_429_stops_the_send(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster(retry_after=5.0)
    poster.fail_next("429")
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), leadership=Leadership(store))
    waited = eng.sender._sleep

    async def sleep(seconds: float) -> None:
        await steal_the_lease(store)  # while we wait, another process leads
        await waited(seconds)

    eng.sender._sleep = sleep  # type: ignore[method-assign]
    out = await eng.deliver(sub)
    assert out.status == "standby"
    assert poster.calls["429"] == 1 and poster.count(sub.channel) == 0  # checked again: not sent
    row = await store.get_delivery(sub.channel, "week:2025-06-23")
    assert row is not None and row.status == "pending"  # the new leader's to finish


class StealingPoster(FakePoster):
    """Posts, then another process takes the lease (after the first post)."""

    def __init__(self, db: Store) -> None:
        super().__init__()
        self.db = db

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        mid = await super().post(channel, message, idempotency_key)
        if len(self.posts) == 1:
            await steal_the_lease(self.db)
        return mid


async def test_a_fire_stops_delivering_as_soon_as_leadership_is_lost(store: Store) -> None:
    channels = await subs(store, 5)
    poster = StealingPoster(store)
    eng = engine(store, poster, Digests(digest("week:2025-06-23")), concurrency=1)
    outcomes = await eng.fire(channels, T0)
    assert statuses(outcomes) == ["sent", "standby", "standby", "standby", "standby"]
    assert len(poster.posts) == 1


async def test_a_standby_queues_an_admins_post_for_the_leader(store: Store, store_factory) -> None:
    (sub,) = await subs(store, 1)
    standby_store = await store_factory()  # another process on the same database
    poster = FakePoster()
    d = Digests(digest("week:2025-06-23"))
    leader = engine(store, poster, d)
    assert await leader.leadership.acquire()
    standby = engine(standby_store, poster, d)
    assert (await standby.deliver(sub)).status == "standby"  # a scheduled fire: not here
    queued = await standby.deliver(sub, queue=True)  # an admin's "post now"
    assert queued.status == "queued" and poster.count(sub.channel) == 0
    await leader.flush()  # the leader's next poll
    assert poster.count(sub.channel) == 1
    assert (await standby.deliver(sub, queue=True)).status == "nothing_new"  # posted now


# --- the same curated week, edited ------------------------------------------------------------------


def week_digest(key: str, papers: list[str]) -> Digest:
    return Digest(key, Message(header=key, kind="digest", ephemeral=False), tuple(papers))


async def test_an_edited_week_is_the_week_already_sent(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    papers = [f"p{i}" for i in range(10)]
    eng = engine(store, poster, Digests(None))
    first = await eng.deliver(sub, week_digest("week:2025-01-01", papers))
    assert first.status == "sent"
    # Re-dated, one row replaced, reordered: the same week.
    edited = week_digest("week:2024-12-30", [*reversed(papers[1:]), "new"])
    again = await eng.deliver(sub, edited)
    assert again.status == "already_sent" and again.message_id == first.message_id
    # Another week that shares a few papers is a new week.
    other = week_digest("week:2025-01-06", [*papers[:4], *(f"q{i}" for i in range(6))])
    assert (await eng.deliver(sub, other)).status == "sent"
    assert [p.header for p in poster.posts] == ["week:2025-01-01", "week:2025-01-06"]
    # Community digests are never matched by their papers (the same papers win every week).
    community = week_digest("community:2025-01-13", papers)
    assert (await eng.deliver(sub, community)).status == "sent"


async def test_a_pending_week_re_dated_is_finished_under_its_first_key(store: Store) -> None:
    (sub,) = await subs(store, 1)
    poster = FakePoster()
    papers = [f"p{i}" for i in range(10)]
    await claim(store, sub, week_digest("week:2025-01-01", papers), attempted=True)
    eng = engine(store, poster, Digests(None))
    out = await eng.deliver(sub, week_digest("week:2024-12-30", papers))
    assert out.status == "sent" and out.digest_key == "week:2025-01-01"
    assert await store.pending_deliveries() == []
    assert poster.find_calls == 1  # it had been attempted: looked first


# --- admin notices: an outbox ---------------------------------------------------------------------


async def test_an_admin_notice_is_retried_with_back_off_until_posted(store: Store) -> None:
    poster = FakePoster()
    clock = FakeClock(T0)
    eng = engine(store, poster, Digests(None), clock)
    assert await eng.leadership.acquire()
    poster.fail_next("500", "auth", channel=ADMIN)
    await eng.notify_admin("paused:x", "Paused x")  # 500: not posted
    assert poster.count(ADMIN) == 0
    await eng.flush()
    assert poster.count(ADMIN) == 0  # not due yet
    await clock.advance(timedelta(seconds=31))
    await eng.flush()  # a refused token: waits, not dropped
    notice = await store.get_notice("paused:x")
    assert notice is not None and notice.status == "pending" and notice.attempts == 2
    await clock.advance(timedelta(seconds=59))
    await eng.flush()
    assert poster.count(ADMIN) == 0  # the second wait is twice as long
    await clock.advance(timedelta(seconds=2))
    await eng.flush()
    assert poster.count(ADMIN) == 1 and poster.posts[0].text == "Paused x"
    await clock.advance(timedelta(hours=2))
    await eng.flush()
    await eng.notify_admin("paused:x", "Paused x")  # said once, ever
    assert poster.count(ADMIN) == 1


async def test_a_gone_admin_channel_drops_notices_and_says_so_once(store: Store, caplog) -> None:
    poster = FakePoster()
    eng = engine(store, poster, Digests(None))
    assert await eng.leadership.acquire()
    poster.fail_next("permanent", "permanent", channel=ADMIN)
    with caplog.at_level("ERROR", logger="paperboy.delivery"):
        await eng.notify_admin("a", "first")
        await eng.notify_admin("b", "second")
    gone = [r for r in caplog.records if "admin channel cannot be posted" in r.getMessage()]
    assert len(gone) == 1
    for key in ("a", "b"):
        notice = await store.get_notice(key)
        assert notice is not None and notice.status == "dropped"


async def test_a_standby_leaves_notices_to_the_leader(store: Store, store_factory) -> None:
    poster = FakePoster()
    leader = engine(store, poster, Digests(None))
    assert await leader.leadership.acquire()
    standby = engine(await store_factory(), poster, Digests(None))
    await standby.notify_admin("k", "from the standby")
    assert poster.count(ADMIN) == 0
    await leader.flush()
    assert poster.count(ADMIN) == 1
