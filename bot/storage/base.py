"""The Store protocol: everything Paperboy persists. Two backends implement it: SQLite
(``bot.storage.sqlite``, default, a file in WAL mode, via aiosqlite) and PostgreSQL
(``bot.storage.postgres``, via asyncpg). ``bot.storage.open_store(url)`` picks one by URL. Both
run the same SQL, written once in ``bot.storage.queries`` (which says how to add a query).

The catalog of papers is *not* here: it is rebuilt from the sources at start-up. The store keeps
what cannot be rebuilt: subscriptions (and which config entry was last applied to each
channel), the delivery ledger, posted digests (message -> papers), votes, the vote
reactions still to seed, answers kept for sharing, processed event ids, the admin-notice
outbox, leadership leases, the private per-channel web link tokens, the arXiv metadata of the
archive's papers (kept to start offline), what each person follows and the ledger of their
follow alerts, and the Slack app's installations in each workspace with the OAuth states of
installs under way. A message id is
unique only within its channel (a Slack ``ts``), so posted digests and votes are keyed by
(channel, message id).

All datetimes passed in and returned are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.core.arxivmeta import ArxivMeta
from bot.core.messages import ChannelRef
from bot.storage.records import (
    Delivery,
    Fence,
    Follow,
    FollowAlert,
    FollowAlertStatus,
    LeaderboardEntry,
    Notice,
    NoticeStatus,
    Person,
    Planned,
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
        Updating keeps ``last_fire_at`` unless the cron or timezone changed (then it takes the
        given one: a schedule change passes "now", so the next fire is computed from now)."""

    async def get_subscription(self, channel: ChannelRef) -> Subscription | None: ...

    async def get_subscription_by_id(self, sub_id: int) -> Subscription | None: ...

    async def list_subscriptions(self, *, enabled_only: bool = False) -> list[Subscription]: ...

    async def delete_subscription(self, channel: ChannelRef) -> bool:
        """True if one was deleted. The channel's ledger rows stay (its history)."""

    async def set_paused(self, sub_id: int, reason: str | None) -> None:
        """Pause with a reason (``enabled`` false), or resume when ``reason`` is None."""

    async def set_last_fire(
        self, sub_id: int, fired_at: datetime, next_fire: Planned | None = None
    ) -> None:
        """Record the scheduled instant the scheduler last handled (fired or skipped), and the
        next one planned, ``(cron, timezone, instant)``: kept only if the subscription still
        has that cron and timezone, else (or when None) it is left to plan again."""

    async def set_next_fire(self, sub_id: int, planned: Planned) -> None:
        """Store the next instant ``(cron, timezone, instant)`` if the schedule is still that."""

    async def unplanned_subscriptions(self, limit: int, after_id: int = 0) -> list[Subscription]:
        """Enabled subscriptions with no next instant yet, by id, after ``after_id``."""

    async def due_subscriptions(
        self, now: datetime, limit: int, after: tuple[datetime, int] | None = None
    ) -> list[Subscription]:
        """Enabled subscriptions whose next instant is at or before ``now``, by (instant, id),
        after the key ``after`` (one page; index-backed, never the whole table)."""

    async def next_fire_after(self, now: datetime) -> datetime | None:
        """The earliest next instant of an enabled subscription that is after ``now``."""

    async def config_applied(self, channel: ChannelRef) -> str | None:
        """The hash of the config file entry last applied to ``channel`` (None: never)."""

    async def set_config_applied(
        self, channel: ChannelRef, entry_hash: str, now: datetime
    ) -> None: ...

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
        """Insert the ledger row for (channel, digest) if absent, status ``pending``, with the
        newest message already sent to the channel as its ``search_after``. Returns (row,
        created). Atomic: of two concurrent claims exactly one gets created=True."""

    async def take_delivery(self, delivery_id: int, fence: Fence, now: datetime) -> Delivery | None:
        """Hold the row for ``fence.owner`` for ``fence.ttl`` seconds: only if it is pending,
        held by nobody else (or their hold expired), and ``fence`` is still the valid holder of
        its leadership lease, in one statement. None when any of that fails."""

    async def begin_attempt(self, delivery_id: int, fence: Fence, now: datetime) -> Delivery | None:
        """``take_delivery`` that also counts an attempt, right before a send (so a crash leaves
        evidence of it). None: do not send."""

    async def complete_delivery(
        self,
        delivery_id: int,
        owner: str,
        message_id: str | None,
        now: datetime,
        *,
        status: str = "sent",
    ) -> bool:
        """Mark ``sent`` (with the platform message id) or ``skipped``, only if ``owner`` still
        holds the pending row. False when it does not (another owner's result stands)."""

    async def release_deliveries(self, owner: str, *, others: bool = False) -> int:
        """Let go of the pending rows ``owner`` holds (``others``: those everyone else holds,
        once they are known to be gone). The number of rows."""

    async def get_delivery(self, channel: ChannelRef, digest_key: str) -> Delivery | None: ...

    async def get_delivery_by_id(self, delivery_id: int) -> Delivery | None: ...

    async def pending_deliveries(self, *, unowned: bool = False) -> list[Delivery]:
        """Rows still ``pending`` (``unowned``: only those nobody holds)."""

    async def channel_deliveries(self, channel: ChannelRef) -> list[Delivery]:
        """Every ledger row of ``channel``, oldest first: its history."""

    async def sent_digest_keys(self, channel: ChannelRef) -> set[str]:
        """Digest keys already ``sent`` (or ``skipped``) to this channel."""

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

    # --- events ---------------------------------------------------------------------------------
    async def mark_event(self, event_id: str, now: datetime) -> bool:
        """Remember a platform event id; False if already seen (a retried delivery)."""

    # --- leadership ------------------------------------------------------------------------------
    async def acquire_lease(
        self, name: str, owner: str, ttl: float, *, steal: bool = False
    ) -> int | None:
        """Take or renew the lease ``name`` for ``owner`` for ``ttl`` seconds of the database's
        clock; its fencing token, or None while another owner holds it unexpired. The token
        changes whenever the lease changes hands. SQLite first takes an OS lock beside the file
        (one writer per file); PostgreSQL needs nothing more."""

    async def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up now (if ``owner`` holds it), so a standby takes over at once."""

    async def lease_holder(self, name: str) -> tuple[str, int] | None:
        """(owner, token) while lease ``name`` is held, else None."""

    async def live_leases(self, prefix: str) -> list[tuple[str, str]]:
        """(name, owner) of every lease held now whose name starts with ``prefix``."""

    # --- admin notices ---------------------------------------------------------------------------
    async def add_notice(self, key: str, text: str, now: datetime) -> bool:
        """Queue a notice, due now; False if one with this key exists (said once, ever)."""

    async def due_notices(self, now: datetime) -> list[Notice]: ...

    async def next_notice_at(self) -> datetime | None:
        """When the earliest pending notice is due (None: none pending)."""

    async def claim_notice(self, key: str, now: datetime, retry_at: datetime) -> Notice | None:
        """Count an attempt at a due notice, its next one at ``retry_at``; None if not due."""

    async def finish_notice(
        self, key: str, status: NoticeStatus, message_id: str | None, now: datetime
    ) -> None: ...

    async def get_notice(self, key: str) -> Notice | None: ...

    # --- arXiv metadata (bot.storage.arxiv_queries) ----------------------------------------------
    async def arxiv_meta(self, arxiv_ids: Sequence[str] | None = None) -> list[ArxivMeta]:
        """The stored metadata of these ids (``arxiv_key`` form; None: all); unknown ones are
        absent."""

    async def save_arxiv_meta(self, metas: Sequence[ArxivMeta]) -> None:
        """Insert or replace the metadata of each id."""

    # --- follows (bot.storage.follow_queries) ---------------------------------------------------
    async def add_follow(
        self, person: Person, spec: str, channel: str, now: datetime, *, limit: int
    ) -> str:
        """``added``, ``exists`` or ``full`` (at ``limit``); remembers ``channel`` and resumes
        the person's paused follows."""

    async def list_follows(self, person: Person) -> list[Follow]:
        """The person's follows, oldest first."""

    async def delete_follow(self, person: Person, follow_id: int) -> bool: ...

    async def delete_follows(self, person: Person) -> int:
        """Delete all of the person's follows and what was kept about them."""

    async def active_follows(self) -> list[tuple[Person, str]]:
        """(person, spec) of everyone whose follows are not paused."""

    async def follower(self, person: Person) -> tuple[str, str | None] | None:
        """(channel they last followed from, pause reason or None); None if unknown."""

    async def pause_follows(self, person: Person, reason: str, now: datetime) -> bool:
        """Pause; True if they were not paused before."""

    async def claim_pause_notice(self, person: Person) -> str | None:
        """Why the person's follows are paused, once per pause (None: not paused, or told)."""

    async def claim_follow_alert(
        self, person: Person, week_key: str, paper_ids: tuple[str, ...], now: datetime
    ) -> bool:
        """Write the alert's ledger row if absent; True if this call wrote it."""

    async def begin_follow_alert(
        self, person: Person, week_key: str, owner: str, now: datetime
    ) -> bool:
        """Count the single attempt right before the send; True for exactly one caller."""

    async def finish_follow_alert(
        self,
        person: Person,
        week_key: str,
        status: FollowAlertStatus,
        message_id: str | None,
        now: datetime,
    ) -> None: ...

    async def follow_alerts(
        self, week_key: str | None = None, *, unsent_only: bool = False
    ) -> list[FollowAlert]:
        """Ledger rows, oldest first; ``unsent_only``: claimed, not yet attempted."""

    # --- Slack distribution (OAuth installs) ---------------------------------------------------
    async def save_slack_installation(
        self, enterprise_id: str, team_id: str, data: str, now: datetime
    ) -> None:
        """Keep the workspace's installation (opaque JSON), replacing any earlier one.
        ``enterprise_id`` is '' outside Enterprise Grid."""

    async def slack_installation(self, enterprise_id: str, team_id: str) -> str | None: ...

    async def delete_slack_installation(self, enterprise_id: str, team_id: str) -> bool:
        """True if there was one."""

    async def issue_slack_oauth_state(
        self, state: str, expires_at: datetime, now: datetime
    ) -> None:
        """Keep a new state (and drop those expired by ``now``)."""

    async def consume_slack_oauth_state(self, state: str, now: datetime) -> bool:
        """True exactly once for an issued state that has not expired."""

    async def pause_workspace(
        self, platform: str, workspace: str, reason: str, now: datetime
    ) -> int:
        """Pause every enabled subscription of the workspace with ``reason``; how many."""

    async def resume_workspace(
        self, platform: str, workspace: str, reason: str, now: datetime
    ) -> int:
        """Resume the workspace's subscriptions paused with exactly ``reason``; how many."""

    async def forget_workspace(self, platform: str, workspace: str) -> dict[str, int]:
        """Delete everything kept about the workspace (and its Slack installation); rows
        deleted by table."""


__all__ = ["Store"]
