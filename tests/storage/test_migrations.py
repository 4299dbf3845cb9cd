"""Migrations written once for both dialects: the expansion of the shared 0001 is exactly the schema
the two per-dialect files it replaced created (kept verbatim in tests/fixtures/storage), a
database those files created opens and keeps its rows, and dialect override files work."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest
from support.db import schema_version
from support.paths import FIXTURES

from bot.core.messages import ChannelRef
from bot.storage import open_store
from bot.storage.migrations import (
    DIALECTS,
    Dialect,
    expand,
    latest_version,
    load_migrations,
    split_statements,
)
from bot.storage.records import Delivery, PostedDigest, Subscription, Vote

OLD_FILES = FIXTURES / "storage"
T0 = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
GENERAL = ChannelRef("slack", "T1", "C-general")

# What the stores created before migrations were single-source (unchanged since).
OLD_SCHEMA_MIGRATIONS = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    "postgres": "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
}


def fold(sql: str) -> str:
    return " ".join(sql.split())


def old_sql(dialect: Dialect) -> str:
    return (OLD_FILES / f"0001_initial.{dialect}.sql").read_text(encoding="utf-8")


def dialect_of(url: str) -> Dialect:
    return "postgres" if url.startswith("postgresql") else "sqlite"


# --- the expanded files ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_expanded_0001_is_statement_for_statement_the_file_it_replaced(dialect: Dialect) -> None:
    first = load_migrations(dialect)[0]
    assert (first.version, first.name) == (1, "initial")
    expanded = [fold(s) for s in first.statements()]
    assert expanded == [fold(s) for s in split_statements(old_sql(dialect))]
    assert "{{" not in first.sql


def test_both_dialects_have_the_same_versions() -> None:
    names = {d: [(m.version, m.name) for m in load_migrations(d)] for d in DIALECTS}
    assert names["sqlite"] == names["postgres"]
    assert latest_version("sqlite") == latest_version("postgres") >= 1


# --- databases: old files vs the expansion -----------------------------------------------------


def sqlite_catalog(path: str) -> dict[str, Any]:
    """Every table and index (auto indexes too): its normalised SQL and its columns."""
    con = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {}
        rows = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        for kind, name, table, sql in rows.fetchall():
            if table == "schema_migrations":
                continue
            pragma = "table_xinfo" if kind == "table" else "index_xinfo"
            columns = con.execute(f'PRAGMA {pragma}("{name}")').fetchall()
            out[name] = (kind, table, sql and fold(sql), columns)
        return out
    finally:
        con.close()


async def postgres_catalog(conn: asyncpg.Connection, schema: str) -> dict[str, Any]:
    """Columns (types, nullability, defaults, identity), constraints and indexes of ``schema``."""
    columns = await conn.fetch(
        "SELECT table_name, column_name, ordinal_position, data_type, udt_name, is_nullable,"
        " column_default, is_identity, identity_generation FROM information_schema.columns"
        " WHERE table_schema = $1 AND table_name <> 'schema_migrations'"
        " ORDER BY table_name, ordinal_position",
        schema,
    )
    constraints = await conn.fetch(
        "SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)"
        " FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relname <> 'schema_migrations' ORDER BY 1, 2",
        schema,
    )
    indexes = await conn.fetch(
        "SELECT tablename, indexname, replace(indexdef, $1 || '.', '') FROM pg_indexes"
        " WHERE schemaname = $1 AND tablename <> 'schema_migrations' ORDER BY 1, 2",
        schema,
    )
    return {
        "columns": [tuple(r) for r in columns],
        "constraints": [tuple(r) for r in constraints],
        "indexes": [tuple(r) for r in indexes],
    }


def pg_parts(url: str) -> tuple[str, str]:
    """(url without ``schema=``, schema) of a test store URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = dict(query)["schema"]
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


async def test_expanded_0001_creates_the_schema_the_old_files_created(store_url: str) -> None:
    """Not the store's full migration: only 0001, so later migrations do not change the check."""
    expanded = load_migrations(dialect_of(store_url))[0]
    if dialect_of(store_url) == "sqlite":
        new_path, old_path = f"{store_url}.new", f"{store_url}.old"
        Path(new_path).parent.mkdir(parents=True, exist_ok=True)
        for path, sql in ((new_path, expanded.sql), (old_path, old_sql("sqlite"))):
            con = sqlite3.connect(path)
            con.executescript(sql)
            con.close()
        catalog = sqlite_catalog(new_path)
        assert catalog == sqlite_catalog(old_path)
        assert catalog["subscriptions"][3][0] == (0, "id", "INTEGER", 0, None, 1, 0)
        assert "sqlite_autoindex_subscriptions_1" in catalog and "sqlite_sequence" in catalog
        return
    dsn, schema = pg_parts(store_url)
    conn = await asyncpg.connect(dsn)
    old = f"{schema}_old"
    try:
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(expanded.sql)
        await conn.execute(f'CREATE SCHEMA "{old}"; SET search_path TO "{old}"')
        await conn.execute(old_sql("postgres"))
        catalog = await postgres_catalog(conn, schema)
        assert catalog == await postgres_catalog(conn, old)
        assert ("posted", "paper_ids", 6, "ARRAY", "_text", "NO", "'{}'::text[]", "NO", None) in (
            catalog["columns"]
        )
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{old}" CASCADE')
        await conn.close()


# --- a database created before this change -----------------------------------------------------

OLD_ROWS: dict[str, dict[str, Any]] = {
    "subscriptions": {
        "platform": "slack",
        "workspace": "T1",
        "channel": "C-general",
        "cron": "0 9 * * MON",
        "timezone": "Europe/Berlin",
        "kind": "community",
        "enabled": False,
        "paused_reason": "channel_not_found",
        "last_fire_at": T0,
        "created_at": T0 - timedelta(days=30),
        "updated_at": T0,
    },
    "deliveries": {
        "subscription_id": 1,
        "digest_key": "week:2024-05-06",
        "idempotency_key": "pb-1-abc",
        "status": "sent",
        "message_id": "1715000000.0001",
        "attempts": 2,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=3),
    },
    "posted": {
        "platform": "slack",
        "message_id": "1715000000.0001",
        "workspace": "T1",
        "channel": "C-general",
        "digest_key": "week:2024-05-06",
        "paper_ids": ("2405.00001", "2405.00002"),
        "posted_at": T0 + timedelta(seconds=3),
    },
    "votes": {
        "platform": "slack",
        "message_id": "1715000000.0001",
        "user_id": "U1",
        "emoji": "2️⃣",
        "workspace": "T1",
        "channel": "C-general",
        "paper_id": "2405.00002",
        "created_at": T0 + timedelta(hours=1),
    },
    "events": {"event_id": "Ev1", "seen_at": T0 + timedelta(hours=1)},
}


def as_old_sqlite(value: Any) -> Any:
    """How the SQLite store wrote a value: ISO UTC text, 0/1, a JSON array."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return value


async def create_old_database(url: str) -> None:
    """The database the per-dialect 0001 files made, at version 1, with one row per table."""
    if dialect_of(url) == "sqlite":
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(url)
        con.executescript(old_sql("sqlite"))
        con.execute(OLD_SCHEMA_MIGRATIONS["sqlite"])
        con.execute("INSERT INTO schema_migrations VALUES (1, ?)", (as_old_sqlite(T0),))
        for table, row in OLD_ROWS.items():
            marks = ", ".join("?" * len(row))
            values = [as_old_sqlite(v) for v in row.values()]
            con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", values)
        con.commit()
        con.close()
        return
    dsn, schema = pg_parts(url)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        await conn.execute(old_sql("postgres"))
        await conn.execute(OLD_SCHEMA_MIGRATIONS["postgres"])
        await conn.execute("INSERT INTO schema_migrations VALUES (1, $1)", T0)
        for table, row in OLD_ROWS.items():
            marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
            values = [list(v) if isinstance(v, tuple) else v for v in row.values()]
            await conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", *values)
    finally:
        await conn.close()


async def test_a_database_created_before_opens_and_keeps_its_rows(store_url: str) -> None:
    await create_old_database(store_url)
    store = open_store(store_url)
    await store.open()
    try:
        assert await schema_version(store) == latest_version(dialect_of(store_url))
        sub = OLD_ROWS["subscriptions"]
        assert await store.get_subscription(GENERAL) == Subscription(
            GENERAL, sub["cron"], sub["timezone"], "community", False, sub["paused_reason"], T0, 1
        )
        d = OLD_ROWS["deliveries"]
        assert await store.get_delivery(GENERAL, "week:2024-05-06") == Delivery(
            1,
            GENERAL,
            d["digest_key"],
            "pb-1-abc",
            "sent",
            d["message_id"],
            2,
            T0,
            d["updated_at"],
            subscription_id=1,
            paper_ids=OLD_ROWS["posted"]["paper_ids"],  # from the message it posted
        )
        p = OLD_ROWS["posted"]
        expected = PostedDigest(
            GENERAL, p["message_id"], p["digest_key"], p["paper_ids"], p["posted_at"]
        )
        assert await store.get_posted(GENERAL, p["message_id"]) == expected
        assert await store.latest_posted(GENERAL) == expected
        assert [(e.paper_id, e.votes) for e in await store.leaderboard()] == [("2405.00002", 1)]
        assert not await store.mark_event("Ev1", T0 + timedelta(hours=2))  # seen before
        # Ids go on from the old ones: a new subscription and delivery never reuse id 1.
        fresh = await store.upsert_subscription(
            Subscription(ChannelRef("slack", "T1", "C2"), "0 9 * * *", "UTC")
        )
        row, created = await store.claim_delivery(GENERAL, "week:2024-05-13", "pb-1-def", T0)
        assert created and fresh.id == 2 and row.id == 2
        assert row.search_after == d["message_id"]
    finally:
        await store.close()


async def primary_key(url: str, table: str) -> list[str]:
    """The primary-key columns of ``table`` in the database at ``url``, in key order."""
    if dialect_of(url) == "sqlite":
        con = sqlite3.connect(url)
        try:
            cols = con.execute(f'PRAGMA table_info("{table}")').fetchall()
        finally:
            con.close()
        return [c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5]]
    dsn, schema = pg_parts(url)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos) ON TRUE"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
            " WHERE i.indisprimary AND c.relname = $1 AND n.nspname = $2 ORDER BY k.pos",
            table,
            schema,
        )
    finally:
        await conn.close()
    return [r["attname"] for r in rows]


async def test_upgrading_keys_posted_digests_and_votes_by_channel(store_url: str) -> None:
    """A database made with 0001 (today's schema, with a digest and a vote on it) upgrades in
    place: the vote is found by (channel, message), and the same message id in another channel
    (Slack ts are unique per channel only) is another digest with votes of its own."""
    await create_old_database(store_url)
    store = open_store(store_url)
    await store.open()
    try:
        message = "1715000000.0001"
        for table in ("posted", "votes"):
            assert (await primary_key(store_url, table))[:4] == [
                "platform",
                "workspace",
                "channel",
                "message_id",
            ]
        v = OLD_ROWS["votes"]
        old_vote = Vote(GENERAL, message, "U1", v["emoji"], v["paper_id"], v["created_at"])
        assert await store.votes_on(GENERAL, message) == [old_vote]
        assert not await store.add_vote(old_vote)  # still the same vote
        elsewhere = ChannelRef("slack", "T1", "C-random")
        there = PostedDigest(elsewhere, message, "week:2024-05-13", ("2405.00009",), T0)
        await store.record_posted(there)
        assert await store.get_posted(elsewhere, message) == there
        posted = await store.get_posted(GENERAL, message)
        assert posted is not None and posted.paper_ids == ("2405.00001", "2405.00002")
        assert await store.add_vote(Vote(elsewhere, message, "U1", v["emoji"], "2405.00009", T0))
        assert await store.remove_vote(elsewhere, message, "U1", v["emoji"])
        assert await store.votes_on(GENERAL, message) == [old_vote]
        assert [(e.paper_id, e.votes) for e in await store.leaderboard()] == [("2405.00002", 1)]
    finally:
        await store.close()


async def insert_old(url: str, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows into a database made by the old files (values as the old stores wrote them)."""
    if dialect_of(url) == "sqlite":
        con = sqlite3.connect(url)
        for row in rows:
            marks = ", ".join("?" * len(row))
            values = [as_old_sqlite(v) for v in row.values()]
            con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", values)
        con.commit()
        con.close()
        return
    dsn, schema = pg_parts(url)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        for row in rows:
            marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
            values = [list(v) if isinstance(v, tuple) else v for v in row.values()]
            await conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", *values)
    finally:
        await conn.close()


async def delete_old(url: str, sql: str) -> None:
    if dialect_of(url) == "sqlite":
        con = sqlite3.connect(url)
        con.execute(sql)
        con.commit()
        con.close()
        return
    dsn, schema = pg_parts(url)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def old_delivery(sub_id: int, key: str, status: str, message_id: str | None) -> dict[str, Any]:
    return {
        **OLD_ROWS["deliveries"],
        "subscription_id": sub_id,
        "digest_key": key,
        "idempotency_key": f"pb-{sub_id}-{key}",
        "status": status,
        "message_id": message_id,
    }


async def test_upgrading_the_ledger_to_channels_keeps_every_row(store_url: str) -> None:
    """Rows of a re-subscribed channel (a week it got twice), of a subscription that is gone
    (with and without a posted message) and of admin notices all survive the upgrade."""
    await create_old_database(store_url)  # subscription 1 is GENERAL, with one sent row
    gone_posted = {**OLD_ROWS["posted"], "message_id": "1715000000.0009", "channel": "C-gone"}
    await insert_old(store_url, "posted", [gone_posted])
    await insert_old(
        store_url,
        "deliveries",
        [
            old_delivery(3, "week:2024-05-06", "sent", "1715000000.0002"),  # GENERAL again
            old_delivery(3, "week:2024-05-13", "pending", None),
            old_delivery(7, "week:2024-05-06", "sent", "1715000000.0009"),  # gone, but posted
            old_delivery(8, "week:2024-05-06", "skipped", None),  # gone without a trace
            old_delivery(0, "admin:paused:1:week:2024-05-06", "skipped", "1715000000.0005"),
            old_delivery(0, "admin:stalled:1:never", "skipped", None),
        ],
    )
    # GENERAL unsubscribed (subscription 1 deleted) and subscribed again (subscription 3).
    await delete_old(store_url, "DELETE FROM subscriptions WHERE id = 1")
    await insert_old(store_url, "subscriptions", [{**OLD_ROWS["subscriptions"], "id": 3}])
    store = open_store(store_url)
    await store.open()
    try:
        history = await store.channel_deliveries(GENERAL)
        # Subscription 1 is gone, but its sent row had a posted message in GENERAL.
        assert [(r.digest_key, r.status, r.subscription_id) for r in history] == [
            ("week:2024-05-06", "sent", 1),
            ("week:2024-05-06#duplicate-2", "sent", 3),
            ("week:2024-05-13", "pending", 3),
        ]
        assert history[0].message_id == "1715000000.0001"  # the first post keeps the key
        assert history[1].message_id == "1715000000.0002"
        gone = await store.channel_deliveries(ChannelRef("slack", "T1", "C-gone"))
        assert [(r.digest_key, r.message_id) for r in gone] == [
            ("week:2024-05-06", "1715000000.0009")
        ]
        trace = await store.channel_deliveries(ChannelRef("", "", "subscription:8"))
        assert [(r.digest_key, r.status) for r in trace] == [("week:2024-05-06", "skipped")]
        assert [r.id for r in await store.pending_deliveries()] == [history[2].id]
        posted = await store.get_notice("paused:1:week:2024-05-06")
        never = await store.get_notice("stalled:1:never")
        assert posted is not None and posted.status == "posted"
        assert never is not None and never.status == "dropped"
        assert await store.due_notices(T0 + timedelta(days=365)) == []
    finally:
        await store.close()


async def test_an_upgraded_database_has_the_schema_of_a_new_one(store_url: str) -> None:
    """All migrations on a database made by the old 0001 files, and on an empty one: the
    same tables, columns, constraints and indexes (so a later renumbering only renames)."""
    await create_old_database(store_url)
    store = open_store(store_url)
    await store.open()
    await store.close()
    if dialect_of(store_url) == "sqlite":
        fresh = f"{store_url}.fresh"
        new = open_store(fresh)
        await new.open()
        await new.close()
        assert sqlite_catalog(store_url) == sqlite_catalog(fresh)
        return
    dsn, schema = pg_parts(store_url)
    fresh = f"{schema}_fresh"
    conn = await asyncpg.connect(dsn)
    try:
        new = open_store(f"{dsn}?schema={fresh}")
        await new.open()
        await new.close()
        assert await postgres_catalog(conn, schema) == await postgres_catalog(conn, fresh)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE')
        await conn.close()


# --- the loader: macros and dialect overrides --------------------------------------------------


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_dialect_file_overrides_the_shared_one_for_that_dialect_only(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "0001_initial.sql": "CREATE TABLE t (id {{ID}}, at {{TIME}});\n",
            "0002_flag.sql": "ALTER TABLE t ADD COLUMN on_ {{BOOL}} NOT NULL DEFAULT {{FALSE}};\n",
            "0002_flag.sqlite.sql": "-- SQLite's own\nALTER TABLE t ADD COLUMN on_ {{BOOL}};\n",
            "README.txt": "not a migration",
        },
    )
    lite = load_migrations("sqlite", folder)
    pg = load_migrations("postgres", folder)
    assert [m.statements() for m in lite] == [
        ["CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT)"],
        ["ALTER TABLE t ADD COLUMN on_ INTEGER"],
    ]
    assert [m.statements() for m in pg] == [
        ["CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ)"],
        ["ALTER TABLE t ADD COLUMN on_ BOOLEAN NOT NULL DEFAULT FALSE"],
    ]


def test_every_version_exists_for_both_dialects(tmp_path: Path) -> None:
    folder = write(tmp_path, {"0001_a.sql": "SELECT 1;", "0002_b.postgres.sql": "SELECT 2;"})
    assert [m.version for m in load_migrations("postgres", folder)] == [1, 2]
    with pytest.raises(RuntimeError, match=r"0002_b\.postgres\.sql has no sqlite counterpart"):
        load_migrations("sqlite", folder)
    write(tmp_path, {"0002_b.sqlite.sql": "-- nothing to do in SQLite\n"})
    assert [m.statements() for m in load_migrations("sqlite", folder)] == [["SELECT 1"], []]


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 2;"}, "two migrations numbered 1"),
        ({"0001_a.sql": "SELECT 1;", "0001_b.sqlite.sql": "SELECT 2;"}, "must be named like"),
        ({"0002_a.sql": "SELECT 1;"}, r"numbered 1..N, found \[2\]"),
    ],
)
def test_ambiguous_or_misnumbered_files_are_refused(
    tmp_path: Path, files: dict[str, str], error: str
) -> None:
    with pytest.raises(RuntimeError, match=error):
        load_migrations("sqlite", write(tmp_path, files))


def test_an_unknown_macro_is_an_error() -> None:
    assert expand("x {{TIME}} y {{ID_REF}}", "postgres") == "x TIMESTAMPTZ y BIGINT"
    with pytest.raises(RuntimeError, match=r"unknown migration macro '\{\{TIMESTAMP\}\}'"):
        expand("CREATE TABLE t (at {{TIMESTAMP}})", "sqlite")
    with pytest.raises(RuntimeError, match="unknown migration macro"):
        expand("CREATE TABLE t (at {{ time }})", "sqlite")


async def test_a_version_of_comments_only_applies_on_both_stores(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration file with nothing but comments (a version one dialect needs nothing for)
    is recorded as applied, on PostgreSQL too (asyncpg refuses an empty statement)."""
    import bot.storage.postgres
    import bot.storage.sqlite

    folder = write(
        tmp_path,
        {
            "0001_initial.sql": "CREATE TABLE t (id {{ID}});\n",
            "0002_nothing.sql": "-- nothing to change in this version\n",
        },
    )

    def pending(dialect: Any, current: int) -> list[Any]:
        return [m for m in load_migrations(dialect, folder) if m.version > current]

    for module in (bot.storage.postgres, bot.storage.sqlite):
        monkeypatch.setattr(module, "pending_migrations", pending)
    store = open_store(store_url)
    await store.open()
    try:
        assert await schema_version(store) == 2
    finally:
        await store.close()
