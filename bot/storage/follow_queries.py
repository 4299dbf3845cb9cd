"""The queries for follows (tables ``follows``, ``followers`` and ``follow_alerts``, migration
5), written once for both stores like the rest of ``SqlStore`` (see ``bot.storage.queries``).

The alert ledger works like the digest ledger: ``claim_follow_alert`` writes the row for a
(person, week) before anything is sent, at most once; ``begin_follow_alert`` counts the one
attempt right before the send, in one statement that succeeds for one caller only (so two
processes, or a restart, never send the same alert twice); ``finish_follow_alert`` records the
outcome. A row with an attempt and no outcome is never tried again: it may have gone out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from bot.storage.dialect import SqlDialect
from bot.storage.records import Follow, FollowAlert, FollowAlertStatus, Person


def _who(p: Person) -> tuple[str, str, str]:
    return (p.platform, p.workspace, p.user_id)


class FollowQueries(SqlDialect):
    """Store methods for follows and their alert ledger (declared on the ``Store`` protocol)."""

    # --- what people follow ----------------------------------------------------------------------
    async def add_follow(
        self, person: Person, spec: str, channel: str, now: datetime, *, limit: int
    ) -> str:
        """``added``, ``exists`` (already followed) or ``full`` (``limit`` reached). Adding
        also remembers ``channel`` (where to tell the person things privately) and resumes
        their paused follows."""
        row = await self._one(
            "SELECT COUNT(*) AS n FROM follows WHERE platform = $1 AND workspace = $2 "
            "AND user_id = $3",
            _who(person),
        )
        count = int(row["n"]) if row is not None else 0
        added = 0
        if count < limit:
            added = await self._exec(
                """
                INSERT INTO follows (platform, workspace, user_id, spec, created_at)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (platform, workspace, user_id, spec) DO NOTHING
                """,
                (*_who(person), spec, self._time(now)),
            )
        await self._exec(
            """
            INSERT INTO followers (platform, workspace, user_id, channel, paused_reason,
                                   updated_at)
            VALUES ($1, $2, $3, $4, NULL, $5)
            ON CONFLICT (platform, workspace, user_id) DO UPDATE SET
                channel = excluded.channel, paused_reason = NULL, updated_at = excluded.updated_at
            """,
            (*_who(person), channel, self._time(now)),
        )
        if added:
            return "added"
        exists = await self._one(
            "SELECT 1 AS x FROM follows WHERE platform = $1 AND workspace = $2 AND user_id = $3 "
            "AND spec = $4",
            (*_who(person), spec),
        )
        return "exists" if exists is not None else "full"

    async def list_follows(self, person: Person) -> list[Follow]:
        rows = await self._all(
            "SELECT id, spec, created_at FROM follows WHERE platform = $1 AND workspace = $2 "
            "AND user_id = $3 ORDER BY id",
            _who(person),
        )
        return [
            Follow(int(r["id"]), person, str(r["spec"]), self._from_time(r["created_at"]))
            for r in rows
        ]

    async def delete_follow(self, person: Person, follow_id: int) -> bool:
        n = await self._exec(
            "DELETE FROM follows WHERE platform = $1 AND workspace = $2 AND user_id = $3 "
            "AND id = $4",
            (*_who(person), follow_id),
        )
        return n > 0

    async def delete_follows(self, person: Person) -> int:
        """Everything the person follows, and what was kept about them; the number deleted."""
        n = await self._exec(
            "DELETE FROM follows WHERE platform = $1 AND workspace = $2 AND user_id = $3",
            _who(person),
        )
        await self._exec(
            "DELETE FROM followers WHERE platform = $1 AND workspace = $2 AND user_id = $3",
            _who(person),
        )
        return n

    async def active_follows(self) -> list[tuple[Person, str]]:
        """(person, spec) of everyone whose follows are not paused, by person then follow."""
        rows = await self._all(
            """
            SELECT f.platform, f.workspace, f.user_id, f.spec
            FROM follows AS f
            LEFT JOIN followers AS p
                   ON p.platform = f.platform AND p.workspace = f.workspace
                  AND p.user_id = f.user_id
            WHERE p.paused_reason IS NULL
            ORDER BY f.platform, f.workspace, f.user_id, f.id
            """
        )
        return [(Person(r["platform"], r["workspace"], r["user_id"]), str(r["spec"])) for r in rows]

    async def follower(self, person: Person) -> tuple[str, str | None] | None:
        """(channel they last followed from, why their follows are paused or None)."""
        row = await self._one(
            "SELECT channel, paused_reason FROM followers WHERE platform = $1 AND workspace = $2 "
            "AND user_id = $3",
            _who(person),
        )
        return None if row is None else (str(row["channel"]), row["paused_reason"])

    async def pause_follows(self, person: Person, reason: str, now: datetime) -> bool:
        """Pause the person's follows; True if they were not paused before (tell them once)."""
        n = await self._exec(
            "UPDATE followers SET paused_reason = $4, told = $6, updated_at = $5 "
            "WHERE platform = $1 AND workspace = $2 AND user_id = $3 AND paused_reason IS NULL",
            (*_who(person), reason, self._time(now), self._flag(False)),
        )
        return n > 0

    async def claim_pause_notice(self, person: Person) -> str | None:
        """The reason the person's follows are paused, if they have not been told yet (and
        from now on they have: one caller gets it, once per pause)."""
        row = await self._one(
            "UPDATE followers SET told = $4 WHERE platform = $1 AND workspace = $2 "
            "AND user_id = $3 AND paused_reason IS NOT NULL AND told = $5 "
            "RETURNING paused_reason",
            (*_who(person), self._flag(True), self._flag(False)),
        )
        return None if row is None else str(row["paused_reason"])

    # --- the alert ledger ------------------------------------------------------------------------
    async def claim_follow_alert(
        self, person: Person, week_key: str, paper_ids: tuple[str, ...], now: datetime
    ) -> bool:
        """Write the ledger row for (person, week) if there is none; True if this call did."""
        n = await self._exec(
            """
            INSERT INTO follow_alerts (platform, workspace, user_id, week_key, paper_ids,
                                       created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $6)
            ON CONFLICT (platform, workspace, user_id, week_key) DO NOTHING
            """,
            (*_who(person), week_key, self._ids(paper_ids), self._time(now)),
        )
        return n > 0

    async def begin_follow_alert(
        self, person: Person, week_key: str, owner: str, now: datetime
    ) -> bool:
        """Count the one attempt, right before the send. True for exactly one caller, ever."""
        n = await self._exec(
            """
            UPDATE follow_alerts SET attempts = attempts + 1, owner = $5, updated_at = $6
            WHERE platform = $1 AND workspace = $2 AND user_id = $3 AND week_key = $4
              AND status = 'pending' AND attempts = 0
            """,
            (*_who(person), week_key, owner, self._time(now)),
        )
        return n > 0

    async def finish_follow_alert(
        self,
        person: Person,
        week_key: str,
        status: FollowAlertStatus,
        message_id: str | None,
        now: datetime,
    ) -> None:
        await self._exec(
            """
            UPDATE follow_alerts SET status = $5, message_id = $6, updated_at = $7
            WHERE platform = $1 AND workspace = $2 AND user_id = $3 AND week_key = $4
              AND status = 'pending'
            """,
            (*_who(person), week_key, status, message_id, self._time(now)),
        )

    async def follow_alerts(
        self, week_key: str | None = None, *, unsent_only: bool = False
    ) -> list[FollowAlert]:
        """Ledger rows (of one week), oldest first; ``unsent_only``: those claimed and not yet
        attempted (what a pass cut short left to send)."""
        where, params = [], []
        if week_key is not None:
            params.append(week_key)
            where.append(f"week_key = ${len(params)}")
        if unsent_only:
            where.append("status = 'pending' AND attempts = 0")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._all(
            f"SELECT * FROM follow_alerts {clause} ORDER BY created_at, platform, workspace, "
            "user_id",
            params,
        )
        return [self._follow_alert(r) for r in rows]

    def _follow_alert(self, row: Any) -> FollowAlert:
        return FollowAlert(
            person=Person(row["platform"], row["workspace"], row["user_id"]),
            week_key=str(row["week_key"]),
            status=cast(FollowAlertStatus, row["status"]),
            paper_ids=self._from_ids(row["paper_ids"]),
            attempts=int(row["attempts"]),
            message_id=row["message_id"],
            created_at=self._from_time(row["created_at"]),
        )


__all__ = ["FollowQueries"]
