"""A large fan-out does not starve commands or votes: the whole App on the fake Discord, a
fire to many channels whose posts are held on the wire (every send slot busy, the rest
queued, the queue's depth in /metrics), and meanwhile a lookup is answered and a vote is
counted. Then the posts go through: each channel's digest once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.clock import FakeClock
from support.discord import ADMIN_PERMISSIONS, CHANNEL_ID, GUILD_ID, READER_ID, FakeDiscord
from support.discord_app import BEFORE_FIRE, FIRE, command, settings_for, text_of
from support.watch import VoteLog, running

CHANNELS = [CHANNEL_ID] + [CHANNEL_ID + 10 + i for i in range(80)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(guilds={GUILD_ID: CHANNELS}, reaction_window=0.01)
    await server.start()
    yield server
    await server.stop()


async def test_commands_and_votes_are_answered_during_a_large_fan_out(
    tmp_path: Path, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, fake, channels=CHANNELS)
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings, clock) as app:
        assert app.engine is not None and app.scheduler is not None
        # A digest to vote on, posted by an admin before the cron instant.
        await command(fake, "post", group="papers-admin", permissions=ADMIN_PERMISSIONS)
        [digest] = fake.stored(CHANNEL_ID)
        votes = VoteLog(app, monkeypatch)
        # The cron instant: every other channel is due; their posts are held on the wire.
        fake.hold_replies = asyncio.Event()
        await clock.set(FIRE)
        in_flight = app.engine.concurrency
        await fake.wait_for(lambda: len(fake.calls("create_message")) == 1 + in_flight, 10)
        queued = len(CHANNELS) - 1 - in_flight
        assert app.engine._slots.depth == queued
        assert f"paperboy_delivery_queue_depth {queued}.0" in app.metrics.render_prometheus()
        # Meanwhile a member's lookup is answered and a vote is counted.
        _, found = await command(fake, "search", {"query": "residual"})
        assert "Deep Residual Learning" in text_of(found)
        await fake.react(digest["id"], "2️⃣", user=READER_ID, channel=CHANNEL_ID)
        await votes.wait(1)
        assert votes.seen[0][1] is True
        assert app.engine._slots.depth == queued  # the fan-out was still waiting throughout
        # The posts go through: every channel has its digest once.
        fake.hold_replies.set()
        await fake.wait_for(lambda: all(len(fake.stored(c)) == 1 for c in CHANNELS), 20)
        await app.scheduler.drain()
        assert len(fake.calls("create_message")) == len(CHANNELS)
        assert app.engine._slots.depth == 0
