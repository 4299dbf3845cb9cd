"""The SQL both stores share: ``SqlStore`` implements the ``Store`` methods once, on top of a few
per-dialect primitives that ``SqliteStore`` and ``PostgresStore`` provide (declared in
``bot.storage.dialect``). The queries for chat (posted digests, votes, seed jobs, shares) are in
``bot.storage.chat_queries``, which ``SqlStore`` inherits; everything below applies there too.

What a store provides (its dialect):

- ``_exec(sql, params) -> int`` (rows changed), ``_all(sql, params) -> list[Row]`` and, if it
  has a faster way than ``_all``, ``_one(sql, params) -> Row | None``. They run one statement
  and turn driver errors into ``StoreError`` with the store's own message.
- Value codecs: ``_time(dt)`` / ``_from_time(value)`` for datetimes, ``_ids(ids)`` /
  ``_from_ids(value)`` for a paper-id array, ``_flag(bool)`` for booleans.
- SQL fragments where the dialects differ: ``HAS_PAPERS`` (a ``posted`` row has paper ids) and
  ``NEWEST_TIEBREAK`` (orders ``posted`` rows with the same ``posted_at``).

What stays in each store: connecting, pooling, running migrations, WAL, leadership (advisory
locks), and error translation.

Adding a query for both stores at once:

1. Write a method on ``SqlStore`` (or ``ChatQueries``). Write the SQL once, with PostgreSQL's
   numbered placeholders ``$1..$n`` (a number may be used twice); the SQLite store rewrites
   them to ``?1..?n``. Keep ``$`` out of string literals. Use SQL both dialects accept (``ON
   CONFLICT``, ``RETURNING``, an alias on every subquery); select columns by name, since rows
   are read as ``row["col"]``.
2. Pass datetimes through ``self._time``, paper-id tuples through ``self._ids`` and booleans
   through ``self._flag``; strings, ints and ``None`` go as they are.
3. Turn rows into records (``bot.storage.records``) with the mappers at the end of the class
   (``_subscription``, ``_delivery``; ``_posted`` in ``ChatQueries``), which decode with
   ``_from_time``/``_from_ids``.
4. Where the dialects truly differ, add a fragment as a ``ClassVar`` on ``SqlDialect`` and set
   it in both stores (as ``HAS_PAPERS``), rather than a second copy of the query.
5. Declare the method on the ``Store`` protocol (``bot.storage.base``) if production code calls
   it. A query only tests need goes in ``tests/support/db.py`` instead.

A schema change is a migration, not a query: see ``bot.storage.migrations``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import cast

from bot.core.errors import StoreError
from bot.core.messages import ChannelRef
from bot.storage.chat_queries import ChatQueries
from bot.storage.dialect import PRUNE_EVERY, Row, as_utc
from bot.storage.records import Delivery, DeliveryStatus, Subscription, SubscriptionKind
from bot.storage.webqueries import WebQueries

EVENT_TTL = timedelta(days=1)

log = logging.getLogger("paperboy.store")


class SqlStore(ChatQueries, WebQueries):
    """The ``Store`` methods, written once; subclasses supply the dialect (see the module).
    Subscriptions, the delivery ledger and events are here; what chat needs (posted digests,
    votes, seed jobs, shares) is inherited from ``ChatQueries``, the web archive's queries from
    ``WebQueries`` (``bot.storage.webqueries``)."""

    def __init__(self) -> None:
        super().__init__()
        self._last_prune: datetime | None = None

    def _log_opened(self, before: int, after: int) -> None:
        """One line when the store opens: its schema version, and what migrating changed."""
        log.info(
            "store opened",
            extra={"store": self.url, "schema_version": after, "migrated_from": before},
        )

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
                self._flag(sub.enabled),
                sub.paused_reason,
                self._opt_time(sub.last_fire_at),
                self._time(datetime.now(UTC)),
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
        await self._exec(
            "UPDATE subscriptions SET enabled = $2, paused_reason = $3, updated_at = $4"
            " WHERE id = $1",
            (sub_id, self._flag(reason is None), reason, self._time(datetime.now(UTC))),
        )

    async def set_last_fire(self, sub_id: int, fired_at: datetime) -> None:
        await self._exec(
            "UPDATE subscriptions SET last_fire_at = $2, updated_at = $3 WHERE id = $1",
            (sub_id, self._time(fired_at), self._time(datetime.now(UTC))),
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
            (sub_id, digest_key, idempotency_key, self._time(now)),
        )
        if row is not None:
            return self._delivery(row), True
        existing = await self.get_delivery(sub_id, digest_key)
        if existing is None:  # only if deleted in between; not something Paperboy does
            raise StoreError(f"delivery ({sub_id}, {digest_key}) vanished while claiming it")
        return existing, False

    async def begin_attempt(self, delivery_id: int, now: datetime) -> Delivery:
        row = await self._one(
            "UPDATE deliveries SET attempts = attempts + 1, updated_at = $2 WHERE id = $1"
            " RETURNING *",
            (delivery_id, self._time(now)),
        )
        if row is None:
            raise StoreError(f"no delivery with id {delivery_id}")
        return self._delivery(row)

    async def complete_delivery(
        self, delivery_id: int, message_id: str | None, now: datetime, *, status: str = "sent"
    ) -> None:
        if status not in ("sent", "skipped"):
            raise ValueError(f"complete_delivery: status must be sent or skipped, not {status!r}")
        await self._exec(
            "UPDATE deliveries SET status = $2, message_id = $3, updated_at = $4 WHERE id = $1",
            (delivery_id, status, message_id, self._time(now)),
        )

    async def get_delivery(self, sub_id: int, digest_key: str) -> Delivery | None:
        row = await self._one(
            "SELECT * FROM deliveries WHERE subscription_id = $1 AND digest_key = $2",
            (sub_id, digest_key),
        )
        return None if row is None else self._delivery(row)

    async def pending_deliveries(self) -> list[Delivery]:
        rows = await self._all("SELECT * FROM deliveries WHERE status = 'pending' ORDER BY id")
        return [self._delivery(r) for r in rows]

    async def sent_digest_keys(self, sub_id: int) -> set[str]:
        rows = await self._all(
            "SELECT digest_key FROM deliveries"
            " WHERE subscription_id = $1 AND status IN ('sent', 'skipped')",
            (sub_id,),
        )
        return {str(r["digest_key"]) for r in rows}

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
        return Subscription(
            channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
            cron=row["cron"],
            timezone=row["timezone"],
            kind=cast(SubscriptionKind, row["kind"]),
            enabled=bool(row["enabled"]),
            paused_reason=row["paused_reason"],
            last_fire_at=None if last_fire is None else self._from_time(last_fire),
            id=int(row["id"]),
        )

    def _delivery(self, row: Row) -> Delivery:
        return Delivery(
            id=int(row["id"]),
            subscription_id=int(row["subscription_id"]),
            digest_key=row["digest_key"],
            idempotency_key=row["idempotency_key"],
            status=cast(DeliveryStatus, row["status"]),
            message_id=row["message_id"],
            attempts=int(row["attempts"]),
            created_at=self._from_time(row["created_at"]),
            updated_at=self._from_time(row["updated_at"]),
        )


__all__ = ["EVENT_TTL", "PRUNE_EVERY", "Row", "SqlStore", "as_utc"]
