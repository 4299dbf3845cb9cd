"""The queries for Slack distribution (tables ``slack_installations`` and
``slack_oauth_states``, migration 7), written once for both stores like the rest of ``SqlStore``
(see ``bot.storage.queries`` for the rules); pausing or resuming every subscription of one
workspace, which an uninstall and a reinstall do; and forgetting a workspace on request.

An installation is kept as opaque JSON (slack_sdk's ``Installation``, serialised by
``bot.platforms.slack.oauth``), one row per (enterprise, team): installing again replaces it.
An OAuth state is consumed by one ``DELETE``: of two callbacks with the same state, one wins.
"""

from __future__ import annotations

from datetime import datetime

from bot.storage.dialect import SqlDialect

# Every table keyed by (platform, workspace, ...): what ``forget_workspace`` deletes.
WORKSPACE_TABLES = (
    "subscriptions",
    "config_applied",
    "deliveries",
    "posted",
    "votes",
    "seed_jobs",
    "shares",
    "feed_tokens",
    "follows",
    "followers",
    "follow_alerts",
)


class SlackQueries(SqlDialect):
    """Store methods for Slack installations and OAuth states (declared on ``Store``)."""

    # --- installations ---------------------------------------------------------------------------
    async def save_slack_installation(
        self, enterprise_id: str, team_id: str, data: str, now: datetime
    ) -> None:
        await self._exec(
            """
            INSERT INTO slack_installations (enterprise_id, team_id, data, installed_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (enterprise_id, team_id) DO UPDATE SET
                data = excluded.data, installed_at = excluded.installed_at
            """,
            (enterprise_id, team_id, data, self._time(now)),
        )

    async def slack_installation(self, enterprise_id: str, team_id: str) -> str | None:
        row = await self._one(
            "SELECT data FROM slack_installations WHERE enterprise_id = $1 AND team_id = $2",
            (enterprise_id, team_id),
        )
        return None if row is None else str(row["data"])

    async def delete_slack_installation(self, enterprise_id: str, team_id: str) -> bool:
        n = await self._exec(
            "DELETE FROM slack_installations WHERE enterprise_id = $1 AND team_id = $2",
            (enterprise_id, team_id),
        )
        return n > 0

    # --- OAuth states ----------------------------------------------------------------------------
    async def issue_slack_oauth_state(
        self, state: str, expires_at: datetime, now: datetime
    ) -> None:
        """Keep a new state; states expired by ``now`` are dropped, so abandoned installs do
        not pile up."""
        await self._exec(
            "DELETE FROM slack_oauth_states WHERE expires_at <= $1", (self._time(now),)
        )
        await self._exec(
            "INSERT INTO slack_oauth_states (state, expires_at) VALUES ($1, $2)",
            (state, self._time(expires_at)),
        )

    async def consume_slack_oauth_state(self, state: str, now: datetime) -> bool:
        """True once for a state issued and not expired; expired states are dropped too."""
        await self._exec(
            "DELETE FROM slack_oauth_states WHERE expires_at <= $1", (self._time(now),)
        )
        n = await self._exec("DELETE FROM slack_oauth_states WHERE state = $1", (state,))
        return n > 0

    # --- a workspace's subscriptions -------------------------------------------------------------
    async def pause_workspace(
        self, platform: str, workspace: str, reason: str, now: datetime
    ) -> int:
        """Pause every enabled subscription of the workspace with ``reason``; how many."""
        return await self._exec(
            "UPDATE subscriptions SET enabled = $3, paused_reason = $4, updated_at = $5"
            " WHERE platform = $1 AND workspace = $2 AND enabled = $6",
            (platform, workspace, self._flag(False), reason, self._time(now), self._flag(True)),
        )

    async def resume_workspace(
        self, platform: str, workspace: str, reason: str, now: datetime
    ) -> int:
        """Resume the workspace's subscriptions paused with exactly ``reason`` (left to be
        planned again, as ``set_paused`` does); how many."""
        return await self._exec(
            "UPDATE subscriptions SET enabled = $3, paused_reason = NULL, updated_at = $5,"
            " next_fire_at = NULL"
            " WHERE platform = $1 AND workspace = $2 AND enabled = $6 AND paused_reason = $4",
            (platform, workspace, self._flag(True), reason, self._time(now), self._flag(False)),
        )

    # --- forgetting a workspace --------------------------------------------------------------
    async def forget_workspace(self, platform: str, workspace: str) -> dict[str, int]:
        """Delete everything kept about one workspace (on its request): its subscriptions,
        their ledger, posted digests, votes, seed jobs, shares, feed links, what people there
        follow, and for Slack its installation. Rows deleted, by table."""
        deleted: dict[str, int] = {}
        for table in WORKSPACE_TABLES:
            deleted[table] = await self._exec(
                f"DELETE FROM {table} WHERE platform = $1 AND workspace = $2",
                (platform, workspace),
            )
        if platform == "slack":
            deleted["slack_installations"] = await self._exec(
                "DELETE FROM slack_installations WHERE team_id = $1", (workspace,)
            )
        return deleted


__all__ = ["WORKSPACE_TABLES", "SlackQueries"]
