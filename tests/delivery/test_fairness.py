"""Fairness: deliveries take turns by server (round-robin by workspace), whatever order the
scheduler hands them over in; the queue's depth is a metric."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from support.clock import FakeClock
from support.fakeplatform import FakePoster

from bot.core.messages import ChannelRef, Message
from bot.delivery.digest import Digest
from bot.delivery.engine import DeliveryEngine
from bot.delivery.fairness import FairSlots
from bot.delivery.leadership import Leadership
from bot.ops.metrics import Metrics
from bot.storage import Store
from bot.storage.records import Subscription

T0 = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)


async def test_waiters_are_served_round_robin_by_key() -> None:
    depths: list[int] = []
    slots = FairSlots(1, on_depth=depths.append)
    order: list[str] = []
    gate = asyncio.Event()

    async def holder() -> None:
        async with slots.slot("first"):
            await gate.wait()

    async def one(key: str) -> None:
        async with slots.slot(key):
            order.append(key)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    keys = ["A"] * 5 + ["B"] * 2 + ["C"] * 2
    tasks = [asyncio.create_task(one(k)) for k in keys]
    await asyncio.sleep(0)
    assert slots.depth == 9
    gate.set()
    await asyncio.gather(first, *tasks)
    assert order == ["A", "B", "C", "A", "B", "C", "A", "A", "A"]  # "first" had its turn
    assert slots.depth == 0 and slots.active == 0
    assert max(depths) == 9 and depths[-1] == 0


async def test_a_cancelled_waiter_loses_no_slot() -> None:
    slots = FairSlots(1)
    gate = asyncio.Event()

    async def holder() -> None:
        async with slots.slot("x"):
            await gate.wait()

    async def one(key: str) -> str:
        async with slots.slot(key):
            return key

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    gone, stays = asyncio.create_task(one("a")), asyncio.create_task(one("b"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    assert slots.depth == 1
    gate.set()
    assert await stays == "b"
    await first
    assert slots.active == 0 and slots.depth == 0


class OneDigest:
    def __init__(self) -> None:
        self.digest = Digest("week:2025-06-23", Message(header="d", kind="digest"), ("p1",))

    async def next_digest(
        self, sub: Subscription, sent_keys: set[str], now: datetime
    ) -> Digest | None:
        return None if self.digest.key in sent_keys else self.digest

    async def digest_for(
        self, sub: Subscription, key: str, paper_ids: tuple[str, ...] = ()
    ) -> Digest | None:
        return None


async def test_a_big_server_does_not_make_the_others_wait(store: Store) -> None:
    """A server with twenty subscribed channels and two with two each, handed over big one
    first: the small ones are posted in the first rounds, not after the big fan-out."""
    subs = []
    for workspace, n in (("big", 20), ("small1", 2), ("small2", 2)):
        for i in range(n):
            ch = ChannelRef("fake", workspace, f"{workspace}-{i}")
            subs.append(await store.upsert_subscription(Subscription(ch, "0 9 * * MON", "UTC")))
    poster = FakePoster()
    metrics = Metrics()
    engine = DeliveryEngine(
        store,
        {"fake": poster},
        OneDigest(),
        clock=FakeClock(T0, auto_advance=True),
        metrics=metrics,
        concurrency=1,
        leadership=Leadership(store),
    )
    outcomes = await engine.fire(subs, T0)
    assert {o.status for o in outcomes} == {"sent"}
    order = [p.channel.workspace for p in poster.posts]
    assert order[:6] == ["big", "small1", "small2", "big", "small1", "small2"]
    assert order[6:] == ["big"] * 18
    assert "paperboy_delivery_queue_depth 0.0" in metrics.render_prometheus()
