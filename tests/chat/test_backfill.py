"""Votes read back and reconciled, on both store backends: ``VoteService.reconcile`` makes a
message's votes exactly what its reactions say (idempotently, never racing a live event), and
``Backfill`` reads every message inside the vote window, newest first, waits out 429s, skips
what is gone, coalesces requests and yields to posting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from support.clock import FakeClock

from bot.chat.backfill import Backfill, ReactionReader
from bot.chat.votes import VoteService
from bot.core.errors import PermanentError, RateLimited, TransientError
from bot.core.messages import ChannelRef, ReactionEvent
from bot.delivery.seeding import SendActivity
from bot.storage import Store
from bot.storage.records import PostedDigest, Vote

T0 = datetime(2025, 7, 2, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Log at INFO, as the bot runs: a log call that breaks (a reserved ``extra`` key) fails."""
    caplog.set_level(logging.INFO)


SLACK = ChannelRef("slack", "T1", "C1")
PAPERS = ("paper1", "paper2", "paper3")


def reaction(user: str, emoji: str, *, bot: bool = False, mid: str = "1.1") -> ReactionEvent:
    return ReactionEvent(SLACK, mid, user, emoji, True, user_is_bot=bot)


async def posted(
    store: Store, mid: str = "1.1", *, at: datetime = T0, papers: tuple[str, ...] = PAPERS
) -> PostedDigest:
    p = PostedDigest(SLACK, mid, "week:2025-06-23", papers, at)
    await store.record_posted(p)
    return p


def votes_of(vs: Sequence[Vote]) -> set[tuple[str, str, str]]:
    return {(v.user_id, v.emoji, v.paper_id) for v in vs}


async def test_reconcile_makes_the_votes_what_the_reactions_say(store: Store) -> None:
    svc = VoteService(store, clock=FakeClock(T0), bot_user_ids={"UBOT"})
    digest = await posted(store)
    await svc.on_reaction(ReactionEvent(SLACK, "1.1", "U1", "one", True))
    await svc.on_reaction(ReactionEvent(SLACK, "1.1", "U2", "two", True))
    now = [
        reaction("U1", "one"),  # still there
        reaction("U3", "three"),  # added while the bot was away
        reaction("UBOT", "one"),  # the bot's own keycap (by id)
        reaction("U9", "two", bot=True),  # another bot
        reaction("U4", "tada"),  # no vote emoji
        reaction("U5", "keycap_ten"),  # a rank this digest does not have
        reaction("U6", "+1"),  # 👍 on a digest of three papers says nothing
    ]  # U2's "two" is gone

    async def read() -> list[ReactionEvent]:
        return now

    assert await svc.reconcile(digest, read) == (1, 1)
    assert votes_of(await store.votes_on(SLACK, "1.1")) == {
        ("U1", "one", "paper1"),
        ("U3", "three", "paper3"),
    }
    assert await svc.reconcile(digest, read) == (0, 0)  # idempotent
    single = await posted(store, "2.2", papers=("solo",))

    async def thumbs() -> list[ReactionEvent]:
        return [reaction("U1", "+1", mid="2.2")]

    assert await svc.reconcile(single, thumbs) == (1, 0)


async def test_a_live_event_waits_for_a_reconcile_of_its_message(store: Store) -> None:
    """Read at t0 (U1's reaction there), U1 removes it at t1 while the reconcile runs: the
    removal is applied after the reconcile, so no vote is left without its reaction."""
    svc = VoteService(store, clock=FakeClock(T0))
    digest = await posted(store)
    reading = asyncio.Event()
    release = asyncio.Event()

    async def read() -> list[ReactionEvent]:
        reading.set()
        await release.wait()
        return [reaction("U1", "one")]

    reconcile = asyncio.create_task(svc.reconcile(digest, read))
    await reading.wait()
    removal = asyncio.create_task(svc.on_reaction(ReactionEvent(SLACK, "1.1", "U1", "one", False)))
    await asyncio.sleep(0)
    assert not removal.done()
    release.set()
    assert await reconcile == (1, 0)
    assert await removal is True
    assert await store.votes_on(SLACK, "1.1") == []


class Reader:
    """A platform's reactions by message id; scripted failures per message."""

    platform = "slack"

    def __init__(self, activity: SendActivity | None = None) -> None:
        self.reactions: dict[str, list[ReactionEvent]] = {}
        self.failures: dict[str, list[Exception]] = {}
        self.reads: list[str] = []
        self.activity = activity
        self.while_posting = 0
        self.gate: asyncio.Event | None = None

    async def reactions_on(self, channel: ChannelRef, message_id: str) -> list[ReactionEvent]:
        self.reads.append(message_id)
        if self.activity is not None and self.activity.busy(self.platform):
            self.while_posting += 1
        if self.gate is not None:
            await self.gate.wait()
        failures = self.failures.get(message_id)
        if failures:
            raise failures.pop(0)
        return self.reactions.get(message_id, [])


def backfill(store: Store, reader: Reader, **kw: object) -> tuple[Backfill, list[float]]:
    """A backfill whose pauses take no time: each sleep is recorded and moves its time on."""
    slept: list[float] = []
    now = [0.0]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)

    clock = FakeClock(T0 + timedelta(days=1))
    b = Backfill(
        store,
        VoteService(store, clock=clock),
        clock=clock,
        sleep=sleep,
        time=lambda: now[0],
        **kw,  # type: ignore[arg-type]
    )
    b.readers["slack"] = reader
    return b, slept


async def test_a_run_reads_the_window_newest_first(store: Store) -> None:
    reader = Reader()
    assert isinstance(reader, ReactionReader)
    await posted(store, "old", at=T0 - timedelta(days=40))  # outside the 30-day window
    await posted(store, "a", at=T0 - timedelta(days=3))
    await posted(store, "b", at=T0)
    await store.record_posted(PostedDigest(ChannelRef("discord", "G", "D"), "c", "k", ("p",), T0))
    reader.reactions["a"] = [reaction("U1", "two", mid="a")]
    reader.reactions["b"] = [reaction("U1", "one", mid="b"), reaction("U2", "one", mid="b")]
    b, _ = backfill(store, reader, concurrency=1)
    result = await b.run("slack")
    assert reader.reads == ["b", "a"]
    assert (result.read, result.added, result.removed, result.skipped) == (2, 3, 0, 0)
    again = await b.run("slack")
    assert (again.read, again.added, again.removed) == (2, 0, 0)


async def test_429s_are_waited_out_and_gone_messages_skipped(store: Store) -> None:
    reader = Reader()
    for mid in ("limited", "gone", "flaky", "broken"):
        await posted(store, mid)
        reader.reactions[mid] = [reaction("U1", "one", mid=mid)]
    reader.failures = {
        "limited": [RateLimited(30), RateLimited(45)],
        "gone": [PermanentError("message_not_found", "gone")],
        "flaky": [TransientError("HTTP 500")],
        "broken": [TransientError("HTTP 500")] * 3,
    }
    b, slept = backfill(store, reader, attempts=3, backoff=1.0, concurrency=1)
    result = await b.run("slack")
    assert (result.read, result.added, result.skipped, result.rate_limited) == (2, 2, 2, 2)
    assert votes_of(await store.votes_on(SLACK, "limited")) == {("U1", "one", "paper1")}
    assert [s for s in slept if s >= 30] == [30, 45]  # each pause lasted its retry_after
    assert reader.reads.count("broken") == 3 and reader.reads.count("gone") == 1


async def test_requests_coalesce_and_reads_yield_to_posting(store: Store) -> None:
    activity = SendActivity()
    reader = Reader(activity)
    await posted(store, "a")
    reader.reactions["a"] = [reaction("U1", "one", mid="a")]
    b, _ = backfill(store, reader, activity=activity)
    reader.gate = asyncio.Event()
    b.request("slack")
    await asyncio.wait_for(_until(lambda: reader.reads == ["a"]), 5)
    b.request("slack")  # a reconnect while the first run reads: one more run after it
    b.request("slack")
    b.request("terminal")  # no reader there: nothing
    with activity.sending("slack"):  # a fan-out starts before the second run
        reader.gate.set()
        await asyncio.wait_for(_until(lambda: activity.waiting["slack"] == 1), 5)
        assert reader.reads == ["a"]
    await b.wait()
    assert reader.reads == ["a", "a"] and len(b.results) == 2
    assert reader.while_posting == 0


async def _until(predicate: object) -> None:
    assert callable(predicate)
    while not predicate():
        await asyncio.sleep(0.001)
