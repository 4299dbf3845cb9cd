"""Discord end to end through the real core: ``App`` (config, SQLite store, archive, delivery
engine, scheduler, votes, commands) wired to the real ``DiscordAdapter`` on discord.py, talking
to the local fake Discord (REST + gateway). Schedules run on a ``FakeClock``; nothing leaves
127.0.0.1.

A scheduled digest is posted once, keyed by its nonce, with 1️⃣..🔟 seeded; ``/papers`` lookups
are acknowledged at once and answered with the real Commands' content; reactions from members
become votes while the bot's own do not; ``/papers-admin post`` respects Manage Server and the
ledger; and a restart on the same database neither posts again nor forgets the digest's votes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.clock import FakeClock
from support.discord import (
    ADMIN_PERMISSIONS,
    BOT_ID,
    CHANNEL_ID,
    EPHEMERAL,
    GUILD_ID,
    READER_ID,
    TOKEN,
    FakeDiscord,
    embed_problems,
)
from support.discord_app import (
    ADAM,
    ATTENTION,
    BEFORE_FIRE,
    CHANNEL,
    FIRE,
    NEXT_FIRE,
    OTHER_CHANNEL_ID,
    OTHER_READER,
    RESIDUAL,
    WEEK_KEY,
    bot_messages,
    command,
    settings_for,
    text_of,
)
from support.watch import VoteLog, fire_at, running

from bot.delivery.outcome import idempotency_key
from bot.platforms.discord.render import KEYCAPS


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    # A short reaction window: seeding ten keycaps is paced by it, as by Discord's bucket.
    server = FakeDiscord(guilds={GUILD_ID: [CHANNEL_ID, OTHER_CHANNEL_ID]}, reaction_window=0.02)
    await server.start()
    yield server
    await server.stop()


async def test_digest_commands_votes_admin_post_and_restart(
    tmp_path: Path, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, fake)
    assert settings.discord is not None and settings.discord.token == TOKEN
    assert settings.discord.test_guild == GUILD_ID
    clock = FakeClock(BEFORE_FIRE)
    key = idempotency_key(WEEK_KEY, CHANNEL)

    async with running(settings, clock) as app:
        assert app.store is not None
        assert set(app.adapters) == {"discord"} and app.adapters["discord"].healthy()
        assert len(fake.identifies) == 1 and fake.calls("create_message") == []
        assert {c["name"] for c in fake.synced[GUILD_ID]} == {"papers", "papers-admin"}

        # The cron instant comes: exactly one message, valid embeds, the ledger's key as nonce.
        await fire_at(app, clock, FIRE)
        [post] = fake.calls("create_message")
        assert post.path.endswith(f"/channels/{CHANNEL_ID}/messages")
        body = post.json
        assert body["nonce"] == key and body["enforce_nonce"] is True
        assert body["allowed_mentions"] == {"parse": []}
        assert len(body["embeds"]) == 1 and embed_problems(body["embeds"]) == []
        embed = body["embeds"][0]
        assert "Jun 23 – Jun 29, 2025" in embed["title"]
        desc = embed["description"]
        assert desc.index("Attention Is All You Need") < desc.index("Deep Residual Learning")
        assert "1️⃣" in desc and "3️⃣" in desc
        assert "Denoising Diffusion" not in desc  # only the newest week
        assert embed["footer"]["text"].endswith(f"ref {key}")
        [stored] = fake.stored()
        mid = stored["id"]
        # The seeder adds one keycap per paper underneath, in order, after the post.
        assert app.seeder is not None
        await app.seeder.settled()
        assert fake.reactions[int(mid)] == [(k, BOT_ID) for k in KEYCAPS[:3]]
        posted = await app.store.get_posted(CHANNEL, mid)
        assert posted is not None and posted.channel == CHANNEL
        assert posted.digest_key == WEEK_KEY and posted.paper_ids == (ATTENTION, RESIDUAL, ADAM)
        sub = await app.store.get_subscription(CHANNEL)
        assert sub is not None and sub.id is not None and sub.last_fire_at == FIRE
        row = await app.store.get_delivery(CHANNEL, WEEK_KEY)
        assert row is not None and row.status == "sent" and row.message_id == mid

        # Lookups through the real Commands, acknowledged before they are answered.
        it, found = await command(fake, "search", {"query": "residual"})
        assert "Deep Residual Learning for Image Recognition" in text_of(found)
        assert "Attention Is All You Need" not in text_of(found)
        assert it.original is not None and it.original["flags"] == EPHEMERAL
        buttons = [c for row in found["components"] for c in row["components"]]
        # Share to channel, carrying the id the core keeps this answer under.
        assert [b["custom_id"].startswith("pb:share:") for b in buttons] == [True]
        _, week = await command(fake, "week")
        for title in ("Attention Is All You Need", "Adam: A Method for Stochastic Optimization"):
            assert title in text_of(week)
        assert "Denoising Diffusion" not in text_of(week)
        _, older = await command(fake, "week", {"date": "2025-06-18"})
        assert "Denoising Diffusion Probabilistic Models" in text_of(older)
        _, shown = await command(fake, "show", {"ref": "1706.03762"})
        assert "Attention Is All You Need" in text_of(shown)
        assert "https://arxiv.org/abs/1706.03762" in text_of(shown)
        _, empty = await command(fake, "top")
        assert "No votes yet" in text_of(empty)

        # Autocomplete on show answers directly, within Discord's 25 choices.
        typed = await fake.slash("show", {"ref": "attention rout"}, focused="ref")
        await fake.wait_response(typed)
        assert [cb["type"] for cb in typed.callbacks] == [8]
        choices = typed.choices
        assert choices is not None and 0 < len(choices) <= 25
        assert len(choices) == 25  # thirty studies match: capped
        assert all(c["name"].startswith("Attention Routing Study") for c in choices)
        assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)

        # Reactions become votes: 1️⃣ by one reader, 2️⃣ by two; the bot's own 3️⃣, and a
        # keycap on a message that is no digest, change nothing.
        votes = VoteLog(app, monkeypatch)
        await fake.react(mid, "1️⃣", user=READER_ID)
        await fake.react(mid, "2️⃣", user=READER_ID)
        await fake.react(mid, "2️⃣", user=OTHER_READER)
        await fake.react(mid, "3️⃣", user=BOT_ID)
        chatter = fake.add_message(CHANNEL_ID, content="unrelated")
        await fake.react(chatter["id"], "4️⃣", user=OTHER_READER)
        await votes.wait(5)
        # Each event is handled in a task of its own: compare by what was reacted, not order.
        results = {(ev.message_id, ev.emoji, ev.user_id): ok for ev, ok in votes.seen}
        assert results == {
            (mid, "1️⃣", str(READER_ID)): True,
            (mid, "2️⃣", str(READER_ID)): True,
            (mid, "2️⃣", str(OTHER_READER)): True,
            (mid, "3️⃣", str(BOT_ID)): False,
            (chatter["id"], "4️⃣", str(OTHER_READER)): False,
        }
        bot_event = next(ev for ev, _ in votes.seen if ev.user_id == str(BOT_ID))
        assert bot_event.user_is_bot
        assert all(ev.channel == CHANNEL for ev, _ in votes.seen)

        _, top = await command(fake, "top")
        board = text_of(top)
        assert board.index("Deep Residual Learning") < board.index("Attention Is All You Need")
        assert "2 votes" in board and "1 vote" in board
        assert "Adam: A Method" not in board  # the bot's 3️⃣ is no vote

        # /papers-admin post: refused without Manage Server (before the core is asked), and
        # for an admin the ledger answers "already posted"; no second message either way.
        refused_it, refused = await command(fake, "post", group="papers-admin")
        assert refused_it.callbacks[0]["type"] == 4 and refused["flags"] & EPHEMERAL
        assert "Manage Server" in text_of(refused)
        _, admin = await command(fake, "post", group="papers-admin", permissions=ADMIN_PERMISSIONS)
        assert "already posted here" in text_of(admin)
        assert len(fake.calls("create_message")) == 1 and bot_messages(fake) == [stored]

    assert fake.connected == 0  # the App closed its gateway connection

    # Restart on the same database and the same fake Discord, a week later.
    later = FakeClock(datetime(2025, 7, 7, 8, 0, tzinfo=UTC))
    async with running(settings, later) as again:
        assert again.store is not None and again.adapters["discord"].healthy()
        assert len(fake.identifies) == 2
        # A raw reaction on the digest posted by the previous process still counts.
        again_votes = VoteLog(again, monkeypatch)
        await fake.react(mid, "3️⃣", user=OTHER_READER)
        await again_votes.wait(1)
        [(ev, changed)] = again_votes.seen
        assert changed is True and ev.message_id == mid and ev.channel == CHANNEL
        _, top = await command(fake, "top")
        assert "Adam: A Method for Stochastic Optimization" in text_of(top)
        assert "2 votes" in text_of(top)
        # The next cron instant: the same week is never posted to the channel again.
        await fire_at(again, later, NEXT_FIRE)
        assert len(fake.calls("create_message")) == 1 and bot_messages(fake) == [stored]
        sub = await again.store.get_subscription(CHANNEL)
        assert sub is not None and sub.last_fire_at == NEXT_FIRE
