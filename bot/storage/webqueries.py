"""The queries the web archive needs (``bot.web``), written once for both stores like the rest
of ``SqlStore`` (see ``bot.storage.queries`` for the rules), and kept in their own module:
private per-channel links (``feed_tokens``, migration ``feed_tokens``), what was posted in one
channel, vote counts for a page's papers, and the newest vote in a time window.

``WebQueries`` builds on ``ChatQueries`` (it reads posted digests with the same row mapper),
and like every query module on the dialect primitives ``SqliteStore`` and ``PostgresStore``
provide (``SqlDialect``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.core.messages import ChannelRef
from bot.storage.chat_queries import ChatQueries
from bot.storage.records import PostedDigest

# Paper ids per ``IN (...)`` list: well under SQLite's and PostgreSQL's parameter limits.
IDS_PER_QUERY = 500


class WebQueries(ChatQueries):
    """Store methods for the web archive (declared on the ``Store`` protocol)."""

    # --- private per-channel links -------------------------------------------------------------
    async def get_feed_token(self, channel: ChannelRef) -> str | None:
        row = await self._one(
            "SELECT token FROM feed_tokens WHERE platform = $1 AND workspace = $2 AND channel = $3",
            (channel.platform, channel.workspace, channel.channel),
        )
        return None if row is None else str(row["token"])

    async def set_feed_token(self, channel: ChannelRef, token: str, now: datetime) -> None:
        await self._exec(
            """
            INSERT INTO feed_tokens (platform, workspace, channel, token, created_at)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (platform, workspace, channel) DO UPDATE SET
                token = excluded.token,
                created_at = excluded.created_at
            """,
            (channel.platform, channel.workspace, channel.channel, token, self._time(now)),
        )

    async def feed_channel(self, token: str) -> ChannelRef | None:
        row = await self._one(
            "SELECT platform, workspace, channel FROM feed_tokens WHERE token = $1", (token,)
        )
        if row is None:
            return None
        return ChannelRef(row["platform"], row["workspace"], row["channel"])

    # --- what was posted in a channel ----------------------------------------------------------
    async def posted_in(self, channel: ChannelRef, limit: int = 50) -> list[PostedDigest]:
        if limit <= 0:
            return []
        rows = await self._all(
            f"""
            SELECT * FROM posted
            WHERE platform = $1 AND workspace = $2 AND channel = $3 AND {self.HAS_PAPERS}
            ORDER BY posted_at DESC, {self.NEWEST_TIEBREAK} LIMIT $4
            """,
            (channel.platform, channel.workspace, channel.channel, limit),
        )
        return [self._posted(r) for r in rows]

    # --- votes -----------------------------------------------------------------------------------
    async def vote_counts(self, paper_ids: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        ids = list(dict.fromkeys(paper_ids))
        for at in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[at : at + IDS_PER_QUERY]
            marks = ", ".join(f"${i}" for i in range(1, len(chunk) + 1))
            rows = await self._all(
                f"""
                SELECT paper_id, COUNT(*) AS votes
                FROM (SELECT DISTINCT paper_id, platform, user_id FROM votes
                      WHERE paper_id IN ({marks})) AS voters
                GROUP BY paper_id
                """,
                chunk,
            )
            counts.update((str(r["paper_id"]), int(r["votes"])) for r in rows)
        return counts

    async def last_vote_at(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> datetime | None:
        where: list[str] = []
        params: list[Any] = []
        for test, value in (("created_at >=", since), ("created_at <", until)):
            if value is not None:
                params.append(self._time(value))
                where.append(f"{test} ${len(params)}")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        row = await self._one(f"SELECT MAX(created_at) AS at FROM votes {clause}", params)
        value = None if row is None else row["at"]
        return None if value is None else self._from_time(value)


__all__ = ["IDS_PER_QUERY", "WebQueries"]
