"""What the store keeps about channels: subscriptions, the delivery ledger, posted digests,
votes, the vote reactions still to seed under digests, and the answers users may share. Plain
data; the stores in this package read and write it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.core.messages import ChannelRef, Reply

SubscriptionKind = Literal["curated", "community"]
# Where a subscription's schedule was last set: the config file, or a command in chat.
ScheduleOrigin = Literal["config", "chat"]


@dataclass(frozen=True, slots=True)
class Subscription:
    channel: ChannelRef
    cron: str
    timezone: str
    kind: SubscriptionKind = "curated"
    enabled: bool = True
    paused_reason: str | None = None
    # The last scheduled instant (UTC) the scheduler has handled (fired or skipped).
    last_fire_at: datetime | None = None
    id: int | None = None
    origin: ScheduleOrigin = "chat"
    # The next instant (UTC) the scheduler handles it; None: not planned yet (the scheduler
    # plans it). The store resets it when the schedule changes or the subscription resumes.
    next_fire_at: datetime | None = None


# A planned next fire: (cron, timezone, instant). Stored only while the subscription still has
# that cron and timezone, so a plan made just before a schedule change never overwrites it.
Planned = tuple[str, str, datetime]

DeliveryStatus = Literal["pending", "sent", "skipped"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A ledger row: one per (channel, digest), written before the send.

    ``subscription_id`` is the subscription that claimed it (for reference: the row outlives
    it). ``paper_ids`` are the digest's papers, so an edited week is recognised as the same
    week. ``search_after`` is a message the bot had already posted in the channel when the row
    was claimed: a look for this row's post on the platform starts after it. ``owner`` is the
    process that last took the row (see ``Fence``)."""

    id: int
    channel: ChannelRef
    digest_key: str
    idempotency_key: str
    status: DeliveryStatus
    message_id: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    subscription_id: int | None = None
    paper_ids: tuple[str, ...] = ()
    search_after: str | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Fence:
    """Proof that a process may still send: it holds the leadership lease ``lease`` with
    fencing token ``token`` as ``owner``. A ledger row is taken for ``ttl`` seconds (by the
    database's clock) under it; see ``Store.take_delivery``."""

    owner: str
    lease: str
    token: int
    ttl: float


NoticeStatus = Literal["pending", "posted", "dropped"]


@dataclass(frozen=True, slots=True)
class Notice:
    """An admin notice in the outbox: said once per ``key``, retried until posted."""

    key: str
    text: str
    status: NoticeStatus
    attempts: int
    next_at: datetime
    message_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PostedDigest:
    """A message the bot posted that carries papers: reactions on it are votes.

    ``paper_ids[i]`` is the paper at rank ``i + 1``; a single-paper message has one entry (a 👍
    on it votes for that paper)."""

    channel: ChannelRef
    message_id: str
    digest_key: str
    paper_ids: tuple[str, ...]
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class Vote:
    """One person's reaction on a posted message, as a vote: keyed on (channel, message, user,
    emoji), since a message id (a Slack ts) is unique only within its channel."""

    channel: ChannelRef
    message_id: str
    user_id: str
    emoji: str
    paper_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    paper_id: str
    votes: int


@dataclass(frozen=True, slots=True)
class SeedJob:
    """The vote reactions still to add under a posted digest, in order (platform spelling:
    Slack names such as ``one``, unicode on Discord). Gone once all are added."""

    channel: ChannelRef
    message_id: str
    emoji: tuple[str, ...]
    created_at: datetime
    attempts: int = 0  # failures in a row (not rate limits) since the last reaction went on


@dataclass(frozen=True, slots=True)
class Share:
    """A private answer exactly as a user saw it, kept so "Share to channel" posts that answer
    (not a new one) until ``expires_at``."""

    id: str
    channel: ChannelRef
    user_id: str
    reply: Reply
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Person:
    """Someone in one workspace: follows are theirs alone, per workspace."""

    platform: str
    workspace: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Follow:
    """One thing a person follows, as they typed it (normalised: ``diffusion -video``)."""

    id: int
    person: Person
    spec: str
    created_at: datetime


FollowAlertStatus = Literal["pending", "sent", "blocked", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class FollowAlert:
    """The ledger row of one person's alert for one week: claimed (``pending``, no attempt)
    before anything is sent; an attempt is counted right before the send, so a row with an
    attempt and no result is never sent again (it may have gone out)."""

    person: Person
    week_key: str
    status: FollowAlertStatus
    paper_ids: tuple[str, ...]
    attempts: int
    message_id: str | None
    created_at: datetime
