"""Every vote counts, on Discord: the whole bot (``App``) on the real discord.py against the
local fake Discord (REST + gateway), on a ``FakeClock``. The cases issue 12 reproduced:

2. votes (and removals) made while the bot, or its gateway session, was down are counted;
3. keycaps under a 50-channel fan-out survive 429s longer than discord.py will wait (its own
   ``RateLimited``) and a restart, with no "Task exception was never retrieved";
4. "Share to channel" posts the answer the user saw.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.clock import FakeClock
from support.discord import BOT_ID, CHANNEL_ID, EPHEMERAL, GUILD_ID, READER_ID, FakeDiscord
from support.discord_app import (
    BEFORE_FIRE,
    CHANNEL,
    FIRE,
    OTHER_READER,
    command,
    settings_for,
    text_of,
)
from support.watch import NoCommands, SleepTime, VoteLog, fire_at, running, until

from bot.app import App
from bot.delivery.ratelimit import RateLimiter
from bot.delivery.seeding import Seeder
from bot.platforms.discord import DiscordAdapter
from bot.platforms.discord.render import KEYCAPS
from bot.storage import open_store
from bot.storage.records import PostedDigest

THIRD_READER = READER_ID + 2
FANOUT = [CHANNEL_ID + i for i in range(50)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(guilds={GUILD_ID: FANOUT})
    await server.start()
    yield server
    await server.stop()


def keycaps_on(fake: FakeDiscord, mid: str) -> list[str]:
    return [e for e, user in fake.reactions.get(int(mid), []) if user == BOT_ID]


async def votes_on(app: App, mid: str) -> set[tuple[str, str]]:
    assert app.store is not None
    return {(v.user_id, v.emoji) for v in await app.store.votes_on(CHANNEL, mid)}


async def fired(app: App, clock: FakeClock, fake: FakeDiscord) -> str:
    await fire_at(app, clock, FIRE)
    assert app.seeder is not None
    await app.seeder.settled()
    [digest] = fake.stored(CHANNEL_ID)
    return str(digest["id"])


# --- 2 ----------------------------------------------------------------------------------------


async def test_2_votes_made_while_the_bot_was_down_are_counted(
    tmp_path: Path, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, fake)
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings, clock) as app:
        mid = await fired(app, clock, fake)
        votes = VoteLog(app, monkeypatch)
        await fake.react(mid, "1️⃣")
        await votes.wait(1)
        assert await votes_on(app, mid) == {(str(READER_ID), "1️⃣")}
    # While the bot is down: the reader takes the vote back, two others vote.
    await fake.react(mid, "1️⃣", added=False, deliver=False)
    await fake.react(mid, "2️⃣", user=OTHER_READER, deliver=False)
    await fake.react(mid, "3️⃣", user=THIRD_READER, deliver=False)
    async with running(settings, FakeClock(FIRE + timedelta(hours=3))) as again:
        assert await votes_on(again, mid) == {
            (str(OTHER_READER), "2️⃣"),
            (str(THIRD_READER), "3️⃣"),
        }
        assert fake.calls("get_message") and fake.calls("reaction_users")
        _, top = await command(fake, "top")
        assert "Deep Residual Learning" in text_of(top) and "Adam: A Method" in text_of(top)
        assert "Attention Is All You Need" not in text_of(top)


async def test_2_votes_made_while_the_gateway_session_was_lost_are_counted(
    tmp_path: Path, fake: FakeDiscord
) -> None:
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings_for(tmp_path, fake), clock) as app:
        mid = await fired(app, clock, fake)
        assert app.backfill is not None and len(app.backfill.results) == 1  # at start
        await fake.react(mid, "2️⃣", user=OTHER_READER, deliver=False)  # never dispatched
        fake.reject_resume = True  # the session cannot be resumed: Discord replays nothing
        await fake.drop()
        await until(lambda: len(fake.identifies) == 2 and fake.connected == 1)
        await until(lambda: len(app.backfill.results) == 2)  # read back after the new session
        assert await votes_on(app, mid) == {(str(OTHER_READER), "2️⃣")}


# --- 3 ----------------------------------------------------------------------------------------


async def test_3_keycaps_under_a_fan_out_survive_long_429s_and_a_restart(
    tmp_path: Path, fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, fake, channels=FANOUT)
    # Every channel's first keycap meets a 429 longer than discord.py waits for by itself.
    fake.fail_next("add_reaction", 429, retry_after=3600, times=len(FANOUT))
    clock = FakeClock(BEFORE_FIRE)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        async with running(settings, clock) as app:
            await fire_at(app, clock, FIRE)
            assert len(fake.calls("create_message")) == len(FANOUT)
            await until(lambda: fake.too_many_429 == len(FANOUT), timeout=30)
            assert app.store is not None and len(await app.store.seed_jobs()) == len(FANOUT)
        gc.collect()
        assert "never retrieved" not in caplog.text
    digests = {c: str(fake.stored(c)[0]["id"]) for c in FANOUT}
    assert all(keycaps_on(fake, mid) == [] for mid in digests.values())
    # A restart (the hour has not passed, but the bot goes down and up again) finishes them.
    async with running(settings, FakeClock(FIRE + timedelta(minutes=5))) as again:
        assert again.seeder is not None
        await asyncio.wait_for(again.seeder.settled(), 60)
        assert {c: keycaps_on(fake, mid) for c, mid in digests.items()} == {
            c: list(KEYCAPS[:3]) for c in FANOUT
        }
        assert len(fake.calls("create_message")) == len(FANOUT)  # nothing posted twice


async def test_3_a_429_longer_than_discord_py_waits_is_waited_out_then_seeding_goes_on(
    tmp_path: Path, fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """The real adapter and seeder; the seeder's pause clock is fake, so waiting out an hour
    takes no time and the wait is visible."""
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    await store.open()
    adapter = DiscordAdapter(
        token="fake.discord.bot-token",
        commands=NoCommands(),
        reactions=NoCommands(),
        api_base_url=fake.api_url,
        gateway_url=fake.gateway_url,
        guild_ready_timeout=0.05,
    )
    clock = SleepTime()
    adapter.seed_limiter = RateLimiter(
        global_limit=None, channel_limit=1, channel_period=0.25, time=clock.time, sleep=clock.sleep
    )
    seeder = Seeder(store, clock=FakeClock())
    seeder.targets["discord"] = adapter
    await adapter.start()
    try:
        mid = str(fake.add_message(CHANNEL_ID, author_id=BOT_ID)["id"])
        posted = PostedDigest(CHANNEL, mid, "week:2025-06-23", ("a", "b", "c"), FakeClock().now())
        fake.fail_next("add_reaction", 429, retry_after=3600)
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            await seeder.enqueue(posted)
            seeder.start()
            await asyncio.wait_for(seeder.settled(), 30)
            gc.collect()
        assert keycaps_on(fake, mid) == list(KEYCAPS[:3])
        assert seeder.stats["rate_limited"] == 1 and max(clock.slept) >= 3600
        assert "never retrieved" not in caplog.text
    finally:
        await seeder.stop()
        await adapter.stop()
        await store.close()


# --- 4 ----------------------------------------------------------------------------------------


async def test_4_share_posts_the_answer_the_user_saw(
    tmp_path: Path, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings_for(tmp_path, fake), clock) as app:
        mid = await fired(app, clock, fake)
        votes = VoteLog(app, monkeypatch)
        await fake.react(mid, "2️⃣")
        await votes.wait(1)
        it, seen = await command(fake, "top")
        assert "Deep Residual Learning" in text_of(seen)
        # The leaderboard moves on before the user shares what they saw.
        await fake.react(mid, "1️⃣", user=OTHER_READER)
        await fake.react(mid, "1️⃣", user=THIRD_READER)
        await votes.wait(3)
        _, now = await command(fake, "top")
        assert text_of(now).index("Attention Is All") < text_of(now).index("Deep Residual")
        share = next(
            c["custom_id"]
            for row in seen["components"]
            for c in row["components"]
            if c["custom_id"].startswith("pb:share:")
        )
        assert it.original is not None
        before = len(fake.stored(CHANNEL_ID))
        await fake.click(it.original, share)

        def shared() -> list[dict[str, Any]]:
            return [
                m
                for m in fake.stored(CHANNEL_ID)[before:]
                if str(m.get("content") or "").startswith("Shared by") and m.get("embeds")
            ]

        await until(lambda: bool(shared()))
        [public] = shared()
        assert not public["flags"] & EPHEMERAL
        assert public["embeds"] == seen["embeds"]  # exactly what was shown
        assert "Attention Is All You Need" not in json.dumps(public["embeds"])
