"""The Store protocol: everything Paperboy persists. Two backends implement it: SQLite
(``bot.storage.sqlite``, default, a file in WAL mode, via aiosqlite) and PostgreSQL
(``bot.storage.postgres``, via asyncpg). ``bot.storage.open_store(url)`` picks one by URL. Both
run the same SQL, written once in ``bot.storage.queries`` (which says how to add a query).

The catalog of papers is *not* here: it is rebuilt from the sources at start-up. The store keeps
what cannot be rebuilt: subscriptions, the delivery ledger, posted digests (message -> papers),
votes, the vote reactions still to seed, answers kept for sharing, processed event ids,
scheduler leadership, and the private per-channel web link tokens. A message id is unique only
within its channel (a Slack ``ts``), so posted digests and votes are keyed by (channel, message
id).

All datetimes passed in and returned are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.core.messages import ChannelRef
from bot.storage.records import (
    Delivery,
    LeaderboardEntry,
    PostedDigest,
    SeedJob,
    Share,
    Subscription,
    Vote,
)


class Store(Protocol):
    url: str  # for logs, with any password masked

    async def open(self) -> None:
        """Connect and apply pending schema migrations (idempotent, safe for concurrent
        replicas). Raises ``StoreError`` with one clear line when unreachable."""

    async def close(self) -> None: ...

    # --- subscriptions -------------------------------------------------------------------------
    async def upsert_subscription(self, sub: Subscription) -> Subscription:
        """Insert or update by channel (platform, workspace, channel); returns it with ``id``.
        Updating keeps ``last_fire_at`` unless the cron or timezone changed."""

    async def get_subscription(self, channel: ChannelRef) -> Subscription | None: ...

    async def get_subscription_by_id(self, sub_id: int) -> Subscription | None: ...

    async def list_subscriptions(self, *, enabled_only: bool = False) -> list[Subscription]: ...

    async def delete_subscription(self, channel: ChannelRef) -> bool:
        """True if one was deleted. Its ledger rows stay (history)."""

    async def set_paused(self, sub_id: int, reason: str | None) -> None:
        """Pause with a reason (``enabled`` false), or resume when ``reason`` is None."""

    async def set_last_fire(self, sub_id: int, fired_at: datetime) -> None:
        """Record the scheduled instant the scheduler last handled (fired or skipped)."""

    # --- delivery ledger -------------------------------------------------------------------------
    async def claim_delivery(
        self, sub_id: int, digest_key: str, idempotency_key: str, now: datetime
    ) -> tuple[Delivery, bool]:
        """Insert the ledger row for (subscription, digest) if absent, status ``pending``.
        Returns (row, created). Atomic: of two concurrent claims exactly one gets created=True."""

    async def begin_attempt(self, delivery_id: int, now: datetime) -> Delivery:
        """Increment ``attempts`` before a send (so a crash leaves evidence of an attempt)."""

    async def complete_delivery(
        self, delivery_id: int, message_id: str | None, now: datetime, *, status: str = "sent"
    ) -> None:
        """Mark ``sent`` (with the platform message id) or ``skipped``."""

    async def get_delivery(self, sub_id: int, digest_key: str) -> Delivery | None: ...

    async def pending_deliveries(self) -> list[Delivery]:
        """Rows still ``pending`` (in flight when a previous process stopped)."""

    async def sent_digest_keys(self, sub_id: int) -> set[str]:
        """Digest keys already ``sent`` (or ``skipped``) to this subscription."""

    # --- posted digests and votes ----------------------------------------------------------------
    async def record_posted(self, posted: PostedDigest) -> None:
        """Map a posted message to its papers (upsert on (channel, message_id))."""

    async def get_posted(self, channel: ChannelRef, message_id: str) -> PostedDigest | None: ...

    async def latest_posted(self, channel: ChannelRef) -> PostedDigest | None:
        """The newest message the bot posted in this channel that carries papers."""

    async def posted_since(self, platform: str, since: datetime) -> list[PostedDigest]:
        """Messages carrying papers posted on ``platform`` at or after ``since``, newest first
        (the digests whose votes are read back after a restart)."""

    async def add_vote(self, vote: Vote) -> bool:
        """Add to the vote set keyed on (channel, message_id, user_id, emoji).
        True if it was new; a duplicate is a no-op returning False."""

    async def remove_vote(
        self, channel: ChannelRef, message_id: str, user_id: str, emoji: str
    ) -> bool:
        """True if a vote was removed."""

    async def votes_on(self, channel: ChannelRef, message_id: str) -> list[Vote]:
        """The votes on one message."""

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
        """Papers by number of distinct voters (platform, user) among votes cast at or after
        ``since`` (and before ``until``), optionally within one platform / workspace / channel;
        ties by paper id."""

    # --- the web archive (bot.storage.webqueries) -----------------------------------------------
    async def get_feed_token(self, channel: ChannelRef) -> str | None:
        """The channel's private web link token, or None if it has none yet."""

    async def set_feed_token(self, channel: ChannelRef, token: str, now: datetime) -> None:
        """Give the channel ``token`` (create, or rotate: the old token stops resolving)."""

    async def feed_channel(self, token: str) -> ChannelRef | None:
        """The channel a token belongs to; None for an unknown or rotated-away token."""

    async def posted_in(self, channel: ChannelRef, limit: int = 50) -> list[PostedDigest]:
        """Messages the bot posted in the channel that carry papers, newest first."""

    async def vote_counts(self, paper_ids: Sequence[str]) -> dict[str, int]:
        """Distinct voters (platform, user) per paper, all time and all platforms; papers
        without votes are absent."""

    async def last_vote_at(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> datetime | None:
        """When the newest vote in ``[since, until)`` was cast; None if there is none."""

    # --- seed jobs: vote reactions still to add under posted digests -----------------------------
    async def add_seed_job(self, job: SeedJob) -> bool:
        """Store the job unless one exists for that message (then: False, the old one stays)."""

    async def seed_jobs(self, limit: int = 1000) -> list[SeedJob]:
        """Pending jobs, oldest first."""

    async def update_seed_job(
        self,
        channel: ChannelRef,
        message_id: str,
        emoji: tuple[str, ...],
        attempts: int,
        now: datetime,
    ) -> None:
        """What is still to add, and the failures in a row so far."""

    async def delete_seed_job(self, channel: ChannelRef, message_id: str) -> None: ...

    # --- answers kept for "Share to channel" -----------------------------------------------------
    async def save_share(self, share: Share) -> None:
        """Keep an answer under its id (and forget the expired ones now and then)."""

    async def get_share(self, share_id: str) -> Share | None:
        """The answer kept under ``share_id`` (maybe expired: check ``expires_at``), or None."""

    # --- events and leadership -------------------------------------------------------------------
    async def mark_event(self, event_id: str, now: datetime) -> bool:
        """Remember a platform event id; False if already seen (a retried delivery)."""

    async def try_acquire_leader(self, name: str = "scheduler") -> bool:
        """Become the one replica that runs the scheduler. SQLite: always True (one process per
        file). PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated
        connection until ``release_leader`` or ``close``."""

    async def release_leader(self, name: str = "scheduler") -> None: ...


__all__ = ["Store"]
