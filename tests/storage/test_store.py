"""The Store protocol on both backends (the ``store`` fixture runs each test on SQLite and, when
reachable, PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from support.db import count_sent, schema_version, vote_count

from bot.core.errors import StoreError
from bot.core.messages import Button, ChannelRef, Field, Link, Message, Reply, Section
from bot.storage import Store, open_store
from bot.storage.migrations import latest_version, split_statements
from bot.storage.postgres import PostgresStore
from bot.storage.records import (
    Delivery,
    Fence,
    LeaderboardEntry,
    PostedDigest,
    SeedJob,
    Share,
    Subscription,
    Vote,
)
from bot.storage.sqlite import (
    SqliteStore,
    _enable_wal,
    from_db_time,
    numbered_params,
    to_db_time,
)

StoreFactory = Callable[[], Awaitable[Store]]  # the conftest fixture

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
GENERAL = ChannelRef("slack", "T1", "C-general")
RANDOM = ChannelRef("slack", "T1", "C-random")
GUILD = ChannelRef("discord", "G9", "42")


def weekly(channel: ChannelRef = GENERAL, **changes: object) -> Subscription:
    sub = Subscription(channel=channel, cron="0 9 * * MON", timezone="Europe/Berlin")
    return replace(sub, **changes)  # type: ignore[arg-type]


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


def is_utc(dt: datetime | None) -> bool:
    return dt is not None and dt.tzinfo is not None and dt.utcoffset() == timedelta(0)


# --- opening, migrations ------------------------------------------------------------------------


async def test_open_applies_all_migrations_and_is_idempotent(
    store: Store, store_factory: StoreFactory
) -> None:
    assert await schema_version(store) == latest_version("sqlite") == latest_version("postgres")
    await store.open()  # opening an open store is a no-op
    again = await store_factory()
    assert await schema_version(again) == await schema_version(store)


async def test_replicas_starting_together_migrate_once(store_url: str) -> None:
    a, b = open_store(store_url), open_store(store_url)
    try:
        await asyncio.gather(a.open(), b.open())
        assert await schema_version(a) == await schema_version(b) == latest_version("sqlite")
    finally:
        await a.close()
        await b.close()


async def test_opening_logs_the_schema_version(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    latest = latest_version("sqlite")
    caplog.set_level(logging.INFO, logger="paperboy.store")
    for expected_from in (0, latest):  # a new database, then the same one again
        store = open_store(store_url)
        await store.open()
        await store.close()
        opened = [r for r in caplog.records if r.getMessage() == "store opened"][-1]
        assert opened.__dict__["schema_version"] == latest
        assert opened.__dict__["migrated_from"] == expected_from
        assert opened.__dict__["store"] == store.url


class Switching:
    """A connection whose WAL switch fails with ``errors`` first (as two processes opening a new
    file at once can see), then succeeds."""

    def __init__(self, *errors: sqlite3.OperationalError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def execute(self, sql: str) -> None:
        assert sql == "PRAGMA journal_mode = WAL"
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code
    return exc


async def test_sqlite_wal_switch_retries_while_another_opener_holds_the_file() -> None:
    busy, recovery = sqlite_error("database is locked", 5), sqlite_error("locked", 261)
    db = Switching(busy, recovery, busy)
    await _enable_wal(db, within=5.0)  # type: ignore[arg-type]
    assert db.calls == 4


async def test_sqlite_wal_switch_gives_up_after_the_timeout_and_on_other_errors() -> None:
    db = Switching(*[sqlite_error("database is locked", 5)] * 100)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await _enable_wal(db, within=0.05)  # type: ignore[arg-type]
    assert 2 <= db.calls < 100
    db = Switching(sqlite_error("disk I/O error", 10))
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        await _enable_wal(db, within=5.0)  # type: ignore[arg-type]
    assert db.calls == 1


async def test_sqlite_creates_parent_directory_only_when_asked(tmp_path: Path) -> None:
    """A typo'd directory is an error, not a new directory; the default location (the app
    passes create_dir for .paperboy/) is created."""
    path = tmp_path / "deep" / "er" / "paperboy.db"
    with pytest.raises(StoreError, match=r"the directory .*deep/er does not exist"):
        await SqliteStore(str(path)).open()
    assert not (tmp_path / "deep").exists()
    store = open_store(f"sqlite:///{path}", create_dir=True)
    await store.open()
    try:
        assert path.exists()
        assert store.url == f"sqlite:///{path}"
    finally:
        await store.close()


def test_sqlite_url_without_a_path_is_refused() -> None:
    """SQLite would quietly open a temporary database for an empty path."""
    with pytest.raises(StoreError, match="names no SQLite file"):
        open_store("sqlite:///")


async def test_sqlite_in_memory() -> None:
    store = open_store(":memory:")
    await store.open()
    try:
        assert await store.add_vote(vote("u1", "p1"))
        assert await vote_count(store) == 1
    finally:
        await store.close()


async def test_sqlite_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path))  # a directory, not a database file
    with pytest.raises(StoreError, match="cannot open SQLite database"):
        await store.open()


async def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "x.db"))
    with pytest.raises(StoreError, match="not open"):
        await vote_count(store)


async def test_unreachable_postgres_is_one_line_with_password_masked() -> None:
    store = PostgresStore("postgresql://paperboy:s3cr3t-pw@127.0.0.1:1/paperboy")
    assert store.url == "postgresql://paperboy:***@127.0.0.1:1/paperboy"
    with pytest.raises(StoreError) as info:
        await store.open()
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert "postgresql://paperboy:***@127.0.0.1:1/paperboy" in message
    assert message.startswith("cannot connect to PostgreSQL at ")
    assert "\n" not in message


async def test_bad_postgres_url_is_a_store_error() -> None:
    store = PostgresStore("postgresql://u:hunter2@localhost:notaport/db")
    with pytest.raises(StoreError) as info:
        await store.open()
    assert "hunter2" not in str(info.value)


async def test_unknown_postgres_database_is_a_store_error(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    url = urlunsplit(urlsplit(store_url)._replace(path="/pb_no_such_database"))
    with pytest.raises(StoreError, match="pb_no_such_database"):
        await PostgresStore(url).open()


async def test_bad_schema_name_is_rejected() -> None:
    with pytest.raises(StoreError, match="invalid schema name"):
        await PostgresStore("postgresql://u@localhost/db?schema=Robert'); DROP").open()


def test_statement_splitter_drops_comments_and_blank_statements() -> None:
    sql = "-- header; with a semicolon\nCREATE TABLE a (x INT);\n\nCREATE INDEX i ON a (x); -- c\n"
    assert split_statements(sql) == ["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]


def test_sqlite_time_text_is_fixed_width_and_round_trips() -> None:
    berlin = timezone(timedelta(hours=2))
    local = datetime(2024, 5, 6, 11, 0, tzinfo=berlin)
    text = to_db_time(local)
    assert text == "2024-05-06T09:00:00.000000+00:00"
    assert from_db_time(text) == local
    assert to_db_time(datetime(2024, 5, 6, 9, 0)) == text  # naive is taken as UTC


def test_sqlite_gets_the_shared_placeholders_with_the_same_numbers() -> None:
    sql = "VALUES ($1, $2, $10, $10) LIMIT $11"
    assert numbered_params(sql) == "VALUES (?1, ?2, ?10, ?10) LIMIT ?11"


# --- subscriptions -----------------------------------------------------------------------------


async def test_subscription_upsert_get_list_delete(store: Store) -> None:
    created = await store.upsert_subscription(weekly())
    assert created.id is not None
    assert created.channel == GENERAL and created.enabled and created.kind == "curated"
    other = await store.upsert_subscription(weekly(GUILD, kind="community"))
    assert other.id != created.id

    assert await store.get_subscription(GENERAL) == created
    assert await store.get_subscription_by_id(created.id) == created
    assert await store.get_subscription(RANDOM) is None
    assert await store.get_subscription_by_id(9999) is None
    assert [s.channel for s in await store.list_subscriptions()] == [GENERAL, GUILD]

    updated = await store.upsert_subscription(weekly(kind="community"))
    assert updated.id == created.id and updated.kind == "community"
    assert len(await store.list_subscriptions()) == 2

    assert await store.delete_subscription(GENERAL)
    assert not await store.delete_subscription(GENERAL)
    assert await store.get_subscription(GENERAL) is None
    assert [s.channel for s in await store.list_subscriptions()] == [GUILD]


async def test_upsert_keeps_last_fire_unless_schedule_changes(store: Store) -> None:
    sub = await store.upsert_subscription(weekly())
    assert sub.id is not None and sub.last_fire_at is None
    await store.set_last_fire(sub.id, T0)

    same = await store.upsert_subscription(weekly(kind="community"))
    assert same.last_fire_at == T0
    again = await store.upsert_subscription(weekly(last_fire_at=None))
    assert again.last_fire_at == T0

    new_cron = await store.upsert_subscription(weekly(cron="0 8 * * FRI"))
    assert new_cron.last_fire_at is None
    await store.set_last_fire(sub.id, T0)
    new_tz = await store.upsert_subscription(weekly(cron="0 8 * * FRI", timezone="UTC"))
    assert new_tz.last_fire_at is None
    assert new_tz.id == sub.id


async def test_pause_and_resume(store: Store) -> None:
    sub = await store.upsert_subscription(weekly())
    other = await store.upsert_subscription(weekly(GUILD))
    assert sub.id is not None and other.id is not None

    await store.set_paused(sub.id, "channel_not_found")
    paused = await store.get_subscription_by_id(sub.id)
    assert paused is not None
    assert not paused.enabled and paused.paused_reason == "channel_not_found"
    assert [s.id for s in await store.list_subscriptions(enabled_only=True)] == [other.id]
    assert len(await store.list_subscriptions()) == 2

    await store.set_paused(sub.id, None)
    resumed = await store.get_subscription_by_id(sub.id)
    assert resumed is not None and resumed.enabled and resumed.paused_reason is None
    assert len(await store.list_subscriptions(enabled_only=True)) == 2


async def test_datetimes_round_trip_as_utc(store: Store) -> None:
    plus_five = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2024, 5, 6, 14, 30, 0, 123456, tzinfo=plus_five)
    sub = await store.upsert_subscription(weekly(last_fire_at=local))
    assert sub.id is not None
    assert sub.last_fire_at == local and is_utc(sub.last_fire_at)

    await store.set_last_fire(sub.id, local + timedelta(days=7))
    got = await store.get_subscription_by_id(sub.id)
    assert got is not None and got.last_fire_at == local + timedelta(days=7)
    assert is_utc(got.last_fire_at)

    delivery, _ = await store.claim_delivery(GENERAL, "week:2024-05-06", "k", local)
    assert delivery.created_at == local and is_utc(delivery.created_at)
    await store.record_posted(PostedDigest(GENERAL, "m", "week:2024-05-06", ("p1",), local))
    posted = await store.get_posted(GENERAL, "m")
    assert posted is not None and posted.posted_at == local and is_utc(posted.posted_at)


# --- delivery ledger ---------------------------------------------------------------------------


async def claim(
    store: Store, key: str, channel: ChannelRef = GENERAL, *, sub_id: int | None = 1, idem: str = ""
) -> tuple[Delivery, bool]:
    return await store.claim_delivery(
        channel, key, idem or f"k-{key}", T0, subscription_id=sub_id, paper_ids=("p1", "p2")
    )


async def leader(store: Store, owner: str = "me", ttl: float = 30.0) -> Fence:
    token = await store.acquire_lease("scheduler", owner, ttl)
    assert token is not None
    return Fence(owner, "scheduler", token, ttl)


async def test_claim_twice_returns_the_same_row(store: Store) -> None:
    first, created = await claim(store, "week:2024-05-06", idem="pb-1-abc")
    assert created
    assert (first.channel, first.digest_key, first.subscription_id) == (
        GENERAL,
        "week:2024-05-06",
        1,
    )
    assert (first.status, first.attempts, first.message_id, first.owner) == (
        "pending",
        0,
        None,
        None,
    )
    assert first.idempotency_key == "pb-1-abc" and first.paper_ids == ("p1", "p2")
    assert first.created_at == first.updated_at == T0

    second, created_again = await store.claim_delivery(
        GENERAL, "week:2024-05-06", "pb-1-other", T0 + timedelta(minutes=1), subscription_id=2
    )
    assert not created_again
    assert second == first  # the original key, subscription and timestamps are kept

    _, other_digest = await claim(store, "week:2024-05-13")
    _, other_channel = await claim(store, "week:2024-05-06", RANDOM)
    assert other_digest and other_channel


async def test_the_ledger_is_the_channels_across_subscriptions(store: Store) -> None:
    sub = await store.upsert_subscription(weekly())
    row, _ = await claim(store, "week:a", sub_id=sub.id)
    fence = await leader(store)
    assert await store.take_delivery(row.id, fence, T0) is not None
    assert await store.complete_delivery(row.id, "me", "msg", T0)

    assert await store.delete_subscription(GENERAL)
    kept = await store.get_delivery(GENERAL, "week:a")
    assert kept is not None and kept.subscription_id == sub.id and kept.status == "sent"

    fresh = await store.upsert_subscription(weekly())
    assert fresh.id != sub.id  # ids are never reused
    assert await store.sent_digest_keys(GENERAL) == {"week:a"}  # but the history is the channel's
    again, created = await claim(store, "week:a", sub_id=fresh.id)
    assert not created and again.id == row.id and again.status == "sent"
    assert [r.id for r in await store.channel_deliveries(GENERAL)] == [row.id]
    assert await store.channel_deliveries(RANDOM) == []


async def test_concurrent_claims_from_two_instances_create_exactly_one(
    store: Store, store_factory: StoreFactory
) -> None:
    replica = await store_factory()
    for n in range(10):
        key = f"week:2024-{n + 1:02d}-01"
        results = await asyncio.gather(
            claim(store, key, idem=f"a{n}"),
            claim(replica, key, idem=f"b{n}"),
            claim(store, key, idem=f"c{n}"),
            claim(replica, key, idem=f"d{n}"),
        )
        assert sum(created for _, created in results) == 1
        assert len({row.id for row, _ in results}) == 1
        assert len({row.idempotency_key for row, _ in results}) == 1


async def test_search_after_is_a_message_already_sent_to_the_channel(store: Store) -> None:
    fence = await leader(store)
    first, _ = await claim(store, "week:a")
    assert first.search_after is None  # nothing posted here yet
    await store.take_delivery(first.id, fence, T0)
    await store.complete_delivery(first.id, "me", "1715000000.000100", T0)
    elsewhere, _ = await claim(store, "week:b", RANDOM)
    second, _ = await claim(store, "week:b")
    assert elsewhere.search_after is None and second.search_after == "1715000000.000100"


async def test_attempts_completion_and_pending(store: Store) -> None:
    fence = await leader(store)
    row, _ = await claim(store, "week:a")
    other, _ = await claim(store, "week:b")
    assert [d.id for d in await store.pending_deliveries()] == [row.id, other.id]

    attempt = await store.begin_attempt(row.id, fence, T0 + timedelta(seconds=1))
    assert attempt is not None and attempt.attempts == 1 and attempt.owner == "me"
    assert attempt.updated_at == T0 + timedelta(seconds=1)
    again = await store.begin_attempt(row.id, fence, T0 + timedelta(seconds=2))
    assert again is not None and again.attempts == 2
    assert [d.id for d in await store.pending_deliveries(unowned=True)] == [other.id]

    assert await store.complete_delivery(
        row.id, "me", "1715000000.000100", T0 + timedelta(seconds=3)
    )
    done = await store.get_delivery(GENERAL, "week:a")
    assert done is not None
    assert (done.status, done.message_id, done.attempts) == ("sent", "1715000000.000100", 2)
    assert done.updated_at == T0 + timedelta(seconds=3) and done.created_at == T0
    assert [d.id for d in await store.pending_deliveries()] == [other.id]
    assert await store.get_delivery_by_id(row.id) == done

    await store.take_delivery(other.id, fence, T0)
    assert await store.complete_delivery(other.id, "me", None, T0, status="skipped")
    skipped = await store.get_delivery(GENERAL, "week:b")
    assert skipped is not None and skipped.status == "skipped" and skipped.message_id is None
    assert await store.pending_deliveries() == []
    assert await store.get_delivery(GENERAL, "week:zzz") is None
    assert await store.begin_attempt(row.id, fence, T0) is None  # settled: never again


async def test_a_row_is_sent_only_under_a_valid_lease_by_its_holder(
    store: Store, store_factory: StoreFactory
) -> None:
    """Fencing: marking an attempt checks, in one statement, that the row is pending, nobody
    else holds it, and the marker still holds the leadership lease with the same token;
    completing checks that the completer still holds the row."""
    if isinstance(store, SqliteStore):
        pytest.skip("on SQLite the lease changes hands only when its holder has exited")
    other_process = await store_factory()
    a = await leader(store, "a")
    row, _ = await claim(store, "week:a")
    assert await store.begin_attempt(row.id, a, T0) is not None
    # b cannot lead while a does, and cannot take a's row even with a lease of its own.
    assert await other_process.acquire_lease("scheduler", "b", 30.0) is None
    await store.release_lease("scheduler", "a")
    b = await leader(other_process, "b")
    assert b.token == a.token + 1  # the lease changed hands: a new fencing token
    assert await other_process.begin_attempt(row.id, b, T0) is None  # a still holds the row
    # a lost the lead: its next attempt is refused, although it still holds the row.
    assert await store.begin_attempt(row.id, a, T0) is None
    assert await store.take_delivery(row.id, replace(a, token=b.token), T0) is None  # not a's
    # Once a lets go (or its hold lapses), b takes the row; a can no longer settle it.
    assert await store.release_deliveries("a") == 1
    taken = await other_process.begin_attempt(row.id, b, T0)
    assert taken is not None and taken.owner == "b" and taken.attempts == 2
    assert not await store.complete_delivery(row.id, "a", "a's post", T0)
    assert await other_process.complete_delivery(row.id, "b", "b's post", T0)
    done = await store.get_delivery(GENERAL, "week:a")
    assert done is not None and done.message_id == "b's post"


async def test_a_lapsed_hold_can_be_taken_over(store: Store) -> None:
    a = Fence("a", "scheduler", 0, 0.0)  # a hold that lapses at once (the database's clock)
    b = await leader(store, "b")
    row, _ = await claim(store, "week:a")
    a = replace(a, token=b.token)
    await store.release_lease("scheduler", "b")
    a_token = await store.acquire_lease("scheduler", "a", 30.0)
    assert a_token is not None
    assert await store.take_delivery(row.id, replace(a, token=a_token), T0) is not None
    await store.release_lease("scheduler", "a")
    b = await leader(store, "b")
    taken = await store.take_delivery(row.id, b, T0)
    assert taken is not None and taken.owner == "b"


async def test_release_deliveries_of_others(store: Store) -> None:
    a = await leader(store, "a")
    rows = [(await claim(store, f"week:{n}"))[0] for n in "ab"]
    for row in rows:
        await store.take_delivery(row.id, a, T0)
    assert await store.release_deliveries("b", others=True) == 2
    assert [r.owner for r in await store.pending_deliveries()] == [None, None]


async def test_complete_with_a_bad_status_is_refused(store: Store) -> None:
    row, _ = await claim(store, "week:a")
    with pytest.raises(ValueError):
        await store.complete_delivery(row.id, "me", None, T0, status="pending")


async def test_sent_digest_keys_and_count_sent(store: Store) -> None:
    fence = await leader(store)
    for channel, key, status in [
        (GENERAL, "week:a", "sent"),
        (GENERAL, "week:b", "skipped"),
        (GENERAL, "week:c", None),
        (RANDOM, "week:a", "sent"),
        (RANDOM, "week:b", "sent"),
    ]:
        row, _ = await claim(store, key, channel)
        if status is not None:
            await store.take_delivery(row.id, fence, T0)
            await store.complete_delivery(row.id, "me", f"msg-{channel}-{key}", T0, status=status)

    assert await store.sent_digest_keys(GENERAL) == {"week:a", "week:b"}
    assert await store.sent_digest_keys(RANDOM) == {"week:a", "week:b"}
    assert await store.sent_digest_keys(GUILD) == set()
    assert await count_sent(store) == 3
    assert await count_sent(store, GENERAL) == 1
    assert await count_sent(store, RANDOM) == 2
    assert await count_sent(store, GUILD) == 0


async def test_config_applied_per_channel(store: Store) -> None:
    assert await store.config_applied(GENERAL) is None
    await store.set_config_applied(GENERAL, "h1", T0)
    await store.set_config_applied(GENERAL, "h2", T0)
    assert await store.config_applied(GENERAL) == "h2"
    assert await store.config_applied(RANDOM) is None
    sub = await store.upsert_subscription(weekly(origin="config"))
    assert sub.origin == "config"
    assert (await store.upsert_subscription(weekly())).origin == "chat"


# --- the admin-notice outbox ---------------------------------------------------------------------


async def test_notices_are_queued_once_and_retried_until_finished(
    store: Store, store_factory: StoreFactory
) -> None:
    replica = await store_factory()
    assert await store.add_notice("paused:x", "Paused x", T0)
    assert not await replica.add_notice("paused:x", "Paused x again", T0)  # once, ever
    assert await store.next_notice_at() == T0
    [due] = await store.due_notices(T0)
    assert (due.key, due.text, due.status, due.attempts) == ("paused:x", "Paused x", "pending", 0)
    later = T0 + timedelta(seconds=30)
    claims = await asyncio.gather(
        store.claim_notice("paused:x", T0, later), replica.claim_notice("paused:x", T0, later)
    )
    assert sum(c is not None for c in claims) == 1  # one replica tries it
    assert await store.due_notices(T0) == [] and await store.next_notice_at() == later
    [again] = await store.due_notices(later)
    assert again.attempts == 1
    await store.finish_notice("paused:x", "posted", "m1", later)
    done = await store.get_notice("paused:x")
    assert done is not None and done.status == "posted" and done.message_id == "m1"
    assert await store.next_notice_at() is None and await store.due_notices(later) == []


# --- posted digests ------------------------------------------------------------------------------


async def test_record_and_get_posted(store: Store) -> None:
    posted = PostedDigest(GENERAL, "1715.0001", "week:2024-05-06", ("p1", "p2", "p3"), T0)
    await store.record_posted(posted)
    assert await store.get_posted(GENERAL, "1715.0001") == posted
    assert await store.get_posted(GUILD, "1715.0001") is None

    moved = replace(posted, digest_key="week:2024-05-13", paper_ids=("p9",))
    await store.record_posted(moved)  # upsert on (channel, message_id)
    assert await store.get_posted(GENERAL, "1715.0001") == moved


async def test_the_same_message_id_in_two_channels_is_two_messages(store: Store) -> None:
    """A Slack ts is unique only within its channel: two digests may share one."""
    here = PostedDigest(GENERAL, "1715.0001", "week:a", ("p1", "p2"), T0)
    there = PostedDigest(RANDOM, "1715.0001", "week:b", ("p7", "p8"), T0)
    await store.record_posted(here)
    await store.record_posted(there)
    assert await store.get_posted(GENERAL, "1715.0001") == here
    assert await store.get_posted(RANDOM, "1715.0001") == there
    assert await store.add_vote(vote("U1", "p1", message="1715.0001"))
    assert await store.add_vote(vote("U1", "p7", channel=RANDOM, message="1715.0001"))
    assert [v.paper_id for v in await store.votes_on(GENERAL, "1715.0001")] == ["p1"]
    assert await store.remove_vote(RANDOM, "1715.0001", "U1", "1️⃣")
    assert [v.paper_id for v in await store.votes_on(GENERAL, "1715.0001")] == ["p1"]
    assert await store.votes_on(RANDOM, "1715.0001") == []


async def test_posted_since_is_newest_first_with_papers_on_one_platform(store: Store) -> None:
    old = PostedDigest(GENERAL, "m1", "week:a", ("p1",), T0 - timedelta(days=40))
    mid = PostedDigest(GENERAL, "m2", "week:b", ("p2",), T0 - timedelta(days=3))
    new = PostedDigest(RANDOM, "m3", "week:c", ("p3",), T0)
    empty = PostedDigest(GENERAL, "m4", "notice", (), T0)
    other = PostedDigest(GUILD, "m5", "week:c", ("p3",), T0)
    for p in (old, mid, new, empty, other):
        await store.record_posted(p)
    assert await store.posted_since("slack", T0 - timedelta(days=30)) == [new, mid]
    assert await store.posted_since("discord", T0 - timedelta(days=30)) == [other]


async def test_latest_posted_is_newest_with_papers_in_that_channel(store: Store) -> None:
    assert await store.latest_posted(GENERAL) is None
    older = PostedDigest(GENERAL, "m1", "week:a", ("p1",), T0)
    newer = PostedDigest(GENERAL, "m2", "week:b", ("p2", "p3"), T0 + timedelta(days=7))
    empty = PostedDigest(GENERAL, "m3", "notice", (), T0 + timedelta(days=8))
    elsewhere = PostedDigest(RANDOM, "m4", "week:c", ("p4",), T0 + timedelta(days=9))
    for p in (newer, older, empty, elsewhere):
        await store.record_posted(p)
    assert await store.latest_posted(GENERAL) == newer
    assert await store.latest_posted(RANDOM) == elsewhere
    assert await store.latest_posted(GUILD) is None
    assert await store.get_posted(GENERAL, "m3") == empty


# --- seed jobs ---------------------------------------------------------------------------------


async def test_seed_jobs_keep_what_is_left_in_order_until_done(store: Store) -> None:
    keycaps = ("one", "two", "three")
    first = SeedJob(GENERAL, "1715.0001", keycaps, T0)
    second = SeedJob(RANDOM, "1715.0001", ("1️⃣", "🔟"), T0 + timedelta(seconds=1))
    assert await store.add_seed_job(second)
    assert await store.add_seed_job(first)
    assert not await store.add_seed_job(replace(first, emoji=("nine",)))  # the first one stays
    assert await store.seed_jobs() == [first, second]

    await store.update_seed_job(GENERAL, "1715.0001", ("two", "three"), 0, T0)
    await store.update_seed_job(RANDOM, "1715.0001", ("🔟",), 2, T0)
    assert await store.seed_jobs() == [
        replace(first, emoji=("two", "three")),
        replace(second, emoji=("🔟",), attempts=2),
    ]
    assert await store.seed_jobs(limit=1) == [replace(first, emoji=("two", "three"))]
    await store.delete_seed_job(GENERAL, "1715.0001")
    assert [j.channel for j in await store.seed_jobs()] == [RANDOM]


# --- shared answers -----------------------------------------------------------------------------


def shown_answer() -> Reply:
    """A private answer with everything a Message can hold, as the user saw it."""
    msg = Message(
        header="🎲 Attention Is All You Need",
        url="https://example.org/week",
        text="One paper, picked for you.",
        sections=(
            Section(
                title="Attention Is All You Need",
                url="https://arxiv.org/abs/1706.03762",
                body='Attention alone, "no recurrence" <b>at all</b>.',
                rank=1,
                links=(Link("Paper", "https://arxiv.org/abs/1706.03762"),),
                bullets=("id 1706.03762",),
                paper_id="arxiv-1706.03762",
            ),
        ),
        fields=(Field("arXiv", "1706.03762"),),
        context=("React 👍 on a shared paper to vote for it.",),
        buttons=(
            Button("Open", url="https://example.org/p"),
            Button("Share to channel", action="share", value="s1"),
        ),
    )
    return Reply(msg, paper_ids=("arxiv-1706.03762",), digest_key="paper:arxiv-1706.03762")


async def test_a_share_keeps_the_answer_exactly(store: Store) -> None:
    share = Share("s1", GENERAL, "U1", shown_answer(), T0, T0 + timedelta(hours=24))
    await store.save_share(share)
    assert await store.get_share("s1") == share
    assert await store.get_share("s2") is None


async def test_expired_shares_are_forgotten_now_and_then(store: Store) -> None:
    old = Share("old", GENERAL, "U1", shown_answer(), T0, T0 + timedelta(hours=1))
    await store.save_share(old)
    later = T0 + timedelta(days=2)
    await store.save_share(Share("new", GENERAL, "U1", shown_answer(), later, later))
    assert await store.get_share("old") is None
    assert await store.get_share("new") is not None


# --- votes and leaderboards --------------------------------------------------------------------


async def test_add_remove_and_re_add_vote(store: Store) -> None:
    v = vote("U1", "p1")
    assert await store.add_vote(v)
    assert not await store.add_vote(v)
    assert not await store.add_vote(replace(v, at=T0 + timedelta(hours=1)))
    assert await store.add_vote(replace(v, emoji="2️⃣", paper_id="p2"))
    assert await store.add_vote(replace(v, user_id="U2"))
    assert await vote_count(store) == 3

    assert await store.remove_vote(GENERAL, "m1", "U1", "1️⃣")
    assert not await store.remove_vote(GENERAL, "m1", "U1", "1️⃣")
    assert not await store.remove_vote(GUILD, "m1", "U2", "1️⃣")
    assert await vote_count(store) == 2
    assert await store.add_vote(v)
    assert await vote_count(store) == 3


async def test_leaderboard_counts_distinct_voters(store: Store) -> None:
    # U1 votes for p1 twice (two messages) and with two emoji: one voter.
    await store.add_vote(vote("U1", "p1", message="m1", emoji="1️⃣"))
    await store.add_vote(vote("U1", "p1", message="m2", emoji="3️⃣"))
    await store.add_vote(vote("U1", "p1", message="m2", emoji="👍"))
    await store.add_vote(vote("U2", "p1"))
    # The same user id on another platform is another person.
    await store.add_vote(vote("U1", "p2", channel=GUILD))
    assert await store.add_vote(vote("U1", "p2", message="m3"))
    await store.add_vote(vote("U3", "p3"))

    board = await store.leaderboard()
    assert [(e.paper_id, e.votes) for e in board] == [("p1", 2), ("p2", 2), ("p3", 1)]
    assert [e.paper_id for e in await store.leaderboard(limit=2)] == ["p1", "p2"]
    assert await store.leaderboard(limit=0) == []


async def test_leaderboard_window_and_scopes(store: Store) -> None:
    week_ago = T0 - timedelta(days=7)
    await store.add_vote(vote("U1", "old", at=week_ago - timedelta(seconds=1)))
    await store.add_vote(vote("U2", "edge", at=week_ago))
    await store.add_vote(vote("U3", "new", at=T0))
    await store.add_vote(vote("U4", "new", channel=RANDOM, at=T0))
    await store.add_vote(vote("U5", "new", channel=GUILD, at=T0))
    await store.add_vote(vote("U6", "gg", channel=GUILD, at=T0))

    def pairs(board: list[LeaderboardEntry]) -> list[tuple[str, int]]:
        return [(e.paper_id, e.votes) for e in board]

    assert pairs(await store.leaderboard(since=week_ago)) == [("new", 3), ("edge", 1), ("gg", 1)]
    assert pairs(await store.leaderboard(since=T0 + timedelta(seconds=1))) == []
    in_berlin = week_ago.astimezone(timezone(timedelta(hours=2)))
    assert await store.leaderboard(since=in_berlin) == await store.leaderboard(since=week_ago)

    assert pairs(await store.leaderboard(platform="discord")) == [("gg", 1), ("new", 1)]
    assert pairs(await store.leaderboard(platform="slack", workspace="T1")) == [
        ("new", 2),
        ("edge", 1),
        ("old", 1),
    ]
    assert pairs(await store.leaderboard(platform="slack", channel="C-random")) == [("new", 1)]
    assert pairs(await store.leaderboard(workspace="nope")) == []


async def test_many_concurrent_votes(store: Store) -> None:
    votes = [vote(f"U{i}", f"p{i % 3}", message=f"m{i % 5}") for i in range(200)]
    results = await asyncio.gather(*(store.add_vote(v) for v in votes + votes[:50]))
    assert sum(results) == 200
    assert await vote_count(store) == 200
    board = await store.leaderboard()
    assert sum(e.votes for e in board) == 200


# --- events and leadership ---------------------------------------------------------------------


async def test_mark_event_dedupes_across_replicas(
    store: Store, store_factory: StoreFactory
) -> None:
    replica = await store_factory()
    assert await store.mark_event("Ev1", T0)
    assert not await store.mark_event("Ev1", T0 + timedelta(seconds=5))
    assert not await replica.mark_event("Ev1", T0 + timedelta(seconds=5))
    assert await replica.mark_event("Ev2", T0)


async def test_old_events_are_pruned(store: Store) -> None:
    assert await store.mark_event("Ev1", T0)
    assert not await store.mark_event("Ev1", T0 + timedelta(hours=23))
    later = T0 + timedelta(days=2)
    assert await store.mark_event("Ev2", later)  # prunes entries older than a day
    assert await store.mark_event("Ev1", later + timedelta(seconds=1))


async def test_leases_renew_change_hands_and_expire(
    store: Store, store_factory: StoreFactory
) -> None:
    replica = await store_factory()
    token = await store.acquire_lease("scheduler", "a", 30.0)
    assert token is not None
    assert await store.acquire_lease("scheduler", "a", 30.0) == token  # renewing keeps it
    assert await store.lease_holder("scheduler") == ("a", token)
    assert await replica.acquire_lease("scheduler", "b", 30.0) is None
    assert await replica.acquire_lease("janitor", "b", 30.0) is not None  # another lease

    await store.release_lease("scheduler", "a")
    await store.release_lease("scheduler", "a")  # releasing what is not held is harmless
    assert await store.lease_holder("scheduler") is None
    if isinstance(store, SqliteStore):  # no expiry: the OS lock stays with its process
        assert await replica.acquire_lease("scheduler", "b", 0.0) == token + 1
        assert await store.acquire_lease("scheduler", "a", 30.0) is None
        return
    b = await replica.acquire_lease("scheduler", "b", 0.0)  # expires at once
    assert b == token + 1
    a_again = await store.acquire_lease("scheduler", "a", 30.0)  # expired: anyone may take it
    assert a_again == token + 2


async def test_sqlite_one_writer_per_file(tmp_path: Path) -> None:
    """Two processes on one SQLite file: the second cannot lead while the first holds the OS
    lock beside the file, however long ago the lease was renewed; once the first has gone, the
    second leads at once and holds every row the first held."""
    path = str(tmp_path / "one.sqlite3")
    first, second = SqliteStore(path), SqliteStore(path)
    await first.open()
    await second.open()
    try:
        token = await first.acquire_lease("scheduler", "first", 0.0)  # lapsed at once...
        assert token is not None and Path(first.lock_path("scheduler")).exists()
        assert await second.acquire_lease("scheduler", "second", 30.0) is None  # ...still first's
        fence = Fence("first", "scheduler", token, 30.0)
        await first.acquire_lease("scheduler", "first", 30.0)
        row, _ = await claim(first, "week:a")
        assert await first.begin_attempt(row.id, fence, T0) is not None
        await first.close()  # the process exits (however it dies, the OS frees its lock)
        taken = await second.acquire_lease("scheduler", "second", 30.0)
        assert taken == token + 1
        fence2 = Fence("second", "scheduler", taken, 30.0)
        held = await second.begin_attempt(row.id, fence2, T0)
        assert held is not None and held.owner == "second" and held.attempts == 2
    finally:
        await first.close()
        await second.close()


# --- follows and their alert ledger -------------------------------------------------------------


async def test_follows_are_per_person_limited_and_deleted(store: Store) -> None:
    from bot.storage.records import Person

    me, other = Person("slack", "T1", "U1"), Person("slack", "T2", "U1")  # another workspace
    assert await store.add_follow(me, "diffusion", "C1", T0, limit=2) == "added"
    assert await store.add_follow(me, "diffusion", "C1", T0, limit=2) == "exists"
    assert await store.add_follow(me, "author:vaswani", "C2", T0, limit=2) == "added"
    assert await store.add_follow(me, "agents", "C2", T0, limit=2) == "full"
    assert await store.add_follow(other, "agents", "C9", T0, limit=2) == "added"
    assert [f.spec for f in await store.list_follows(me)] == ["diffusion", "author:vaswani"]
    assert await store.follower(me) == ("C2", None)
    assert await store.pause_follows(me, "closed", T0) is True
    assert await store.pause_follows(me, "closed", T0) is False  # told once
    assert await store.active_follows() == [(other, "agents")]
    first = (await store.list_follows(me))[0]
    assert await store.delete_follow(other, first.id) is False  # not theirs
    assert await store.delete_follow(me, first.id) is True
    assert await store.delete_follows(me) == 1
    assert await store.list_follows(me) == [] and await store.follower(me) is None


async def test_an_alert_is_claimed_once_and_attempted_once(store: Store) -> None:
    from bot.storage.records import Person

    me = Person("discord", "G1", "42")
    assert await store.claim_follow_alert(me, "week:2025-06-23", ("p1", "p2"), T0) is True
    assert await store.claim_follow_alert(me, "week:2025-06-23", ("p3",), T0) is False
    (row,) = await store.follow_alerts(unsent_only=True)
    assert (row.paper_ids, row.status, row.attempts) == (("p1", "p2"), "pending", 0)
    tries = await asyncio.gather(
        *(store.begin_follow_alert(me, "week:2025-06-23", f"o{i}", T0) for i in range(5))
    )
    assert sorted(tries) == [False] * 4 + [True]
    assert await store.follow_alerts(unsent_only=True) == []
    await store.finish_follow_alert(me, "week:2025-06-23", "sent", "m1", T0)
    (done,) = await store.follow_alerts("week:2025-06-23")
    assert (done.status, done.message_id, done.attempts) == ("sent", "m1", 1)
