"""The SQLite Store: one file in WAL mode, via aiosqlite (the default backend).

One connection per store, in autocommit mode: every method is a single statement (using
``ON CONFLICT`` and ``RETURNING``), so calls from many tasks interleave safely and several store
instances (processes) can share the file, waiting on each other through ``busy_timeout``.
Datetimes are stored as fixed-width ISO-8601 UTC text and come back timezone-aware UTC.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import aiosqlite

from bot.core.errors import StoreError
from bot.core.messages import ChannelRef
from bot.storage.migrations import pending_migrations
from bot.storage.records import (
    Delivery,
    DeliveryStatus,
    LeaderboardEntry,
    PostedDigest,
    Subscription,
    SubscriptionKind,
    Vote,
)

BUSY_TIMEOUT_MS = 10_000
EVENT_TTL = timedelta(days=1)
PRUNE_EVERY = timedelta(minutes=10)


async def _enable_wal(db: aiosqlite.Connection, within: float) -> None:
    """Switch the file to WAL. Two connections switching a new file at the same moment can get
    SQLITE_BUSY at once, without SQLite's busy handler waiting; so retry for up to ``within``
    seconds (the mode is stored in the file: once one connection has switched it, the other's
    switch is a no-op)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = 0.005
    while True:
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
)


def to_db_time(dt: datetime) -> str:
    """Fixed-width ISO text in UTC (a naive datetime is taken to be UTC already)."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.isoformat(timespec="microseconds")


def from_db_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else from_db_time(text)


def _utcnow() -> str:
    return to_db_time(datetime.now(UTC))


async def _join_worker(conn: aiosqlite.Connection) -> None:
    """After a failed connect, aiosqlite stops its worker thread without waiting for it; if the
    event loop closes first, the thread dies with 'Event loop is closed'. Wait for it here."""
    thread = getattr(conn, "_thread", None)
    if thread is not None and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)


class SqliteStore:
    """``Store`` on a SQLite file (``:memory:`` works too, for one store instance)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._db: aiosqlite.Connection | None = None
        self._last_prune: datetime | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._db is not None:
            return
        in_memory = self.path == ":memory:" or self.path.startswith("file:")
        try:
            if not in_memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            pending = aiosqlite.connect(self.path, isolation_level=None)
        except OSError as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            db = await pending
        except sqlite3.Error as exc:
            await _join_worker(pending)
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            db.row_factory = aiosqlite.Row
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await _enable_wal(db, BUSY_TIMEOUT_MS / 1000)
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await self._migrate(db)
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        await db.execute(_SCHEMA_MIGRATIONS)
        # BEGIN IMMEDIATE takes the write lock, so two processes starting at once migrate in turn.
        await db.execute("BEGIN IMMEDIATE")
        try:
            rows = await db.execute_fetchall(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
            )
            current = int(next(iter(rows))[0])
            for migration in pending_migrations("sqlite", current):
                for statement in migration.statements():
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (migration.version, _utcnow()),
                )
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    async def schema_version(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return int(row["v"]) if row else 0

    # --- small helpers ---------------------------------------------------------------------------
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"store {self.url} is not open")
        return self._db

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        try:
            async with self._conn().execute(sql, params) as cur:
                return int(cur.rowcount)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite error: {exc}") from exc

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            rows: Iterable[sqlite3.Row] = await self._conn().execute_fetchall(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite error: {exc}") from exc
        return list(rows)

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    # --- subscriptions ---------------------------------------------------------------------------
    async def upsert_subscription(self, sub: Subscription) -> Subscription:
        now = _utcnow()
        ch = sub.channel
        row = await self._one(
            """
            INSERT INTO subscriptions (platform, workspace, channel, cron, timezone, kind,
                                       enabled, paused_reason, last_fire_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (platform, workspace, channel) DO UPDATE SET
                cron = excluded.cron,
                timezone = excluded.timezone,
                kind = excluded.kind,
                enabled = excluded.enabled,
                paused_reason = excluded.paused_reason,
                last_fire_at = CASE
                    WHEN subscriptions.cron = excluded.cron
                     AND subscriptions.timezone = excluded.timezone
                    THEN COALESCE(subscriptions.last_fire_at, excluded.last_fire_at)
                    ELSE excluded.last_fire_at END,
                updated_at = excluded.updated_at
            RETURNING *
            """,
            (
                ch.platform,
                ch.workspace,
                ch.channel,
                sub.cron,
                sub.timezone,
                sub.kind,
                int(sub.enabled),
                sub.paused_reason,
                None if sub.last_fire_at is None else to_db_time(sub.last_fire_at),
                now,
                now,
            ),
        )
        assert row is not None
        return _subscription(row)

    async def get_subscription(self, channel: ChannelRef) -> Subscription | None:
        row = await self._one(
            "SELECT * FROM subscriptions WHERE platform = ? AND workspace = ? AND channel = ?",
            (channel.platform, channel.workspace, channel.channel),
        )
        return None if row is None else _subscription(row)

    async def get_subscription_by_id(self, sub_id: int) -> Subscription | None:
        row = await self._one("SELECT * FROM subscriptions WHERE id = ?", (sub_id,))
        return None if row is None else _subscription(row)

    async def list_subscriptions(self, *, enabled_only: bool = False) -> list[Subscription]:
        where = "WHERE enabled = 1" if enabled_only else ""
        rows = await self._all(f"SELECT * FROM subscriptions {where} ORDER BY id")
        return [_subscription(r) for r in rows]

    async def delete_subscription(self, channel: ChannelRef) -> bool:
        changed = await self._exec(
            "DELETE FROM subscriptions WHERE platform = ? AND workspace = ? AND channel = ?",
            (channel.platform, channel.workspace, channel.channel),
        )
        return changed > 0

    async def set_paused(self, sub_id: int, reason: str | None) -> None:
        await self._exec(
            "UPDATE subscriptions SET enabled = ?, paused_reason = ?, updated_at = ? WHERE id = ?",
            (int(reason is None), reason, _utcnow(), sub_id),
        )

    async def set_last_fire(self, sub_id: int, fired_at: datetime) -> None:
        await self._exec(
            "UPDATE subscriptions SET last_fire_at = ?, updated_at = ? WHERE id = ?",
            (to_db_time(fired_at), _utcnow(), sub_id),
        )

    # --- delivery ledger -------------------------------------------------------------------------
    async def claim_delivery(
        self, sub_id: int, digest_key: str, idempotency_key: str, now: datetime
    ) -> tuple[Delivery, bool]:
        ts = to_db_time(now)
        row = await self._one(
            """
            INSERT INTO deliveries (subscription_id, digest_key, idempotency_key, status,
                                    message_id, attempts, created_at, updated_at)
            VALUES (?, ?, ?, 'pending', NULL, 0, ?, ?)
            ON CONFLICT (subscription_id, digest_key) DO NOTHING
            RETURNING *
            """,
            (sub_id, digest_key, idempotency_key, ts, ts),
        )
        if row is not None:
            return _delivery(row), True
        existing = await self.get_delivery(sub_id, digest_key)
        if existing is None:  # only if deleted in between; not something Paperboy does
            raise StoreError(f"delivery ({sub_id}, {digest_key}) vanished while claiming it")
        return existing, False

    async def begin_attempt(self, delivery_id: int, now: datetime) -> Delivery:
        row = await self._one(
            "UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ?"
            " RETURNING *",
            (to_db_time(now), delivery_id),
        )
        if row is None:
            raise StoreError(f"no delivery with id {delivery_id}")
        return _delivery(row)

    async def complete_delivery(
        self, delivery_id: int, message_id: str | None, now: datetime, *, status: str = "sent"
    ) -> None:
        if status not in ("sent", "skipped"):
            raise ValueError(f"complete_delivery: status must be sent or skipped, not {status!r}")
        await self._exec(
            "UPDATE deliveries SET status = ?, message_id = ?, updated_at = ? WHERE id = ?",
            (status, message_id, to_db_time(now), delivery_id),
        )

    async def get_delivery(self, sub_id: int, digest_key: str) -> Delivery | None:
        row = await self._one(
            "SELECT * FROM deliveries WHERE subscription_id = ? AND digest_key = ?",
            (sub_id, digest_key),
        )
        return None if row is None else _delivery(row)

    async def pending_deliveries(self) -> list[Delivery]:
        rows = await self._all("SELECT * FROM deliveries WHERE status = 'pending' ORDER BY id")
        return [_delivery(r) for r in rows]

    async def sent_digest_keys(self, sub_id: int) -> set[str]:
        rows = await self._all(
            "SELECT digest_key FROM deliveries"
            " WHERE subscription_id = ? AND status IN ('sent', 'skipped')",
            (sub_id,),
        )
        return {str(r["digest_key"]) for r in rows}

    async def count_sent(self, sub_id: int | None = None) -> int:
        if sub_id is None:
            row = await self._one("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'sent'")
        else:
            row = await self._one(
                "SELECT COUNT(*) AS n FROM deliveries"
                " WHERE status = 'sent' AND subscription_id = ?",
                (sub_id,),
            )
        return int(row["n"]) if row else 0

    # --- posted digests and votes ----------------------------------------------------------------
    async def record_posted(self, posted: PostedDigest) -> None:
        ch = posted.channel
        await self._exec(
            """
            INSERT INTO posted (platform, message_id, workspace, channel, digest_key, paper_ids,
                                posted_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (platform, message_id) DO UPDATE SET
                workspace = excluded.workspace,
                channel = excluded.channel,
                digest_key = excluded.digest_key,
                paper_ids = excluded.paper_ids,
                posted_at = excluded.posted_at
            """,
            (
                ch.platform,
                posted.message_id,
                ch.workspace,
                ch.channel,
                posted.digest_key,
                json.dumps(list(posted.paper_ids)),
                to_db_time(posted.posted_at),
            ),
        )

    async def get_posted(self, platform: str, message_id: str) -> PostedDigest | None:
        row = await self._one(
            "SELECT * FROM posted WHERE platform = ? AND message_id = ?", (platform, message_id)
        )
        return None if row is None else _posted(row)

    async def latest_posted(self, channel: ChannelRef) -> PostedDigest | None:
        row = await self._one(
            """
            SELECT * FROM posted
            WHERE platform = ? AND workspace = ? AND channel = ? AND paper_ids != '[]'
            ORDER BY posted_at DESC, rowid DESC LIMIT 1
            """,
            (channel.platform, channel.workspace, channel.channel),
        )
        return None if row is None else _posted(row)

    async def add_vote(self, vote: Vote) -> bool:
        ch = vote.channel
        changed = await self._exec(
            """
            INSERT INTO votes (platform, message_id, user_id, emoji, workspace, channel, paper_id,
                               created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (platform, message_id, user_id, emoji) DO NOTHING
            """,
            (
                ch.platform,
                vote.message_id,
                vote.user_id,
                vote.emoji,
                ch.workspace,
                ch.channel,
                vote.paper_id,
                to_db_time(vote.at),
            ),
        )
        return changed > 0

    async def remove_vote(self, platform: str, message_id: str, user_id: str, emoji: str) -> bool:
        changed = await self._exec(
            "DELETE FROM votes WHERE platform = ? AND message_id = ? AND user_id = ? AND emoji = ?",
            (platform, message_id, user_id, emoji),
        )
        return changed > 0

    async def leaderboard(
        self,
        *,
        since: datetime | None = None,
        platform: str | None = None,
        workspace: str | None = None,
        channel: str | None = None,
        limit: int = 10,
    ) -> list[LeaderboardEntry]:
        if limit <= 0:
            return []
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("created_at >= ?", None if since is None else to_db_time(since)),
            ("platform = ?", platform),
            ("workspace = ?", workspace),
            ("channel = ?", channel),
        ):
            if value is not None:
                where.append(column)
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._all(
            f"""
            SELECT paper_id, COUNT(*) AS votes
            FROM (SELECT DISTINCT paper_id, platform, user_id FROM votes {clause})
            GROUP BY paper_id
            ORDER BY votes DESC, paper_id ASC
            LIMIT ?
            """,
            [*params, limit],
        )
        return [LeaderboardEntry(str(r["paper_id"]), int(r["votes"])) for r in rows]

    async def vote_count(self) -> int:
        row = await self._one("SELECT COUNT(*) AS n FROM votes")
        return int(row["n"]) if row else 0

    # --- events and leadership -------------------------------------------------------------------
    async def mark_event(self, event_id: str, now: datetime) -> bool:
        now = from_db_time(to_db_time(now))  # aware UTC, so it compares with the last prune
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            await self._exec("DELETE FROM events WHERE seen_at < ?", (to_db_time(now - EVENT_TTL),))
        changed = await self._exec(
            "INSERT INTO events (event_id, seen_at) VALUES (?, ?)"
            " ON CONFLICT (event_id) DO NOTHING",
            (event_id, to_db_time(now)),
        )
        return changed > 0

    async def try_acquire_leader(self, name: str = "scheduler") -> bool:
        return True

    async def release_leader(self, name: str = "scheduler") -> None:
        return None


# --- rows -> model -------------------------------------------------------------------------------


def _subscription(row: sqlite3.Row) -> Subscription:
    return Subscription(
        channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
        cron=row["cron"],
        timezone=row["timezone"],
        kind=cast(SubscriptionKind, row["kind"]),
        enabled=bool(row["enabled"]),
        paused_reason=row["paused_reason"],
        last_fire_at=_opt_time(row["last_fire_at"]),
        id=int(row["id"]),
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        subscription_id=int(row["subscription_id"]),
        digest_key=row["digest_key"],
        idempotency_key=row["idempotency_key"],
        status=cast(DeliveryStatus, row["status"]),
        message_id=row["message_id"],
        attempts=int(row["attempts"]),
        created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
    )


def _posted(row: sqlite3.Row) -> PostedDigest:
    return PostedDigest(
        channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
        message_id=row["message_id"],
        digest_key=row["digest_key"],
        paper_ids=tuple(str(p) for p in json.loads(row["paper_ids"])),
        posted_at=from_db_time(row["posted_at"]),
    )


if TYPE_CHECKING:  # mypy checks that the class satisfies the protocol
    from bot.storage.base import Store

    _protocol_check: type[Store] = SqliteStore

__all__ = ["SqliteStore", "from_db_time", "to_db_time"]
