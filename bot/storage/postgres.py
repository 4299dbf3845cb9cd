"""The PostgreSQL Store, via an asyncpg pool; for several replicas sharing one database.

``open()`` migrates under ``pg_advisory_xact_lock`` so replicas starting together take turns.
Scheduler leadership is a session-level advisory lock held on a dedicated connection (outside the
pool), so it lasts until ``release_leader``/``close`` or until that connection dies.

The URL may carry ``?schema=NAME`` (letters, digits, ``_``): the store then works in that schema
(created if missing) by setting ``search_path``; tests use it for isolation. Other query
parameters go to asyncpg unchanged.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from bot.core.errors import StoreError
from bot.core.messages import ChannelRef
from bot.core.text import mask_url
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

POOL_MIN = 1
POOL_MAX = 5
CONNECT_TIMEOUT = 10.0
EVENT_TTL = timedelta(days=1)
PRUNE_EVERY = timedelta(minutes=10)

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _opt_utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else _utc(dt)


def _split_schema(url: str) -> tuple[str, str | None]:
    """(url without ``schema=``, schema or None)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), (schemas[-1] if schemas else None)


class PostgresStore:
    """``Store`` on PostgreSQL (``postgresql://user:pass@host:5432/db[?schema=name]``)."""

    def __init__(self, url: str) -> None:
        self.url = mask_url(url)
        self._dsn, self._schema = _split_schema(url)
        self._password = urlsplit(url).password
        self._settings: dict[str, str] = {"application_name": "paperboy"}
        if self._schema is not None:
            self._settings["search_path"] = self._schema
        self._pool: Any = None
        self._leader_conn: Any = None
        self._leaders: set[str] = set()
        self._leader_mutex = asyncio.Lock()
        self._last_prune: datetime | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def _fail(self, what: str, exc: BaseException) -> StoreError:
        reason = str(exc).strip() or type(exc).__name__
        if self._password:
            reason = reason.replace(self._password, "***")
        return StoreError(f"{what} PostgreSQL at {self.url}: {reason.splitlines()[0]}")

    def _lock_key(self, name: str) -> str:
        return f"paperboy:{self._schema or ''}:{name}"

    async def open(self) -> None:
        if self._pool is not None:
            return
        if self._schema is not None and not _SCHEMA_RE.match(self._schema):
            raise StoreError(f"invalid schema name {self._schema!r} in {self.url}")
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                timeout=CONNECT_TIMEOUT,
                server_settings=self._settings,
            )
        except Exception as exc:  # bad URL, refused, unknown database, auth: all one clear line
            raise self._fail("cannot connect to", exc) from exc
        try:
            await self._migrate(pool)
        except Exception as exc:
            await pool.close()
            raise self._fail("cannot migrate", exc) from exc
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool

    async def _migrate(self, pool: Any) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key("migrate")
            )
            if self._schema is not None:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            for migration in pending_migrations("postgres", int(current)):
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                    migration.version,
                )

    async def close(self) -> None:
        async with self._leader_mutex:
            await self._drop_leader_conn()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def schema_version(self) -> int:
        return int(await self._val("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))

    # --- small helpers ---------------------------------------------------------------------------
    def _get_pool(self) -> Any:
        if self._pool is None:
            raise StoreError(f"store {self.url} is not open")
        return self._pool

    async def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed (from the command tag)."""
        try:
            tag: str = await self._get_pool().execute(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise self._fail("error from", exc) from exc
        last = tag.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(await self._get_pool().fetch(sql, *args))
        except _DRIVER_ERRORS as exc:
            raise self._fail("error from", exc) from exc

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        try:
            return await self._get_pool().fetchrow(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise self._fail("error from", exc) from exc

    async def _val(self, sql: str, args: Sequence[Any] = ()) -> Any:
        try:
            return await self._get_pool().fetchval(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise self._fail("error from", exc) from exc

    # --- subscriptions ---------------------------------------------------------------------------
    async def upsert_subscription(self, sub: Subscription) -> Subscription:
        ch = sub.channel
        row = await self._one(
            """
            INSERT INTO subscriptions (platform, workspace, channel, cron, timezone, kind,
                                       enabled, paused_reason, last_fire_at, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
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
                sub.enabled,
                sub.paused_reason,
                _opt_utc(sub.last_fire_at),
                datetime.now(UTC),
            ),
        )
        return _subscription(row)

    async def get_subscription(self, channel: ChannelRef) -> Subscription | None:
        row = await self._one(
            "SELECT * FROM subscriptions WHERE platform = $1 AND workspace = $2 AND channel = $3",
            (channel.platform, channel.workspace, channel.channel),
        )
        return None if row is None else _subscription(row)

    async def get_subscription_by_id(self, sub_id: int) -> Subscription | None:
        row = await self._one("SELECT * FROM subscriptions WHERE id = $1", (sub_id,))
        return None if row is None else _subscription(row)

    async def list_subscriptions(self, *, enabled_only: bool = False) -> list[Subscription]:
        where = "WHERE enabled" if enabled_only else ""
        rows = await self._all(f"SELECT * FROM subscriptions {where} ORDER BY id")
        return [_subscription(r) for r in rows]

    async def delete_subscription(self, channel: ChannelRef) -> bool:
        changed = await self._exec(
            "DELETE FROM subscriptions WHERE platform = $1 AND workspace = $2 AND channel = $3",
            (channel.platform, channel.workspace, channel.channel),
        )
        return changed > 0

    async def set_paused(self, sub_id: int, reason: str | None) -> None:
        await self._exec(
            "UPDATE subscriptions SET enabled = $2, paused_reason = $3, updated_at = $4"
            " WHERE id = $1",
            (sub_id, reason is None, reason, datetime.now(UTC)),
        )

    async def set_last_fire(self, sub_id: int, fired_at: datetime) -> None:
        await self._exec(
            "UPDATE subscriptions SET last_fire_at = $2, updated_at = $3 WHERE id = $1",
            (sub_id, _utc(fired_at), datetime.now(UTC)),
        )

    # --- delivery ledger -------------------------------------------------------------------------
    async def claim_delivery(
        self, sub_id: int, digest_key: str, idempotency_key: str, now: datetime
    ) -> tuple[Delivery, bool]:
        row = await self._one(
            """
            INSERT INTO deliveries (subscription_id, digest_key, idempotency_key, status,
                                    message_id, attempts, created_at, updated_at)
            VALUES ($1, $2, $3, 'pending', NULL, 0, $4, $4)
            ON CONFLICT (subscription_id, digest_key) DO NOTHING
            RETURNING *
            """,
            (sub_id, digest_key, idempotency_key, _utc(now)),
        )
        if row is not None:
            return _delivery(row), True
        existing = await self.get_delivery(sub_id, digest_key)
        if existing is None:  # only if deleted in between; not something Paperboy does
            raise StoreError(f"delivery ({sub_id}, {digest_key}) vanished while claiming it")
        return existing, False

    async def begin_attempt(self, delivery_id: int, now: datetime) -> Delivery:
        row = await self._one(
            "UPDATE deliveries SET attempts = attempts + 1, updated_at = $2 WHERE id = $1"
            " RETURNING *",
            (delivery_id, _utc(now)),
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
            "UPDATE deliveries SET status = $2, message_id = $3, updated_at = $4 WHERE id = $1",
            (delivery_id, status, message_id, _utc(now)),
        )

    async def get_delivery(self, sub_id: int, digest_key: str) -> Delivery | None:
        row = await self._one(
            "SELECT * FROM deliveries WHERE subscription_id = $1 AND digest_key = $2",
            (sub_id, digest_key),
        )
        return None if row is None else _delivery(row)

    async def pending_deliveries(self) -> list[Delivery]:
        rows = await self._all("SELECT * FROM deliveries WHERE status = 'pending' ORDER BY id")
        return [_delivery(r) for r in rows]

    async def sent_digest_keys(self, sub_id: int) -> set[str]:
        rows = await self._all(
            "SELECT digest_key FROM deliveries"
            " WHERE subscription_id = $1 AND status IN ('sent', 'skipped')",
            (sub_id,),
        )
        return {str(r["digest_key"]) for r in rows}

    async def count_sent(self, sub_id: int | None = None) -> int:
        n = await self._val(
            "SELECT COUNT(*) FROM deliveries"
            " WHERE status = 'sent' AND ($1::bigint IS NULL OR subscription_id = $1)",
            (sub_id,),
        )
        return int(n)

    # --- posted digests and votes ----------------------------------------------------------------
    async def record_posted(self, posted: PostedDigest) -> None:
        ch = posted.channel
        await self._exec(
            """
            INSERT INTO posted (platform, message_id, workspace, channel, digest_key, paper_ids,
                                posted_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
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
                list(posted.paper_ids),
                _utc(posted.posted_at),
            ),
        )

    async def get_posted(self, platform: str, message_id: str) -> PostedDigest | None:
        row = await self._one(
            "SELECT * FROM posted WHERE platform = $1 AND message_id = $2", (platform, message_id)
        )
        return None if row is None else _posted(row)

    async def latest_posted(self, channel: ChannelRef) -> PostedDigest | None:
        row = await self._one(
            """
            SELECT * FROM posted
            WHERE platform = $1 AND workspace = $2 AND channel = $3
              AND cardinality(paper_ids) > 0
            ORDER BY posted_at DESC, message_id DESC LIMIT 1
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
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
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
                _utc(vote.at),
            ),
        )
        return changed > 0

    async def remove_vote(self, platform: str, message_id: str, user_id: str, emoji: str) -> bool:
        changed = await self._exec(
            "DELETE FROM votes"
            " WHERE platform = $1 AND message_id = $2 AND user_id = $3 AND emoji = $4",
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
            ("created_at >=", None if since is None else _utc(since)),
            ("platform =", platform),
            ("workspace =", workspace),
            ("channel =", channel),
        ):
            if value is not None:
                params.append(value)
                where.append(f"{column} ${len(params)}")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        params.append(limit)
        rows = await self._all(
            f"""
            SELECT paper_id, COUNT(*) AS votes
            FROM (SELECT DISTINCT paper_id, platform, user_id FROM votes {clause}) AS voters
            GROUP BY paper_id
            ORDER BY votes DESC, paper_id ASC
            LIMIT ${len(params)}
            """,
            params,
        )
        return [LeaderboardEntry(str(r["paper_id"]), int(r["votes"])) for r in rows]

    async def vote_count(self) -> int:
        return int(await self._val("SELECT COUNT(*) FROM votes"))

    # --- events and leadership -------------------------------------------------------------------
    async def mark_event(self, event_id: str, now: datetime) -> bool:
        now = _utc(now)
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            await self._exec("DELETE FROM events WHERE seen_at < $1", (now - EVENT_TTL,))
        changed = await self._exec(
            "INSERT INTO events (event_id, seen_at) VALUES ($1, $2)"
            " ON CONFLICT (event_id) DO NOTHING",
            (event_id, now),
        )
        return changed > 0

    async def try_acquire_leader(self, name: str = "scheduler") -> bool:
        async with self._leader_mutex:
            if name in self._leaders:
                try:  # still ours as long as the session that holds it is alive
                    await self._leader_conn.fetchval("SELECT 1")
                    return True
                except _DRIVER_ERRORS:
                    await self._drop_leader_conn()
            try:
                if self._leader_conn is None or self._leader_conn.is_closed():
                    self._leaders.clear()
                    self._leader_conn = await asyncpg.connect(
                        self._dsn, timeout=CONNECT_TIMEOUT, server_settings=self._settings
                    )
                got = await self._leader_conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1))", self._lock_key(name)
                )
            except _DRIVER_ERRORS as exc:
                await self._drop_leader_conn()
                raise self._fail("leader lock failed on", exc) from exc
            if got:
                self._leaders.add(name)
            return bool(got)

    async def release_leader(self, name: str = "scheduler") -> None:
        async with self._leader_mutex:
            if name not in self._leaders:
                return
            self._leaders.discard(name)
            try:
                await self._leader_conn.execute(
                    "SELECT pg_advisory_unlock(hashtext($1))", self._lock_key(name)
                )
            except _DRIVER_ERRORS:
                await self._drop_leader_conn()  # closing the session releases it anyway

    async def _drop_leader_conn(self) -> None:
        conn, self._leader_conn = self._leader_conn, None
        self._leaders.clear()
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=5)
            except _DRIVER_ERRORS:
                conn.terminate()


# --- rows -> model -------------------------------------------------------------------------------


def _subscription(row: Any) -> Subscription:
    return Subscription(
        channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
        cron=row["cron"],
        timezone=row["timezone"],
        kind=cast(SubscriptionKind, row["kind"]),
        enabled=bool(row["enabled"]),
        paused_reason=row["paused_reason"],
        last_fire_at=_opt_utc(row["last_fire_at"]),
        id=int(row["id"]),
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        subscription_id=int(row["subscription_id"]),
        digest_key=row["digest_key"],
        idempotency_key=row["idempotency_key"],
        status=cast(DeliveryStatus, row["status"]),
        message_id=row["message_id"],
        attempts=int(row["attempts"]),
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
    )


def _posted(row: Any) -> PostedDigest:
    return PostedDigest(
        channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
        message_id=row["message_id"],
        digest_key=row["digest_key"],
        paper_ids=tuple(str(p) for p in row["paper_ids"]),
        posted_at=_utc(row["posted_at"]),
    )


if TYPE_CHECKING:  # mypy checks that the class satisfies the protocol
    from bot.storage.base import Store

    _protocol_check: type[Store] = PostgresStore

__all__ = ["PostgresStore"]
