"""The SQL both stores share: ``SqlStore`` implements the ``Store`` methods once, on top of a few
per-dialect primitives that ``SqliteStore`` and ``PostgresStore`` provide. The delivery ledger,
leases and admin notices are its base ``LedgerQueries`` (``bot.storage.ledger``); the queries for
chat (posted digests, votes, seed jobs, shares) ``ChatQueries`` (``bot.storage.chat_queries``);
everything below applies there too.

What a store provides (its dialect, declared by ``SqlDialect`` in ``bot.storage.dialect``):

- ``_exec(sql, params) -> int`` (rows changed), ``_all(sql, params) -> list[Row]`` and, if it
  has a faster way than ``_all``, ``_one(sql, params) -> Row | None``. They run one statement
  and turn driver errors into ``StoreError`` with the store's own message.
- Value codecs: ``_time(dt)`` / ``_from_time(value)`` for datetimes, ``_ids(ids)`` /
  ``_from_ids(value)`` for a paper-id array, ``_flag(bool)`` for booleans.
- SQL fragments where the dialects differ: ``HAS_PAPERS`` (a ``posted`` row has paper ids),
  ``NEWEST_TIEBREAK`` (orders ``posted`` rows with the same ``posted_at``), ``NOW`` (the
  database's current time, as the dialect stores times) and ``NOW_PLUS`` (that plus a number of
  seconds given as a placeholder: ``NOW_PLUS.format("$3")``). Leases are timed by the database's
  clock, the one clock every replica shares, never by a process's own.

What stays in each store: connecting, pooling, running migrations, WAL, what leadership needs
beyond the lease row (SQLite: an OS lock on a file beside the database), and error translation.

Adding a query for both stores at once:

1. Write a method on ``SqlStore`` (or ``LedgerQueries``, ``ChatQueries``). Write the SQL once,
   with PostgreSQL's numbered placeholders ``$1..$n`` (a number may be used twice); the SQLite
   store rewrites them to ``?1..?n``. Keep ``$`` out of string literals. Use SQL both dialects
   accept (``ON CONFLICT``, ``RETURNING``, an alias on every subquery); select columns by name,
   since rows are read as ``row["col"]``.
2. Pass datetimes through ``self._time``, paper-id tuples through ``self._ids`` and booleans
   through ``self._flag``; strings, ints and ``None`` go as they are.
3. Turn rows into records (``bot.storage.records``) with the mappers at the end of the class
   (``_subscription``; ``LedgerQueries._delivery``, ``ChatQueries._posted``), which decode with
   ``_from_time``/``_from_ids``.
4. Where the dialects truly differ, add a fragment as a ``ClassVar`` on ``SqlDialect`` and set
   it in both stores (as ``HAS_PAPERS``), rather than a second copy of the query.
5. Declare the method on the ``Store`` protocol (``bot.storage.base``) if production code calls
   it. A query only tests need goes in ``tests/support/db.py`` instead.

A schema change is a migration, not a query: see ``bot.storage.migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from bot.core.messages import ChannelRef
from bot.storage.arxiv_queries import ArxivQueries
from bot.storage.chat_queries import ChatQueries
from bot.storage.dialect import PRUNE_EVERY, Row, as_utc
from bot.storage.follow_queries import FollowQueries
from bot.storage.ledger import LedgerQueries
from bot.storage.records import Planned, ScheduleOrigin, Subscription, SubscriptionKind
from bot.storage.slack_queries import SlackQueries
from bot.storage.webqueries import WebQueries

EVENT_TTL = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SqlStore(LedgerQueries, WebQueries, ChatQueries, ArxivQueries, FollowQueries, SlackQueries):
    """The ``Store`` methods, written once; subclasses supply the dialect (see the module).
    Subscriptions and events are here; the delivery ledger, leases and admin notices are
    ``LedgerQueries`` (``bot.storage.ledger``), what chat needs (posted digests, votes, seed jobs,
    shares) ``ChatQueries`` (``bot.storage.chat_queries``), the web archive's queries
    ``WebQueries`` (``bot.storage.webqueries``), Slack installations and OAuth states
    ``SlackQueries`` (``bot.storage.slack_queries``)."""

    def __init__(self) -> None:
        super().__init__()
        self._last_prune: datetime | None = None

    # --- subscriptions ---------------------------------------------------------------------------
    async def upsert_subscription(self, sub: Subscription) -> Subscription:
        ch = sub.channel
        row = await self._one(
            """
            INSERT INTO subscriptions (platform, workspace, channel, cron, timezone, kind,
                                       enabled, paused_reason, last_fire_at, created_at, updated_at,
                                       origin)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
            ON CONFLICT (platform, workspace, channel) DO UPDATE SET
                cron = excluded.cron,
                timezone = excluded.timezone,
                kind = excluded.kind,
                enabled = excluded.enabled,
                paused_reason = excluded.paused_reason,
                origin = excluded.origin,
                last_fire_at = CASE
                    WHEN subscriptions.cron = excluded.cron
                     AND subscriptions.timezone = excluded.timezone
                    THEN COALESCE(subscriptions.last_fire_at, excluded.last_fire_at)
                    ELSE excluded.last_fire_at END,
                next_fire_at = CASE
                    WHEN subscriptions.cron = excluded.cron
                     AND subscriptions.timezone = excluded.timezone
                     AND subscriptions.enabled = excluded.enabled
                    THEN subscriptions.next_fire_at
                    ELSE NULL END,
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
                self._flag(sub.enabled),
                sub.paused_reason,
                self._opt_time(sub.last_fire_at),
                self._time(datetime.now(UTC)),
                sub.origin,
            ),
        )
        assert row is not None  # an upsert with RETURNING always returns its row
        return self._subscription(row)

    async def get_subscription(self, channel: ChannelRef) -> Subscription | None:
        row = await self._one(
            "SELECT * FROM subscriptions WHERE platform = $1 AND workspace = $2 AND channel = $3",
            (channel.platform, channel.workspace, channel.channel),
        )
        return None if row is None else self._subscription(row)

    async def get_subscription_by_id(self, sub_id: int) -> Subscription | None:
        row = await self._one("SELECT * FROM subscriptions WHERE id = $1", (sub_id,))
        return None if row is None else self._subscription(row)

    async def list_subscriptions(self, *, enabled_only: bool = False) -> list[Subscription]:
        where = "WHERE enabled" if enabled_only else ""
        rows = await self._all(f"SELECT * FROM subscriptions {where} ORDER BY id")
        return [self._subscription(r) for r in rows]

    async def delete_subscription(self, channel: ChannelRef) -> bool:
        changed = await self._exec(
            "DELETE FROM subscriptions WHERE platform = $1 AND workspace = $2 AND channel = $3",
            (channel.platform, channel.workspace, channel.channel),
        )
        return changed > 0

    async def set_paused(self, sub_id: int, reason: str | None) -> None:
        # Resuming leaves the next instant to be planned again (from last_fire_at, so a fire
        # missed while paused is caught up within grace, as after downtime).
        await self._exec(
            "UPDATE subscriptions SET enabled = $2, paused_reason = $3, updated_at = $4,"
            " next_fire_at = CASE WHEN $2 THEN NULL ELSE next_fire_at END"
            " WHERE id = $1",
            (sub_id, self._flag(reason is None), reason, self._time(datetime.now(UTC))),
        )

    async def set_last_fire(
        self, sub_id: int, fired_at: datetime, next_fire: Planned | None = None
    ) -> None:
        """``next_fire`` is (cron, timezone, instant): stored only while the subscription
        still has that cron and timezone; otherwise it is left unplanned (NULL)."""
        fired, now = self._time(fired_at), self._time(datetime.now(UTC))
        if next_fire is not None:
            cron, tz, at = next_fire
            changed = await self._exec(
                "UPDATE subscriptions SET last_fire_at = $2, updated_at = $3, next_fire_at = $6"
                " WHERE id = $1 AND cron = $4 AND timezone = $5",
                (sub_id, fired, now, cron, tz, self._time(at)),
            )
            if changed:
                return
        await self._exec(
            "UPDATE subscriptions SET last_fire_at = $2, updated_at = $3, next_fire_at = NULL"
            " WHERE id = $1",
            (sub_id, fired, now),
        )

    async def set_next_fire(self, sub_id: int, planned: Planned) -> None:
        cron, tz, at = planned
        await self._exec(
            "UPDATE subscriptions SET next_fire_at = $4"
            " WHERE id = $1 AND cron = $2 AND timezone = $3",
            (sub_id, cron, tz, self._time(at)),
        )

    async def unplanned_subscriptions(self, limit: int, after_id: int = 0) -> list[Subscription]:
        rows = await self._all(
            "SELECT * FROM subscriptions WHERE enabled = $1 AND next_fire_at IS NULL"
            " AND id > $2 ORDER BY id LIMIT $3",
            (self._flag(True), after_id, limit),
        )
        return [self._subscription(r) for r in rows]

    async def due_subscriptions(
        self, now: datetime, limit: int, after: tuple[datetime, int] | None = None
    ) -> list[Subscription]:
        at, after_id = after if after is not None else (EPOCH, 0)
        rows = await self._all(
            """
            SELECT * FROM subscriptions
            WHERE enabled = $1 AND next_fire_at <= $2
              AND (next_fire_at > $3 OR (next_fire_at = $3 AND id > $4))
            ORDER BY next_fire_at, id LIMIT $5
            """,
            (self._flag(True), self._time(now), self._time(at), after_id, limit),
        )
        return [self._subscription(r) for r in rows]

    async def next_fire_after(self, now: datetime) -> datetime | None:
        row = await self._one(
            "SELECT MIN(next_fire_at) AS t FROM subscriptions"
            " WHERE enabled = $1 AND next_fire_at > $2",
            (self._flag(True), self._time(now)),
        )
        return None if row is None or row["t"] is None else self._from_time(row["t"])

    async def config_applied(self, channel: ChannelRef) -> str | None:
        row = await self._one(
            "SELECT entry_hash FROM config_applied"
            " WHERE platform = $1 AND workspace = $2 AND channel = $3",
            (channel.platform, channel.workspace, channel.channel),
        )
        return None if row is None else str(row["entry_hash"])

    async def set_config_applied(self, channel: ChannelRef, entry_hash: str, now: datetime) -> None:
        await self._exec(
            """
            INSERT INTO config_applied (platform, workspace, channel, entry_hash, applied_at)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (platform, workspace, channel) DO UPDATE SET
                entry_hash = excluded.entry_hash, applied_at = excluded.applied_at
            """,
            (channel.platform, channel.workspace, channel.channel, entry_hash, self._time(now)),
        )

    # --- events ----------------------------------------------------------------------------------
    async def mark_event(self, event_id: str, now: datetime) -> bool:
        now = as_utc(now)  # aware, so it compares with the last prune
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            cutoff = self._time(now - EVENT_TTL)
            await self._exec("DELETE FROM events WHERE seen_at < $1", (cutoff,))
        changed = await self._exec(
            "INSERT INTO events (event_id, seen_at) VALUES ($1, $2)"
            " ON CONFLICT (event_id) DO NOTHING",
            (event_id, self._time(now)),
        )
        return changed > 0

    # --- rows -> records -------------------------------------------------------------------------
    def _subscription(self, row: Row) -> Subscription:
        last_fire = row["last_fire_at"]
        next_fire = row["next_fire_at"]
        return Subscription(
            channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
            cron=row["cron"],
            timezone=row["timezone"],
            kind=cast(SubscriptionKind, row["kind"]),
            enabled=bool(row["enabled"]),
            paused_reason=row["paused_reason"],
            last_fire_at=None if last_fire is None else self._from_time(last_fire),
            id=int(row["id"]),
            origin=cast(ScheduleOrigin, row["origin"]),
            next_fire_at=None if next_fire is None else self._from_time(next_fire),
        )


__all__ = ["EVENT_TTL", "PRUNE_EVERY", "Row", "SqlStore", "as_utc"]
