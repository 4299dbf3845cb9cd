"""Exactly once in ordinary operation, end to end: the whole app on SQLite and PostgreSQL, with
the real slack-bolt and discord.py clients against the local fakes.

Each curated week reaches each subscribed channel once: across unsubscribe and subscribe, across
curators' edits of a published week, across schedule changes made in chat or in the config
file, with two processes on one SQLite file, with a revoked token that comes back, with the
bot's clock running ahead of the platform's, and in a Slack channel the bot never joined.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.chat_apps import (
    DiscordSide,
    Side,
    SlackSide,
    Sub,
    discord_guilds,
    fire_at,
    fire_through,
    running,
    settings_for,
    settle,
    weekly_table,
)
from support.clock import FakeClock
from support.discord import FakeDiscord
from support.slack import FakeSlack

MONDAY_8 = datetime(2025, 1, 13, 8, 0, tzinfo=UTC)
MONDAY_9 = datetime(2025, 1, 13, 9, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)

# Ten real papers for a curated week (titles and arXiv ids are facts; the summaries are ours).
FIRST_TEN = [
    ("Attention Is All You Need", "https://arxiv.org/abs/1706.03762"),
    ("Deep Residual Learning for Image Recognition", "https://arxiv.org/abs/1512.03385"),
    ("Adam: A Method for Stochastic Optimization", "https://arxiv.org/abs/1412.6980"),
    ("Denoising Diffusion Probabilistic Models", "https://arxiv.org/abs/2006.11239"),
    ("Batch Normalization", "https://arxiv.org/abs/1502.03167"),
    ("Generative Adversarial Networks", "https://arxiv.org/abs/1406.2661"),
    ("Auto-Encoding Variational Bayes", "https://arxiv.org/abs/1312.6114"),
    ("Neural Machine Translation by Jointly Learning to Align and Translate", ""),
    ("Sequence to Sequence Learning with Neural Networks", "https://arxiv.org/abs/1409.3215"),
    ("Playing Atari with Deep Reinforcement Learning", "https://arxiv.org/abs/1312.5602"),
]
SECOND_TEN = [
    ("BERT: Pre-training of Deep Bidirectional Transformers", "https://arxiv.org/abs/1810.04805"),
    ("Language Models are Few-Shot Learners", "https://arxiv.org/abs/2005.14165"),
    ("An Image is Worth 16x16 Words", "https://arxiv.org/abs/2010.11929"),
    (
        "Learning Transferable Visual Models From Natural Language",
        "https://arxiv.org/abs/2103.00020",
    ),
    ("Scaling Laws for Neural Language Models", "https://arxiv.org/abs/2001.08361"),
    ("Training language models to follow instructions", "https://arxiv.org/abs/2203.02155"),
    ("LoRA: Low-Rank Adaptation of Large Language Models", "https://arxiv.org/abs/2106.09685"),
    ("Chain-of-Thought Prompting Elicits Reasoning", "https://arxiv.org/abs/2201.11903"),
    ("Highly accurate protein structure prediction with AlphaFold", ""),
    ("Mastering the game of Go without human knowledge", ""),
]
REPLACEMENT = ("Proximal Policy Optimization Algorithms", "https://arxiv.org/abs/1707.06347")


@pytest.fixture(params=["slack", "discord"])
async def side(request: pytest.FixtureRequest) -> AsyncIterator[Side]:
    if request.param == "slack":
        slack = FakeSlack()
        await slack.start()
        yield SlackSide(slack)
        await slack.stop()
        return
    discord = FakeDiscord(guilds=discord_guilds())
    await discord.start()
    yield DiscordSide(discord)
    await discord.stop()


def plain(reply: str) -> str:
    """An answer without escapes (JSON's, and the platform's markdown escapes)."""
    return reply.replace("\\", "")


def write(path: Path, *weeks: str) -> Path:
    path.write_text("# Picks for the tests\n\n" + "\n".join(weeks), encoding="utf-8")
    return path


# --- 1. unsubscribe and subscribe again -----------------------------------------------------


async def test_resubscribing_never_posts_a_week_the_channel_already_has(
    side: Side, store_url: str, tmp_path: Path
) -> None:
    ch = side.channels[0]
    source = write(tmp_path / "picks.md", weekly_table("January 6 - January 12", FIRST_TEN))
    settings = settings_for(side, tmp_path, store_url, [Sub(ch)], sources=[source])
    clock = FakeClock(MONDAY_8)
    async with running(settings, clock) as app:
        await fire_at(app, clock, MONDAY_9)
        assert len(side.digests(ch)) == 1
        assert "Unsubscribed" in await side.admin("unsubscribe", ch)
        assert "Subscribed" in await side.admin("subscribe 0 9 * * MON UTC", ch)
        # Posting now, the next cron instant and a restart: the channel has this week.
        assert "already posted" in await side.admin("post", ch)
        await fire_at(app, clock, MONDAY_9 + WEEK)
    assert len(side.digests(ch)) == 1
    clock = FakeClock(MONDAY_9 + WEEK + timedelta(hours=1))
    async with running(settings, clock) as app:
        assert "Unsubscribed" in await side.admin("unsubscribe", ch)
        assert "Subscribed" in await side.admin("subscribe", ch)
        await fire_at(app, clock, MONDAY_9 + 2 * WEEK)
        assert "already posted" in await side.admin("post", ch)
    assert len(side.digests(ch)) == 1


# --- 2. curators edit a week after publishing it ------------------------------------------------

TYPO = ("Neural Machine Translaton by Jointly Learning to Align and Translate", "")


async def test_curators_edits_replayed_post_each_week_once_per_channel(
    side: Side, store_url: str, tmp_path: Path
) -> None:
    """A curated source through the edits curators make: a re-dated heading, a title typo
    fixed, a row replaced and a link added, a week removed and restored. Two channels; every
    Monday a fire. Each week reaches each channel once."""
    a, b = side.channels[:2]
    first = [*FIRST_TEN[:7], TYPO, *FIRST_TEN[8:]]
    second_edited = [
        *SECOND_TEN[:4],
        REPLACEMENT,
        *SECOND_TEN[5:9],
        (SECOND_TEN[9][0], "https://www.nature.com/articles/nature24270"),
    ]
    w1 = weekly_table("January 1 - January 5", first)
    w1_redated = weekly_table("December 30 - January 5", first)
    w1_fixed = weekly_table("December 30 - January 5", FIRST_TEN)
    w2 = weekly_table("January 6 - January 12", SECOND_TEN)
    w2_edited = weekly_table("January 7 - January 13", second_edited)
    versions: list[tuple[str, ...]] = [
        (w1,),  # posted
        (w1_redated,),  # the same week, re-dated: not again
        (w2, w1_fixed),  # a new week (posted), the old one's typo fixed (not again)
        (w2_edited, w1_fixed),  # a row replaced, a link added, re-dated: not again
        (w1_fixed,),  # the new week removed: the old one is newest again, not again
        (w2_edited, w1_fixed),  # and restored: not again
    ]
    source = tmp_path / "picks.md"
    settings = settings_for(side, tmp_path, store_url, [Sub(a), Sub(b)], sources=[source])
    monday = MONDAY_9
    for weeks in versions:
        write(source, *weeks)
        clock = FakeClock(monday - timedelta(hours=1))
        async with running(settings, clock) as app:
            await fire_at(app, clock, monday)
        monday += WEEK
    for ch in (a, b):
        titles = side.digests(ch)
        assert len(titles) == 2, titles
        assert "Jan 1 – Jan 5, 2025" in titles[0] and "Jan 6 – Jan 12, 2025" in titles[1]


# --- 3. schedule changes ------------------------------------------------------------------------


async def test_a_schedule_change_first_fires_at_the_next_run_it_shows(
    side: Side, store_url: str, tmp_path: Path
) -> None:
    ch = side.channels[0]
    source = tmp_path / "picks.md"
    write(source, weekly_table("January 6 - January 12", FIRST_TEN))
    settings = settings_for(side, tmp_path, store_url, [Sub(ch)], sources=[source])
    clock = FakeClock(MONDAY_8)
    async with running(settings, clock) as app:
        await fire_at(app, clock, MONDAY_9)
    assert len(side.digests(ch)) == 1
    # A new week arrives; on Wednesday at 10:00 an admin switches to daily at 09:00.
    write(
        source,
        weekly_table("January 13 - January 19", SECOND_TEN),
        weekly_table("January 6 - January 12", FIRST_TEN),
    )
    wednesday_10 = MONDAY_9 + timedelta(days=2, hours=1)
    clock = FakeClock(wednesday_10)
    async with running(settings, clock) as app:
        reply = await side.admin("subscribe 0 9 * * * UTC", ch)
        assert "Next run: Thu 16 Jan 2025 09:00" in reply
        await settle(app, clock)
        assert len(side.digests(ch)) == 1  # not at once, although 09:00 today has passed
        await fire_at(app, clock, wednesday_10 + timedelta(hours=23))
        assert len(side.digests(ch)) == 2


async def test_a_schedule_set_in_chat_stays_until_the_config_entry_is_edited(
    side: Side, store_url: str, tmp_path: Path
) -> None:
    ch = side.channels[0]
    source = write(tmp_path / "picks.md", weekly_table("January 6 - January 12", FIRST_TEN))
    yearly = settings_for(side, tmp_path, store_url, [Sub(ch, "0 0 1 1 *")], sources=[source])
    clock = FakeClock(MONDAY_8)
    async with running(yearly, clock):
        assert "from the config file" in await side.admin("schedule", ch)
        reply = await side.admin("subscribe 0 9 * * * UTC", ch)
        assert "set in chat" in reply
    # Another start from the same file: the chat's daily schedule stands, and fires.
    clock = FakeClock(MONDAY_8 + timedelta(minutes=5))
    async with running(yearly, clock) as app:
        reply = plain(await side.admin("schedule", ch))
        assert "`0 9 * * *`" in reply and "set in chat" in reply
        await fire_at(app, clock, MONDAY_9)
        assert len(side.digests(ch)) == 1
    # The file's entry is edited: now the file's schedule applies.
    edited = settings_for(side, tmp_path, store_url, [Sub(ch, "30 8 * * *")], sources=[source])
    clock = FakeClock(MONDAY_9 + timedelta(hours=1))
    async with running(edited, clock):
        reply = plain(await side.admin("schedule", ch))
        assert "`30 8 * * *`" in reply and "from the config file" in reply


async def test_an_unsubscribe_in_chat_stays_until_the_config_entry_is_edited(
    side: Side, store_url: str, tmp_path: Path
) -> None:
    ch = side.channels[0]
    source = write(tmp_path / "picks.md", weekly_table("January 6 - January 12", FIRST_TEN))
    settings = settings_for(side, tmp_path, store_url, [Sub(ch)], sources=[source])
    async with running(settings, FakeClock(MONDAY_8)):
        reply = await side.admin("unsubscribe", ch)
        assert "stays unsubscribed until that entry is edited" in reply
    async with running(settings, FakeClock(MONDAY_8), sleepers=1) as app:
        assert "Not subscribed" in await side.admin("schedule", ch)
        await fire_at(app, app.clock, MONDAY_9)  # type: ignore[arg-type]
    assert side.digests(ch) == []
    edited = settings_for(side, tmp_path, store_url, [Sub(ch, "0 8 * * MON")], sources=[source])
    async with running(edited, FakeClock(MONDAY_8 + WEEK)):
        assert "from the config file" in await side.admin("schedule", ch)


# --- 4. two processes on one SQLite file ----------------------------------------------------------


async def test_two_processes_on_one_sqlite_file_post_each_week_once(
    side: Side, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = side.channels[:2]
    source = write(tmp_path / "picks.md", weekly_table("January 6 - January 12", FIRST_TEN))
    db = str(tmp_path / "one.sqlite3")
    settings = settings_for(side, tmp_path, db, [Sub(a), Sub(b)], sources=[source])
    first, second = FakeClock(MONDAY_8), FakeClock(MONDAY_8)
    side.slow_replies(0.2)  # the two processes' sends overlap
    with caplog.at_level(logging.INFO):
        async with running(settings, first) as one, running(settings, second) as two:
            await asyncio.gather(first.set(MONDAY_9), second.set(MONDAY_9))  # both at once
            for clock, app in ((first, one), (second, two)):
                await settle(app, clock)
            assert [len(side.digests(ch)) for ch in (a, b)] == [1, 1]
            assert "already posted" in await side.admin("post", a)
            assert one.scheduler is not None and two.scheduler is not None
            assert one.scheduler.is_leader and not two.scheduler.is_leader
    assert any("standby" in r.getMessage() for r in caplog.records)
    assert [len(side.digests(ch)) for ch in (a, b)] == [1, 1]


# --- 7. an admin notice that could not be posted --------------------------------------------------


async def test_admin_notices_wait_for_a_revoked_token_to_work_again(
    side: Side, store_url: str, tmp_path: Path
) -> None:
    a, b, admin = side.channels
    source = write(tmp_path / "picks.md", weekly_table("January 6 - January 12", FIRST_TEN))
    settings = settings_for(
        side, tmp_path, store_url, [Sub(a), Sub(b)], sources=[source], admin_channel=admin
    )
    clock = FakeClock(MONDAY_8)
    async with running(settings, clock) as app:
        side.revoke()
        await fire_at(app, clock, MONDAY_9)
        assert app.store is not None
        subs = await app.store.list_subscriptions()
        assert [s.enabled for s in subs] == [False, False]  # paused: the token is refused
        assert side.messages(admin) == []
    side.restore()
    clock = FakeClock(MONDAY_9 + timedelta(hours=1))
    async with running(settings, clock, sleepers=0):
        pass
    notices = side.messages(admin)
    assert len(notices) == 2
    text = str(notices)
    assert a in text and b in text and "Paused" in text
    clock = FakeClock(MONDAY_9 + timedelta(hours=2))
    async with running(settings, clock, sleepers=0):
        pass
    assert len(side.messages(admin)) == 2  # once


# --- 8. recovery does not trust the local clock -------------------------------------------------


@pytest.mark.parametrize("skew", [timedelta(seconds=70), timedelta(days=6)], ids=["70s", "6d"])
async def test_a_crash_after_the_send_is_recovered_with_the_bots_clock_ahead(
    side: Side, store_url: str, tmp_path: Path, skew: timedelta, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform stored the digest, then the process died before the ledger knew. The bot's
    clock runs ahead of the platform's; the restart happens long after the platform's
    idempotency window (Discord's nonce) has closed."""
    ch = side.channels[0]
    if isinstance(side, DiscordSide):
        side.fake.nonce_window = 0.0
    if isinstance(side, SlackSide):
        side.fake.add_channel(ch, member=True)  # history is readable: only the clocks matter
    source = write(tmp_path / "picks.md", weekly_table("January 6 - January 12", FIRST_TEN))
    settings = settings_for(side, tmp_path, store_url, [Sub(ch, "* * * * *")], sources=[source])
    now = datetime.now(UTC).replace(second=0, microsecond=0) + skew
    clock = FakeClock(now)
    async with running(settings, clock) as app:
        assert app.store is not None

        async def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the process died here")

        monkeypatch.setattr(app.store, "record_posted", crash)
        await fire_at(app, clock, now + timedelta(minutes=1))
        assert len(side.digests(ch)) == 1
        monkeypatch.undo()
    clock = FakeClock(now + timedelta(minutes=1, seconds=30))
    async with running(settings, clock) as app:
        await fire_at(app, clock, now + timedelta(minutes=2))
    assert len(side.digests(ch)) == 1


# --- 9. Slack: a public channel the bot never joined -----------------------------------------------


async def test_slack_verifies_a_post_in_a_channel_it_never_joined_without_pausing(
    store_url: str, tmp_path: Path
) -> None:
    fake = FakeSlack()
    await fake.start()
    try:
        side = SlackSide(fake)
        a, b = side.channels[:2]
        for ch in (a, b):
            fake.add_channel(ch)  # public; the bot is no member
        source = write(tmp_path / "picks.md", weekly_table("January 6 - January 12", FIRST_TEN))
        settings = settings_for(side, tmp_path, store_url, [Sub(a), Sub(b)], sources=[source])
        clock = FakeClock(MONDAY_8)
        async with running(settings, clock) as app:
            fake.drop_next("chat.postMessage", times=2)  # stored, then the replies are lost
            await fire_through(app, clock, MONDAY_9, timedelta(seconds=30))
            assert app.store is not None
            subs = await app.store.list_subscriptions()
            assert [s.enabled for s in subs] == [True, True]
            assert "active" in await side.admin("schedule", a)
        assert [len(side.digests(ch)) for ch in (a, b)] == [1, 1]
        assert fake.is_member(a) and fake.is_member(b)
    finally:
        await fake.stop()


async def test_slack_pauses_only_for_a_private_channel_it_cannot_see(
    store_url: str, tmp_path: Path
) -> None:
    fake = FakeSlack()
    await fake.start()
    try:
        side = SlackSide(fake)
        secret = side.channels[0]
        fake.add_channel(secret, private=True)
        source = write(tmp_path / "picks.md", weekly_table("January 6 - January 12", FIRST_TEN))
        settings = settings_for(side, tmp_path, store_url, [Sub(secret)], sources=[source])
        clock = FakeClock(MONDAY_8)
        async with running(settings, clock) as app:
            await fire_at(app, clock, MONDAY_9)
            assert app.store is not None
            [sub] = await app.store.list_subscriptions()
            assert not sub.enabled and sub.paused_reason == "channel_not_found"
        assert side.digests(secret) == []
    finally:
        await fake.stop()
