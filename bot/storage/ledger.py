"""The delivery ledger, leadership leases and the admin-notice outbox: the queries behind
"exactly once", written once for both stores (``LedgerQueries``; ``bot.storage.queries`` says
how queries are written).

A ledger row is keyed by (platform, workspace, channel, digest key). Whoever sends must hold it:
``take_delivery`` / ``begin_attempt`` set the row's ``owner`` and ``lease_until`` only while
the row is pending, no other owner holds it unexpired, and the owner still holds its leadership
lease with the same fencing token, all in one statement; ``complete_delivery`` only settles a
row its owner still holds, so it never overwrites another owner's result. Lease times are the
database's (``NOW``), the one clock all replicas share.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from bot.core.errors import StoreError
from bot.core.messages import ChannelRef
from bot.storage.dialect import Row, SqlDialect
from bot.storage.records import Delivery, DeliveryStatus, Fence, Notice, NoticeStatus


class LedgerQueries(SqlDialect):
    """Deliveries, leases and notices on top of the dialect's primitives."""

    # --- delivery ledger -------------------------------------------------------------------------
    async def claim_delivery(
        self,
        channel: ChannelRef,
        digest_key: str,
        idempotency_key: str,
        now: datetime,
        *,
        subscription_id: int | None = None,
        paper_ids: tuple[str, ...] = (),
    ) -> tuple[Delivery, bool]:
        # search_after: a message already posted here, so before any attempt of this row.
        row = await self._one(
            """
            INSERT INTO deliveries (platform, workspace, channel, digest_key, subscription_id,
                                    idempotency_key, status, attempts, paper_ids, search_after,
                                    created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7,
                    (SELECT d.message_id FROM deliveries AS d
                     WHERE d.platform = $1 AND d.workspace = $2 AND d.channel = $3
                       AND d.status = 'sent' AND d.message_id IS NOT NULL
                     ORDER BY d.id DESC LIMIT 1),
                    $8, $8)
            ON CONFLICT (platform, workspace, channel, digest_key) DO NOTHING
            RETURNING *
            """,
            (
                channel.platform,
                channel.workspace,
                channel.channel,
                digest_key,
                subscription_id,
                idempotency_key,
                self._ids(paper_ids),
                self._time(now),
            ),
        )
        if row is not None:
            return self._delivery(row), True
        existing = await self.get_delivery(channel, digest_key)
        if existing is None:  # only if deleted in between; not something Paperboy does
            raise StoreError(f"delivery ({channel}, {digest_key}) vanished while claiming it")
        return existing, False

    async def take_delivery(self, delivery_id: int, fence: Fence, now: datetime) -> Delivery | None:
        return await self._mark(delivery_id, fence, now, attempts=0)

    async def begin_attempt(self, delivery_id: int, fence: Fence, now: datetime) -> Delivery | None:
        return await self._mark(delivery_id, fence, now, attempts=1)

    async def _mark(
        self, delivery_id: int, fence: Fence, now: datetime, *, attempts: int
    ) -> Delivery | None:
        """Take the row for ``fence.owner`` (and count an attempt) if it is pending, nobody
        else holds it, and the owner's leadership lease is still valid: all in one statement."""
        row = await self._one(
            f"""
            UPDATE deliveries SET owner = $2, lease_until = {self.NOW_PLUS.format("$5")},
                                  attempts = attempts + $6, updated_at = $7
            WHERE id = $1 AND status = 'pending'
              AND (owner IS NULL OR owner = $2 OR lease_until IS NULL OR lease_until < {self.NOW})
              AND EXISTS (SELECT 1 FROM leases AS l
                          WHERE l.name = $3 AND l.owner = $2 AND l.token = $4
                            AND l.expires_at > {self.NOW})
            RETURNING *
            """,
            (
                delivery_id,
                fence.owner,
                fence.lease,
                fence.token,
                float(fence.ttl),
                attempts,
                self._time(now),
            ),
        )
        return None if row is None else self._delivery(row)

    async def complete_delivery(
        self,
        delivery_id: int,
        owner: str,
        message_id: str | None,
        now: datetime,
        *,
        status: str = "sent",
    ) -> bool:
        if status not in ("sent", "skipped"):
            raise ValueError(f"complete_delivery: status must be sent or skipped, not {status!r}")
        changed = await self._exec(
            "UPDATE deliveries SET status = $3, message_id = $4, lease_until = NULL,"
            " updated_at = $5 WHERE id = $1 AND status = 'pending' AND owner = $2",
            (delivery_id, owner, status, message_id, self._time(now)),
        )
        return changed > 0

    async def release_deliveries(self, owner: str, *, others: bool = False) -> int:
        """Give up the pending rows ``owner`` holds (``others``: the rows everyone else holds)."""
        test = "<>" if others else "="
        return await self._exec(
            "UPDATE deliveries SET owner = NULL, lease_until = NULL"
            f" WHERE status = 'pending' AND owner IS NOT NULL AND owner {test} $1",
            (owner,),
        )

    async def get_delivery(self, channel: ChannelRef, digest_key: str) -> Delivery | None:
        row = await self._one(
            "SELECT * FROM deliveries"
            " WHERE platform = $1 AND workspace = $2 AND channel = $3 AND digest_key = $4",
            (channel.platform, channel.workspace, channel.channel, digest_key),
        )
        return None if row is None else self._delivery(row)

    async def get_delivery_by_id(self, delivery_id: int) -> Delivery | None:
        row = await self._one("SELECT * FROM deliveries WHERE id = $1", (delivery_id,))
        return None if row is None else self._delivery(row)

    async def pending_deliveries(self, *, unowned: bool = False) -> list[Delivery]:
        where = " AND owner IS NULL" if unowned else ""
        rows = await self._all(
            f"SELECT * FROM deliveries WHERE status = 'pending'{where} ORDER BY id"
        )
        return [self._delivery(r) for r in rows]

    async def channel_deliveries(self, channel: ChannelRef) -> list[Delivery]:
        rows = await self._all(
            "SELECT * FROM deliveries WHERE platform = $1 AND workspace = $2 AND channel = $3"
            " ORDER BY id",
            (channel.platform, channel.workspace, channel.channel),
        )
        return [self._delivery(r) for r in rows]

    async def sent_digest_keys(self, channel: ChannelRef) -> set[str]:
        rows = await self._all(
            "SELECT digest_key FROM deliveries WHERE platform = $1 AND workspace = $2"
            " AND channel = $3 AND status IN ('sent', 'skipped')",
            (channel.platform, channel.workspace, channel.channel),
        )
        return {str(r["digest_key"]) for r in rows}

    # --- leases --------------------------------------------------------------------------------
    async def acquire_lease(
        self, name: str, owner: str, ttl: float, *, steal: bool = False
    ) -> int | None:
        """Take or renew lease ``name`` for ``owner`` for ``ttl`` seconds; its fencing token, or
        None while another owner holds it unexpired (``steal``: take it anyway). The token goes
        up whenever the lease changes hands, never when its holder renews it."""
        row = await self._one(
            f"""
            INSERT INTO leases (name, owner, token, expires_at)
            VALUES ($1, $2, 1, {self.NOW_PLUS.format("$3")})
            ON CONFLICT (name) DO UPDATE SET
                token = CASE WHEN leases.owner = excluded.owner
                             THEN leases.token ELSE leases.token + 1 END,
                owner = excluded.owner,
                expires_at = excluded.expires_at
            WHERE leases.owner = excluded.owner OR leases.expires_at <= {self.NOW} OR $4
            RETURNING token
            """,
            (name, owner, float(ttl), self._flag(steal)),
        )
        return None if row is None else int(row["token"])

    async def release_lease(self, name: str, owner: str) -> None:
        await self._exec(
            f"UPDATE leases SET expires_at = {self.NOW} WHERE name = $1 AND owner = $2",
            (name, owner),
        )

    async def lease_holder(self, name: str) -> tuple[str, int] | None:
        """(owner, token) of lease ``name`` while it is held, else None."""
        row = await self._one(
            f"SELECT owner, token FROM leases WHERE name = $1 AND expires_at > {self.NOW}",
            (name,),
        )
        return None if row is None else (str(row["owner"]), int(row["token"]))

    async def live_leases(self, prefix: str) -> list[tuple[str, str]]:
        """(name, owner) of every lease held now whose name starts with ``prefix``."""
        rows = await self._all(
            "SELECT name, owner FROM leases"
            f" WHERE substr(name, 1, length($1)) = $1 AND expires_at > {self.NOW}"
            " ORDER BY name",
            (prefix,),
        )
        return [(str(r["name"]), str(r["owner"])) for r in rows]

    # --- admin notices -------------------------------------------------------------------------
    async def add_notice(self, key: str, text: str, now: datetime) -> bool:
        changed = await self._exec(
            "INSERT INTO notices (key, text, status, attempts, next_at, created_at, updated_at)"
            " VALUES ($1, $2, 'pending', 0, $3, $3, $3) ON CONFLICT (key) DO NOTHING",
            (key, text, self._time(now)),
        )
        return changed > 0

    async def due_notices(self, now: datetime) -> list[Notice]:
        rows = await self._all(
            "SELECT * FROM notices WHERE status = 'pending' AND next_at <= $1"
            " ORDER BY created_at, key",
            (self._time(now),),
        )
        return [self._notice(r) for r in rows]

    async def next_notice_at(self) -> datetime | None:
        row = await self._one("SELECT MIN(next_at) AS at FROM notices WHERE status = 'pending'")
        return None if row is None or row["at"] is None else self._from_time(row["at"])

    async def claim_notice(self, key: str, now: datetime, retry_at: datetime) -> Notice | None:
        """Count an attempt at a due notice and put its next one at ``retry_at``; None if it is
        not due (another replica just claimed it) or no longer pending."""
        row = await self._one(
            "UPDATE notices SET attempts = attempts + 1, next_at = $3, updated_at = $2"
            " WHERE key = $1 AND status = 'pending' AND next_at <= $2 RETURNING *",
            (key, self._time(now), self._time(retry_at)),
        )
        return None if row is None else self._notice(row)

    async def finish_notice(
        self, key: str, status: NoticeStatus, message_id: str | None, now: datetime
    ) -> None:
        await self._exec(
            "UPDATE notices SET status = $2, message_id = $3, updated_at = $4 WHERE key = $1",
            (key, status, message_id, self._time(now)),
        )

    async def get_notice(self, key: str) -> Notice | None:
        row = await self._one("SELECT * FROM notices WHERE key = $1", (key,))
        return None if row is None else self._notice(row)

    def _delivery(self, row: Row) -> Delivery:
        sub_id = row["subscription_id"]
        return Delivery(
            id=int(row["id"]),
            channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
            digest_key=row["digest_key"],
            idempotency_key=row["idempotency_key"],
            status=cast(DeliveryStatus, row["status"]),
            message_id=row["message_id"],
            attempts=int(row["attempts"]),
            created_at=self._from_time(row["created_at"]),
            updated_at=self._from_time(row["updated_at"]),
            subscription_id=None if sub_id is None else int(sub_id),
            paper_ids=self._from_ids(row["paper_ids"]),
            search_after=row["search_after"],
            owner=row["owner"],
        )

    def _notice(self, row: Row) -> Notice:
        return Notice(
            key=row["key"],
            text=row["text"],
            status=cast(NoticeStatus, row["status"]),
            attempts=int(row["attempts"]),
            next_at=self._from_time(row["next_at"]),
            message_id=row["message_id"],
            created_at=self._from_time(row["created_at"]),
        )


__all__ = ["LedgerQueries"]
