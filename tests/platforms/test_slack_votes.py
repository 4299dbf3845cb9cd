"""Every vote counts, on Slack: the whole bot (``App``) on the real slack-bolt against the local
fake Slack, on a ``FakeClock``. Each test is one of the cases issue 12 reproduced:

1. a vote cast while the bot is still adding its keycaps is counted;
2. votes (and removals) made while the bot, or its socket, was down are counted;
3. keycaps are completed after a restart, after a lost reply, and after a 429;
4. "Share to channel" posts the answer the user saw;
5. two digests with the same ts in two channels keep their votes apart;
6. one user's add and remove are applied in that order even when a lookup is slow.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.clock import FakeClock
from support.slack import BOT_USER_ID, FakeSlack
from support.slack_app import (
    BEFORE_FIRE,
    CHANNEL,
    DIGEST_CHANNEL,
    FIRE,
    KEYCAPS,
    click_share,
    command,
    react,
    settings_for,
    top_votes,
)
from support.watch import VoteLog, fire_at, running, until

from bot.app import App
from bot.core.messages import ChannelRef

NEWS = "C0NEWS"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    for user, name in (("U0MEMBER", "ada"), ("U0OTHER", "grace"), ("U0THIRD", "alan")):
        server.add_user(user, name=name)
    yield server
    await server.stop()


async def fired(app: App, clock: FakeClock, fake: FakeSlack, channel: str = DIGEST_CHANNEL) -> str:
    """Fire the cron, let the keycaps go on; the digest's ts."""
    await fire_at(app, clock, FIRE)
    assert app.seeder is not None
    await app.seeder.settled()
    return str(fake.messages(channel)[-1]["ts"])


async def votes_on(app: App, ts: str, channel: ChannelRef = CHANNEL) -> set[tuple[str, str]]:
    assert app.store is not None
    return {(v.user_id, v.emoji) for v in await app.store.votes_on(channel, ts)}


# --- 1 ----------------------------------------------------------------------------------------


async def test_1_a_vote_cast_while_the_keycaps_go_on_is_counted(
    tmp_path: Path, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(BEFORE_FIRE)
    held = fake.hold("reactions.add")  # Slack takes its time over every keycap
    try:
        async with running(settings_for(tmp_path, fake, mode="socket"), clock) as app:
            votes = VoteLog(app, monkeypatch)
            await clock.set(FIRE)
            # The digest is out and the bot has begun adding its keycaps.
            await fake.wait_for(lambda: bool(fake.calls("reactions.add")), timeout=10)
            [digest] = fake.messages(DIGEST_CHANNEL)
            await react(fake, "two", digest["ts"], "U0MEMBER", event_id="EvDuring")
            await votes.wait(1)
            assert votes.seen[0][1] is True  # counted: the digest was recorded already
            held.set()
            await clock.wait_for_sleepers(1)
            assert app.scheduler is not None and app.seeder is not None
            await app.scheduler.drain()
            await app.seeder.settled()
            assert fake.bot_reactions(DIGEST_CHANNEL, digest["ts"]) == KEYCAPS[:3]
            board = top_votes(await command(fake, "top"))
            assert "Deep Residual Learning" in board and "1 vote" in board
    finally:
        held.set()


# --- 2 ----------------------------------------------------------------------------------------


async def test_2_votes_made_while_the_bot_was_down_are_counted(
    tmp_path: Path, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, fake, mode="socket")
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings, clock) as app:
        ts = await fired(app, clock, fake)
        votes = VoteLog(app, monkeypatch)
        await react(fake, "one", ts, "U0MEMBER", event_id="EvLive")
        await votes.wait(1)
        assert await votes_on(app, ts) == {("U0MEMBER", "one")}
    # While the bot is down, ada takes her vote back and grace and alan vote.
    assert not fake.connected
    await fake.react(DIGEST_CHANNEL, ts, "one", "U0MEMBER", added=False)
    await fake.react(DIGEST_CHANNEL, ts, "two", "U0OTHER")
    await fake.react(DIGEST_CHANNEL, ts, "three", "U0THIRD")
    async with running(settings, FakeClock(FIRE + timedelta(hours=3))) as again:
        assert await votes_on(again, ts) == {("U0OTHER", "two"), ("U0THIRD", "three")}
        board = top_votes(await command(fake, "top"))
        assert "Deep Residual Learning" in board and "Adam: A Method" in board
        assert "Attention Is All You Need" not in board
        assert fake.calls("reactions.get")  # read back from Slack, within its limit
        assert fake.rate_limited["reactions.get"] == 0


async def test_2_votes_made_while_the_socket_was_down_are_counted(
    tmp_path: Path, fake: FakeSlack
) -> None:
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings_for(tmp_path, fake, mode="socket"), clock) as app:
        ts = await fired(app, clock, fake)
        assert app.backfill is not None and len(app.backfill.results) == 1  # at start
        reconnecting = fake.hold("apps.connections.open", times=1)
        await fake.drop_sockets()  # the connection is lost ...
        assert await fake.react(DIGEST_CHANNEL, ts, "two", "U0OTHER") is None  # never sent
        reconnecting.set()  # ... and comes back
        await fake.wait_for(lambda: fake.connected and fake.socket_connections == 2)
        await until(lambda: len(app.backfill.results) == 2)  # read back after the reconnect
        assert await votes_on(app, ts) == {("U0OTHER", "two")}


# --- 3 ----------------------------------------------------------------------------------------


async def test_3_keycaps_are_completed_after_a_restart(tmp_path: Path, fake: FakeSlack) -> None:
    settings = settings_for(tmp_path, fake, mode="socket")
    fake.limit("reactions.add", 1, per=3600)  # one keycap, then "come back in an hour"
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings, clock) as app:
        await fire_at(app, clock, FIRE)
        await fake.wait_for(lambda: fake.rate_limited["reactions.add"] == 1, timeout=10)
        [digest] = fake.messages(DIGEST_CHANNEL)
        assert fake.bot_reactions(DIGEST_CHANNEL, digest["ts"]) == ["one"]
    fake.limit("reactions.add", 50, per=60)  # the hour has passed
    async with running(settings, FakeClock(FIRE + timedelta(hours=1))) as again:
        assert again.seeder is not None
        await again.seeder.settled()
        assert fake.bot_reactions(DIGEST_CHANNEL, digest["ts"]) == KEYCAPS[:3]
        assert len(fake.calls("chat.postMessage")) == 1


async def test_3_a_digest_found_after_a_lost_reply_gets_its_keycaps(
    tmp_path: Path, fake: FakeSlack
) -> None:
    fake.drop_next("chat.postMessage")  # stored by Slack, the reply never arrives
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings_for(tmp_path, fake, mode="socket"), clock) as app:
        await clock.set(FIRE)
        await clock.wait_for_sleepers(2)  # the scheduler, and the send backing off
        await clock.advance(timedelta(seconds=5))
        assert app.scheduler is not None and app.seeder is not None
        await app.scheduler.drain()
        await app.seeder.settled()
        [digest] = fake.messages(DIGEST_CHANNEL)  # found by its metadata, not posted again
        assert len(fake.calls("chat.postMessage")) == 1 and fake.calls("conversations.history")
        assert fake.bot_reactions(DIGEST_CHANNEL, digest["ts"]) == KEYCAPS[:3]


async def test_3_a_rate_limited_seed_waits_and_finishes(tmp_path: Path, fake: FakeSlack) -> None:
    fake.limit("reactions.add", 2, per=1.0)  # stricter than the bot was told: a 429 comes
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings_for(tmp_path, fake, mode="socket"), clock) as app:
        ts = await fired(app, clock, fake)
        assert fake.rate_limited["reactions.add"] >= 1
        assert fake.bot_reactions(DIGEST_CHANNEL, ts) == KEYCAPS[:3]


# --- 4 ----------------------------------------------------------------------------------------


async def test_4_share_posts_the_answer_the_user_saw(
    tmp_path: Path, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings_for(tmp_path, fake, mode="socket"), clock) as app:
        ts = await fired(app, clock, fake)
        votes = VoteLog(app, monkeypatch)
        await react(fake, "two", ts, "U0MEMBER", event_id="EvA")
        await votes.wait(1)
        seen = await command(fake, "top")
        assert "Deep Residual Learning" in top_votes(seen)
        # The leaderboard moves on before the user shares what they saw.
        await react(fake, "one", ts, "U0OTHER", event_id="EvB")
        await react(fake, "one", ts, "U0THIRD", event_id="EvC")
        await votes.wait(3)
        now = top_votes(await command(fake, "top"))
        assert now.index("Attention Is All You Need") < now.index("Deep Residual Learning")
        shared = await click_share(fake, seen, DIGEST_CHANNEL)
        blocks = json.dumps(shared["blocks"], ensure_ascii=False)
        assert "Deep Residual Learning" in blocks and "1 vote" in blocks
        assert "Attention Is All You Need" not in blocks
        assert shared["metadata"]["event_type"] == "paperboy_share"
        # A random pick, shared: the same paper.
        picked = await command(fake, "random")
        title = picked["blocks"][0]["text"]["text"]
        shared = await click_share(fake, picked, DIGEST_CHANNEL)
        assert shared["blocks"][0]["text"]["text"] == title


# --- 5 ----------------------------------------------------------------------------------------


async def test_5_digests_with_the_same_ts_in_two_channels_keep_their_votes_apart(
    tmp_path: Path, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, fake, mode="socket", channels=(DIGEST_CHANNEL, NEWS))
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings, clock) as app:
        fake.use_ts("1751274000.000100")  # Slack's ts is unique within a channel only
        ts = await fired(app, clock, fake)
        fake.use_ts(None)
        assert [m["ts"] for m in fake.messages(DIGEST_CHANNEL) + fake.messages(NEWS)] == [ts, ts]
        assert fake.bot_reactions(NEWS, ts) == fake.bot_reactions(DIGEST_CHANNEL, ts)
        votes = VoteLog(app, monkeypatch)
        await react(fake, "one", ts, "U0MEMBER", event_id="EvNews", channel_id=NEWS)
        await react(fake, "two", ts, "U0OTHER", event_id="EvDigest")
        await votes.wait(2)
        assert [changed for _, changed in votes.seen] == [True, True]
        here = top_votes(await command(fake, "top here"))
        assert "Deep Residual Learning" in here and "Attention Is All You Need" not in here
        news = top_votes(await command(fake, "top here", channel_id=NEWS))
        assert "Attention Is All You Need" in news and "Deep Residual Learning" not in news
        assert await votes_on(app, ts) == {("U0OTHER", "two")}
        assert await votes_on(app, ts, ChannelRef("slack", CHANNEL.workspace, NEWS)) == {
            ("U0MEMBER", "one")
        }


# --- 6 ----------------------------------------------------------------------------------------


async def test_6_one_user_s_add_then_remove_apply_in_order_despite_a_slow_lookup(
    tmp_path: Path, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_user("U0SLOW", name="slow")
    clock = FakeClock(BEFORE_FIRE)
    async with running(settings_for(tmp_path, fake, mode="socket"), clock) as app:
        ts = await fired(app, clock, fake)
        votes = VoteLog(app, monkeypatch)
        lookup = fake.hold("users.info", times=1)  # the first lookup of this user is slow
        await react(fake, "two", ts, "U0SLOW", event_id="EvAdd")
        await fake.wait_for(lambda: len(fake.calls("users.info")) == 1)
        await react(fake, "two", ts, "U0SLOW", added=False, event_id="EvRemove")
        # Give an out-of-order implementation its chance to apply the removal first.
        with contextlib.suppress(TimeoutError):
            await until(lambda: bool(votes.seen), timeout=0.5)
        lookup.set()
        await votes.wait(2)
        assert [(ev.event_id, ev.added) for ev, _ in votes.seen] == [
            ("EvAdd", True),
            ("EvRemove", False),
        ]
        assert await votes_on(app, ts) == set()  # no vote without its reaction
        assert fake.reactions(DIGEST_CHANNEL, ts) == {k: [BOT_USER_ID] for k in KEYCAPS[:3]}
