"""The web archive's store queries on both backends: private per-channel link tokens (create,
rotate, look up), what was posted in a channel, vote counts per paper, the newest vote in a
window, the leaderboard's upper bound; and an existing database gaining the token table."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from support.db import schema_version

from bot.core.errors import StoreError
from bot.core.messages import ChannelRef
from bot.storage import Store, open_store
from bot.storage.migrations import Dialect, latest_version, load_migrations
from bot.storage.records import PostedDigest, Subscription, Vote
from bot.storage.webqueries import IDS_PER_QUERY

T0 = datetime(2025, 6, 23, 9, 0, tzinfo=UTC)
GENERAL = ChannelRef("slack", "T1", "C-general")
RANDOM = ChannelRef("slack", "T1", "C-random")
GUILD = ChannelRef("discord", "G9", "42")


def vote(
    user: str,
    paper: str,
    *,
    channel: ChannelRef = GENERAL,
    message: str = "m1",
    emoji: str = "1️⃣",
    at: datetime = T0,
) -> Vote:
    return Vote(channel, message, user, emoji, paper, at)


# --- tokens ------------------------------------------------------------------------------------


async def test_a_channel_has_no_token_until_one_is_set(store: Store) -> None:
    assert await store.get_feed_token(GENERAL) is None
    await store.set_feed_token(GENERAL, "tok-general-1", T0)
    assert await store.get_feed_token(GENERAL) == "tok-general-1"
    assert await store.feed_channel("tok-general-1") == GENERAL
    assert await store.get_feed_token(RANDOM) is None
    assert await store.feed_channel("tok-unknown") is None


async def test_rotating_replaces_the_token_and_the_old_one_stops_resolving(store: Store) -> None:
    await store.set_feed_token(GENERAL, "tok-old", T0)
    await store.set_feed_token(GUILD, "tok-guild", T0)
    await store.set_feed_token(GENERAL, "tok-new", T0 + timedelta(days=1))
    assert await store.get_feed_token(GENERAL) == "tok-new"
    assert await store.feed_channel("tok-old") is None
    assert await store.feed_channel("tok-new") == GENERAL
    assert await store.feed_channel("tok-guild") == GUILD  # other channels keep theirs


async def test_two_channels_cannot_share_a_token(store: Store) -> None:
    await store.set_feed_token(GENERAL, "tok-same", T0)
    with pytest.raises(StoreError):
        await store.set_feed_token(RANDOM, "tok-same", T0)
    assert await store.feed_channel("tok-same") == GENERAL


# --- posted ------------------------------------------------------------------------------------


async def test_posted_in_is_this_channels_messages_with_papers_newest_first(store: Store) -> None:
    def posted(channel: ChannelRef, mid: str, minutes: int, ids: tuple[str, ...]) -> PostedDigest:
        return PostedDigest(channel, mid, f"k{mid}", ids, T0 + timedelta(minutes=minutes))

    rows = [
        posted(GENERAL, "1.1", 0, ("a", "b")),
        posted(GENERAL, "1.2", 5, ("c",)),
        posted(GENERAL, "1.3", 9, ()),  # no papers: not a digest
        posted(RANDOM, "2.1", 7, ("d",)),
        posted(GENERAL, "1.4", 3, ("e",)),
    ]
    for row in rows:
        await store.record_posted(row)
    got = await store.posted_in(GENERAL)
    assert [p.message_id for p in got] == ["1.2", "1.4", "1.1"]
    assert got[0] == rows[1]
    assert [p.message_id for p in await store.posted_in(GENERAL, limit=2)] == ["1.2", "1.4"]
    assert await store.posted_in(GENERAL, limit=0) == []
    assert await store.posted_in(GUILD) == []


# --- votes -------------------------------------------------------------------------------------


async def test_vote_counts_are_distinct_voters_over_every_platform(store: Store) -> None:
    for v in (
        vote("U1", "p1"),
        vote("U1", "p1", emoji="👍", message="m2"),  # the same person twice: one voter
        vote("U2", "p1"),
        vote("U1", "p1", channel=GUILD),  # U1 on Discord is another person
        vote("U3", "p2", channel=RANDOM),
        vote("U4", "p3"),
    ):
        await store.add_vote(v)
    assert await store.vote_counts(["p1", "p2", "nobody", "p1"]) == {"p1": 3, "p2": 1}
    assert await store.vote_counts([]) == {}


async def test_vote_counts_for_more_ids_than_one_query_takes(store: Store) -> None:
    ids = [f"p{i}" for i in range(IDS_PER_QUERY + 20)]
    await store.add_vote(vote("U1", ids[3]))
    await store.add_vote(vote("U1", ids[-1], message="m2"))
    assert await store.vote_counts(ids) == {ids[3]: 1, ids[-1]: 1}


async def test_last_vote_at_within_a_window(store: Store) -> None:
    assert await store.last_vote_at() is None
    times = [T0, T0 + timedelta(days=2), T0 + timedelta(days=8)]
    for i, at in enumerate(times):
        await store.add_vote(vote(f"U{i}", "p1", at=at))
    assert await store.last_vote_at() == times[2]
    week = T0 - timedelta(hours=9)  # Monday 00:00
    assert await store.last_vote_at(week, week + timedelta(days=7)) == times[1]
    assert await store.last_vote_at(since=times[2]) == times[2]
    assert await store.last_vote_at(until=times[0]) is None  # the bound is exclusive


async def test_leaderboard_until_excludes_votes_at_and_after_it(store: Store) -> None:
    await store.add_vote(vote("U1", "early", at=T0))
    await store.add_vote(vote("U2", "late", at=T0 + timedelta(days=7)))
    await store.add_vote(vote("U3", "late", at=T0 + timedelta(days=7)))
    got = await store.leaderboard(since=T0, until=T0 + timedelta(days=7))
    assert [(e.paper_id, e.votes) for e in got] == [("early", 1)]
    everything = await store.leaderboard(since=T0)
    assert [(e.paper_id, e.votes) for e in everything] == [("late", 2), ("early", 1)]


# --- an existing database ----------------------------------------------------------------------


def dialect_of(url: str) -> Dialect:
    return "postgres" if url.startswith("postgresql") else "sqlite"


async def create_version_1_database(url: str) -> None:
    """A database with only migration 1 applied (as a bot from before this change left it) and
    one subscription in it. Whatever number the token migration has, it is still to come."""
    first = load_migrations(dialect_of(url))[0]
    assert first.version == 1
    if dialect_of(url) == "sqlite":
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(url)
        for statement in first.statements():
            con.execute(statement)
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        con.execute("INSERT INTO schema_migrations VALUES (1, '2025-01-01T00:00:00.000000+00:00')")
        con.execute(
            "INSERT INTO subscriptions (platform, workspace, channel, cron, timezone, created_at,"
            " updated_at) VALUES ('slack', 'T1', 'C-general', '0 9 * * MON', 'UTC', ?, ?)",
            ("2025-01-01T00:00:00.000000+00:00",) * 2,
        )
        con.commit()
        con.close()
        return
    base, _, schema = url.rpartition("?schema=")
    conn = await asyncpg.connect(base, server_settings={"search_path": schema})
    try:
        await conn.execute(first.sql)
        await conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        await conn.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        await conn.execute(
            "INSERT INTO subscriptions (platform, workspace, channel, cron, timezone, created_at,"
            " updated_at) VALUES ('slack', 'T1', 'C-general', '0 9 * * MON', 'UTC', $1, $1)",
            datetime(2025, 1, 1, tzinfo=UTC),
        )
    finally:
        await conn.close()


async def test_an_existing_database_gains_tokens_and_keeps_its_rows(store_url: str) -> None:
    await create_version_1_database(store_url)
    store = open_store(store_url)
    await store.open()
    try:
        assert await schema_version(store) == latest_version(dialect_of(store_url))
        sub = await store.get_subscription(GENERAL)
        assert sub is not None and sub.cron == "0 9 * * MON"
        assert await store.get_feed_token(GENERAL) is None
        await store.set_feed_token(GENERAL, "tok-after-upgrade", T0)
        assert await store.feed_channel("tok-after-upgrade") == GENERAL
        fresh = await store.upsert_subscription(Subscription(RANDOM, "0 9 * * *", "UTC"))
        assert fresh.id == 2
    finally:
        await store.close()
