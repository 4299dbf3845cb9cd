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

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.clock import FakeClock
from support.discord import (
    ADMIN_PERMISSIONS,
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    EPHEMERAL,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    READER_ID,
    TOKEN,
    FakeDiscord,
    Interaction,
    embed_problems,
)

from bot.app import App
from bot.config.load import parse_config
from bot.config.settings import Settings
from bot.core.messages import ChannelRef, ReactionEvent
from bot.delivery.outcome import idempotency_key
from bot.papers.model import make_paper_id
from bot.platforms.discord.render import KEYCAPS

CHANNEL = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
OTHER_CHANNEL_ID = CHANNEL_ID + 1
OTHER_READER = READER_ID + 1
WEEK_KEY = "week:2025-06-23"
BEFORE_FIRE = datetime(2025, 6, 30, 8, 0, tzinfo=UTC)  # a Monday, an hour before the cron
FIRE = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)
NEXT_FIRE = datetime(2025, 7, 7, 9, 0, tzinfo=UTC)

# Our own small archive: two curated weeks of real papers (titles and arXiv ids are facts, the
# summaries are ours), and three older weeks of made-up "Attention Routing" studies so that
# autocomplete has more candidates than Discord's 25 choices.
WEEKLY = """\
# Picks for the Discord tests

## Top ML Papers of the Week (June 23 - June 29) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Attention Is All You Need** - Sequence transduction built from attention alone, no recurrent steps. | [Paper](https://arxiv.org/abs/1706.03762) |
| 2) **Deep Residual Learning for Image Recognition** - Skip connections let image networks grow very deep and still train. | [Paper](https://arxiv.org/abs/1512.03385) |
| 3) **Adam: A Method for Stochastic Optimization** - Adaptive step sizes from running averages of gradients and their squares. | [Paper](https://arxiv.org/abs/1412.6980) |

## Top ML Papers of the Week (June 16 - June 22) - 2025
| **Paper**  | **Links** |
| ------------- | ------------- |
| 1) **Denoising Diffusion Probabilistic Models** - A generator trained to reverse a slow noising process, step by step. | [Paper](https://arxiv.org/abs/2006.11239) |
| 2) **Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift** - Normalising layer inputs per mini-batch speeds training up. | [Paper](https://arxiv.org/abs/1502.03167) |
"""

SYNTHETIC_WEEKS = [
    ("March 3 - March 9", 0),
    ("March 10 - March 16", 10),
    ("March 17 - March 23", 20),
]

ATTENTION = make_paper_id("arxiv:1706.03762")
RESIDUAL = make_paper_id("arxiv:1512.03385")
ADAM = make_paper_id("arxiv:1412.6980")


def archive_text() -> str:
    parts = [WEEKLY]
    for label, first in SYNTHETIC_WEEKS:
        rows = [
            f"| {r}) **Attention Routing Study {first + r}** - A made-up study for the tests, "
            f"number {first + r}. | [Paper](https://example.org/papers/{first + r}) |"
            for r in range(1, 11)
        ]
        parts.append(
            f"\n## Top ML Papers of the Week ({label}) - 2024\n"
            "| **Paper**  | **Links** |\n| ------------- | ------------- |\n"
            + "\n".join(rows)
            + "\n"
        )
    return "".join(parts)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    # A short reaction window: seeding ten keycaps is paced by it, as by Discord's bucket.
    server = FakeDiscord(guilds={GUILD_ID: [CHANNEL_ID, OTHER_CHANNEL_ID]}, reaction_window=0.02)
    await server.start()
    yield server
    await server.stop()


def settings_for(tmp_path: Path, fake: FakeDiscord) -> Settings:
    """Settings as ``paperboy run`` would read them: YAML, the token from the environment."""
    weekly = tmp_path / "picks.md"
    if not weekly.exists():
        weekly.write_text(archive_text(), encoding="utf-8")
    text = f"""\
sources:
  paths: [{weekly}]
  cache_dir: {tmp_path / "cache"}
store:
  url: sqlite:///{tmp_path / "paperboy.db"}
timezone: UTC
discord:
  application_id: "{APP_ID}"
  test_guild: "{GUILD_ID}"
  api_base_url: {fake.api_url}
  gateway_url: {fake.gateway_url}
terminal:
  enabled: false
http:
  enabled: false
subscriptions:
  - platform: discord
    workspace: "{GUILD_ID}"
    channel: "{CHANNEL_ID}"
    cron: "0 9 * * MON"
    timezone: UTC
"""
    return parse_config(text, source="test.yaml", env={"DISCORD_TOKEN": TOKEN})


@asynccontextmanager
async def running(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    app = App(settings, clock=clock)
    try:
        await app.start()
        # The scheduler has planned the subscription and sleeps until its next instant.
        await clock.wait_for_sleepers(1)
        yield app
    finally:
        await app.stop()


async def fire_at(app: App, clock: FakeClock, when: datetime) -> None:
    """Move the clock to a cron instant and wait until the fire it causes has finished."""
    assert app.scheduler is not None
    await clock.set(when)
    await clock.wait_for_sleepers(1)
    await app.scheduler.drain()


async def command(
    fake: FakeDiscord,
    sub: str,
    options: dict[str, Any] | None = None,
    *,
    group: str = "papers",
    user: int = READER_ID,
    permissions: int = MEMBER_PERMISSIONS,
) -> tuple[Interaction, dict[str, Any]]:
    """``/<group> <sub>`` as a member would type it; returns the interaction and what the user
    finally sees (the edit replacing the "thinking" placeholder, or a direct answer)."""
    it = await fake.slash(sub, options or {}, command=group, user=user, permissions=permissions)
    await fake.wait_for(lambda: it.answered_at is not None)
    first = it.callbacks[0]
    assert it.latency is not None and it.latency < 3.0  # Discord's deadline
    if first["type"] == 4:
        return it, dict(first["data"])
    assert first["type"] == 5 and first["data"]["flags"] & EPHEMERAL  # private "thinking"
    [edit] = it.edits
    assert embed_problems(edit["embeds"]) == []
    assert edit["allowed_mentions"] == {"parse": []}
    return it, edit


def bot_messages(fake: FakeDiscord) -> list[dict[str, Any]]:
    """What the bot has in the digest channel (ephemeral answers are not stored there)."""
    return [m for m in fake.stored(CHANNEL_ID) if m["author"]["id"] == str(BOT_ID)]


def text_of(data: dict[str, Any]) -> str:
    return json.dumps(data.get("embeds") or [], ensure_ascii=False)


class VoteLog:
    """Wraps the App's VoteService to see each reaction the adapter hands over, and its result."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        assert app.votes is not None
        self.seen: list[tuple[ReactionEvent, bool]] = []
        real = app.votes.on_reaction

        async def on_reaction(ev: ReactionEvent) -> bool:
            changed = await real(ev)
            self.seen.append((ev, changed))
            return changed

        monkeypatch.setattr(app.votes, "on_reaction", on_reaction)

    async def wait(self, count: int) -> None:
        """Until ``count`` reactions have been handled (the fake hears nothing of that work:
        poll a few ms at a time, bounded)."""
        async with asyncio.timeout(5):
            while len(self.seen) < count:
                await asyncio.sleep(0.005)


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
        # 1️⃣..🔟 are seeded underneath, in order, by the bot.
        await fake.wait_for(lambda: len(fake.reactions.get(int(mid), [])) == 10, timeout=10)
        assert [e for e, _ in fake.reactions[int(mid)]] == list(KEYCAPS)
        posted = await app.store.get_posted("discord", mid)
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
        assert "pb:share:search residual" in [b.get("custom_id") for b in buttons]
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
