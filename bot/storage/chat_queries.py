"""The shared SQL for what chat needs: posted digests (message -> papers), votes and
leaderboards, the vote reactions still to seed under digests, and answers kept for sharing.
Written once for both stores on top of ``SqlDialect``; ``SqlStore`` (``bot.storage.queries``)
inherits it, and that module's docstring says how to add a query.

A message id is unique only within its channel (a Slack ``ts``), so every key here names the
channel: (platform, workspace, channel, message id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from bot.core.messages import ChannelRef, Reply, message_from_json, message_to_json
from bot.storage.dialect import PRUNE_EVERY, Row, SqlDialect, as_utc
from bot.storage.records import LeaderboardEntry, PostedDigest, SeedJob, Share, Vote


class ChatQueries(SqlDialect):
    """Posted digests, votes, seed jobs and shares (``Store`` methods; see the module)."""

    _MESSAGE: ClassVar[str] = (
        "platform = $1 AND workspace = $2 AND channel = $3 AND message_id = $4"
    )

    def __init__(self) -> None:
        self._last_share_prune: datetime | None = None

    @staticmethod
    def _message(channel: ChannelRef, message_id: str) -> tuple[str, str, str, str]:
        return (channel.platform, channel.workspace, channel.channel, message_id)

    # --- posted digests and votes ----------------------------------------------------------------
    async def record_posted(self, posted: PostedDigest) -> None:
        await self._exec(
            """
            INSERT INTO posted (platform, workspace, channel, message_id, digest_key, paper_ids,
                                posted_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (platform, workspace, channel, message_id) DO UPDATE SET
                digest_key = excluded.digest_key,
                paper_ids = excluded.paper_ids,
                posted_at = excluded.posted_at
            """,
            (
                *self._message(posted.channel, posted.message_id),
                posted.digest_key,
                self._ids(posted.paper_ids),
                self._time(posted.posted_at),
            ),
        )

    async def get_posted(self, channel: ChannelRef, message_id: str) -> PostedDigest | None:
        row = await self._one(
            f"SELECT * FROM posted WHERE {self._MESSAGE}", self._message(channel, message_id)
        )
        return None if row is None else self._posted(row)

    async def latest_posted(self, channel: ChannelRef) -> PostedDigest | None:
        row = await self._one(
            f"""
            SELECT * FROM posted
            WHERE platform = $1 AND workspace = $2 AND channel = $3 AND {self.HAS_PAPERS}
            ORDER BY posted_at DESC, {self.NEWEST_TIEBREAK} LIMIT 1
            """,
            (channel.platform, channel.workspace, channel.channel),
        )
        return None if row is None else self._posted(row)

    async def posted_since(self, platform: str, since: datetime) -> list[PostedDigest]:
        rows = await self._all(
            f"""
            SELECT * FROM posted
            WHERE platform = $1 AND posted_at >= $2 AND {self.HAS_PAPERS}
            ORDER BY posted_at DESC, {self.NEWEST_TIEBREAK}
            """,
            (platform, self._time(since)),
        )
        return [self._posted(r) for r in rows]

    async def add_vote(self, vote: Vote) -> bool:
        changed = await self._exec(
            """
            INSERT INTO votes (platform, workspace, channel, message_id, user_id, emoji, paper_id,
                               created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (platform, workspace, channel, message_id, user_id, emoji) DO NOTHING
            """,
            (
                *self._message(vote.channel, vote.message_id),
                vote.user_id,
                vote.emoji,
                vote.paper_id,
                self._time(vote.at),
            ),
        )
        return changed > 0

    async def remove_vote(
        self, channel: ChannelRef, message_id: str, user_id: str, emoji: str
    ) -> bool:
        changed = await self._exec(
            f"DELETE FROM votes WHERE {self._MESSAGE} AND user_id = $5 AND emoji = $6",
            (*self._message(channel, message_id), user_id, emoji),
        )
        return changed > 0

    async def votes_on(self, channel: ChannelRef, message_id: str) -> list[Vote]:
        rows = await self._all(
            f"SELECT * FROM votes WHERE {self._MESSAGE} ORDER BY user_id, emoji",
            self._message(channel, message_id),
        )
        return [
            Vote(
                channel,
                message_id,
                str(r["user_id"]),
                str(r["emoji"]),
                str(r["paper_id"]),
                self._from_time(r["created_at"]),
            )
            for r in rows
        ]

    async def leaderboard(
        self,
        *,
        since: datetime | None = None,
        platform: str | None = None,
        workspace: str | None = None,
        channel: str | None = None,
        limit: int = 10,
        until: datetime | None = None,
    ) -> list[LeaderboardEntry]:
        if limit <= 0:
            return []
        where: list[str] = []
        params: list[Any] = []
        for test, value in (
            ("created_at >=", self._opt_time(since)),
            ("created_at <", self._opt_time(until)),
            ("platform =", platform),
            ("workspace =", workspace),
            ("channel =", channel),
        ):
            if value is not None:
                params.append(value)
                where.append(f"{test} ${len(params)}")
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

    # --- seed jobs -------------------------------------------------------------------------------
    async def add_seed_job(self, job: SeedJob) -> bool:
        changed = await self._exec(
            """
            INSERT INTO seed_jobs (platform, workspace, channel, message_id, emoji, attempts,
                                   created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
            ON CONFLICT (platform, workspace, channel, message_id) DO NOTHING
            """,
            (
                *self._message(job.channel, job.message_id),
                self._ids(job.emoji),
                job.attempts,
                self._time(job.created_at),
            ),
        )
        return changed > 0

    async def seed_jobs(self, limit: int = 1000) -> list[SeedJob]:
        rows = await self._all(
            "SELECT * FROM seed_jobs"
            " ORDER BY created_at, platform, workspace, channel, message_id LIMIT $1",
            (limit,),
        )
        return [
            SeedJob(
                ChannelRef(r["platform"], r["workspace"], r["channel"]),
                str(r["message_id"]),
                self._from_ids(r["emoji"]),
                self._from_time(r["created_at"]),
                int(r["attempts"]),
            )
            for r in rows
        ]

    async def update_seed_job(
        self,
        channel: ChannelRef,
        message_id: str,
        emoji: tuple[str, ...],
        attempts: int,
        now: datetime,
    ) -> None:
        await self._exec(
            "UPDATE seed_jobs SET emoji = $5, attempts = $6, updated_at = $7"
            f" WHERE {self._MESSAGE}",
            (*self._message(channel, message_id), self._ids(emoji), attempts, self._time(now)),
        )

    async def delete_seed_job(self, channel: ChannelRef, message_id: str) -> None:
        await self._exec(
            f"DELETE FROM seed_jobs WHERE {self._MESSAGE}", self._message(channel, message_id)
        )

    # --- shared answers --------------------------------------------------------------------------
    async def save_share(self, share: Share) -> None:
        now = as_utc(share.created_at)
        if self._last_share_prune is None or now - self._last_share_prune >= PRUNE_EVERY:
            self._last_share_prune = now
            await self._exec("DELETE FROM shares WHERE expires_at < $1", (self._time(now),))
        ch, reply = share.channel, share.reply
        await self._exec(
            """
            INSERT INTO shares (id, platform, workspace, channel, user_id, message, digest_key,
                                paper_ids, created_at, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """,
            (
                share.id,
                ch.platform,
                ch.workspace,
                ch.channel,
                share.user_id,
                message_to_json(reply.message),
                reply.digest_key,
                self._ids(reply.paper_ids),
                self._time(share.created_at),
                self._time(share.expires_at),
            ),
        )

    async def get_share(self, share_id: str) -> Share | None:
        row = await self._one("SELECT * FROM shares WHERE id = $1", (share_id,))
        if row is None:
            return None
        reply = Reply(
            message_from_json(row["message"]),
            paper_ids=self._from_ids(row["paper_ids"]),
            digest_key=str(row["digest_key"]),
        )
        return Share(
            id=str(row["id"]),
            channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
            user_id=str(row["user_id"]),
            reply=reply,
            created_at=self._from_time(row["created_at"]),
            expires_at=self._from_time(row["expires_at"]),
        )

    # --- rows -> records -------------------------------------------------------------------------
    def _posted(self, row: Row) -> PostedDigest:
        return PostedDigest(
            channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
            message_id=row["message_id"],
            digest_key=row["digest_key"],
            paper_ids=self._from_ids(row["paper_ids"]),
            posted_at=self._from_time(row["posted_at"]),
        )


__all__ = ["ChatQueries"]
