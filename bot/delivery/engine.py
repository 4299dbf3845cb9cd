"""Getting digests into channels exactly once: the ledger protocol, fan-out, rate limits,
retries and reconciliation.

Per (channel, digest) the ledger (``Store.claim_delivery``) holds one row, written *before*
anything is sent; it is the channel's history, whatever happens to its subscription. Only the
leader sends (``bot.delivery.leadership``: a lease with a fencing token). One delivery:

1. find the channel's row for the digest (``digest.delivered_as``: its key, or the same curated
   week edited since); a settled one means ``already_sent``; else claim a row;
2. hold the row (an asyncio lock in process, ``take_delivery`` under the lease across
   processes); a row another process holds means ``in_progress``, no lead means ``standby``
   (an admin's ``post`` on a standby leaves the row ``queued`` for the leader);
3. a row with ``attempts > 0`` may already be on the platform (we crashed, or the reply was
   lost): ``poster.find_posted(channel, key, after=row.search_after)`` first, bounded by a
   message the ledger recorded, never by the local clock; found means ``reconciled``;
4. ``begin_attempt`` (the hold checked again and the attempt counted, right before the send)
   -> ``poster.post`` -> ``record_posted`` (so reactions map to papers) -> ``on_posted`` (the
   seed job for its vote reactions, ``bot.delivery.seeding``) -> ``complete_delivery`` (only if
   still held). A crash anywhere in between leaves a pending row with attempts > 0, which step
   3 settles on the next start (recording the digest and its seed job then).

Posting never waits on seeding, and seeding waits on posting: ``activity`` marks each platform
busy from the moment a send is due until it is settled, and the seeder holds back meanwhile.

Errors: ``RateLimited`` waits ``retry_after`` (the channel's, or the whole platform's) and does
not count as an attempt, up to ``max_rate_limited`` times; ``TransientError`` and a send
timeout back off exponentially with jitter (a timeout or lost reply is ``outcome_unknown``:
reconcile before sending again); ``PermanentError`` pauses the subscription and tells the admin
channel once. Other exceptions from a poster count as transient with unknown outcome.

``DeliveryEngine`` (here) fans out and runs one delivery; ``sender`` holds the locked send loop
(steps 2-4), ``reconcile`` settles rows left pending at start-up, ``notices`` tells the admin
channel, ``outcome`` holds what a delivery comes to and ``digest`` what is sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Protocol

from bot.core.clock import Clock
from bot.core.messages import ChannelRef, Message
from bot.delivery.digest import Digest, DigestProvider, delivered_as
from bot.delivery.fairness import FairSlots
from bot.delivery.leadership import Leadership
from bot.delivery.notices import AdminNotices
from bot.delivery.outcome import Outcome, already_sent, error_text, idempotency_key, no_poster
from bot.delivery.ratelimit import PlatformLimiters, RateLimiter
from bot.delivery.reconcile import Reconciler
from bot.delivery.seeding import SendActivity
from bot.delivery.sender import Sender
from bot.ops.metrics import Metrics
from bot.storage.base import Store
from bot.storage.records import PostedDigest, Subscription

log = logging.getLogger("paperboy.delivery")


class Poster(Protocol):
    """What the engine needs from a platform adapter. An adapter translates a neutral
    ``Message`` into its platform's format and posts it, raising only delivery errors:
    ``RateLimited`` (429, with retry_after), ``TransientError`` (5xx, timeouts;
    ``outcome_unknown=True`` when the request may have been stored, e.g. the reply was lost),
    ``PermanentError`` (channel gone, not allowed: the subscription is paused)."""

    platform: str

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        """Post ``message`` to ``channel`` and return the platform's message id.

        ``idempotency_key`` (at most 25 chars) is carried with the message (Discord: nonce with
        enforce_nonce; Slack: message metadata) so ``find_posted`` can find it later."""

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        """The id of a message already posted with this key, or None. Used to reconcile a
        send whose outcome is unknown before sending again. ``after`` is the id of a message
        the bot posted in the channel before the send (from the ledger); the search need not
        look further back. None: no such message; look back as far as is reasonable."""

    async def prepare(self, channel: ChannelRef) -> None:
        """Get ready to post and verify posts in ``channel`` (Slack joins a public channel);
        errors are the adapter's to log, never raised."""


class DeliveryEngine:
    """Delivers digests to subscriptions exactly once (see above). ``posters`` maps a platform
    name to its adapter; the app adds its adapters to ``self.posters`` once they exist."""

    def __init__(
        self,
        store: Store,
        posters: Mapping[str, Poster],
        digests: DigestProvider,
        *,
        clock: Clock,
        admin_channel: ChannelRef | None = None,
        stalled_after_weeks: int = 2,
        max_attempts: int = 6,
        base_backoff: float = 1.0,
        max_backoff: float = 60.0,
        send_timeout: float = 30.0,
        limiter: RateLimiter | Mapping[str, RateLimiter] | None = None,
        metrics: Metrics | None = None,
        concurrency: int = 50,
        max_rate_limited: int = 30,
        rng: random.Random | None = None,
        activity: SendActivity | None = None,
        on_posted: Callable[[PostedDigest], Awaitable[object]] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        """``activity``: where sends in progress are marked (the seeder waits on it);
        ``on_posted``: called with each digest recorded as posted, before its ledger row is
        completed (the app enqueues its seed job there)."""
        self.store = store
        self.posters: dict[str, Poster] = dict(posters)  # the app adds its adapters later
        self.digests = digests
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.concurrency = concurrency
        self._slots = FairSlots(
            concurrency, on_depth=lambda n: self.metrics.set("delivery_queue_depth", n)
        )
        self.activity = activity or SendActivity()
        self.leadership = leadership or Leadership(store)
        limiters = PlatformLimiters(limiter)
        self.notices = AdminNotices(
            store,
            self.posters,
            limiters,
            self.leadership,
            clock=clock,
            channel=admin_channel,
            stalled_after_weeks=stalled_after_weeks,
            send_timeout=send_timeout,
        )
        self.sender = Sender(
            store,
            self.notices,
            limiters,
            self.metrics,
            self.leadership,
            clock=clock,
            max_attempts=max_attempts,
            base_backoff=base_backoff,
            max_backoff=max_backoff,
            send_timeout=send_timeout,
            max_rate_limited=max_rate_limited,
            rng=rng or random.Random(),
            activity=self.activity,
            on_posted=on_posted,
        )
        self.reconciler = Reconciler(
            store, self.posters, digests, self.sender, clock=clock, concurrency=concurrency
        )

    # --- public ----------------------------------------------------------------------------------
    async def fire(self, subs: Sequence[Subscription], fire_time: datetime) -> list[Outcome]:
        """Deliver to every subscription concurrently: at most ``concurrency`` at once across
        every fire, servers taking turns (``FairSlots``); the rate limiter sets the pace.
        ``fire_time`` is the scheduled instant: providers see it as "now", so every replica
        and every retry builds the same digest key."""
        slots = self._slots

        async def one(sub: Subscription) -> Outcome:
            ch = sub.channel
            with self.activity.sending(ch.platform):  # due now, even while queued
                async with slots.slot((ch.platform, ch.workspace)):
                    return await self.deliver(sub, now=fire_time)

        outcomes = list(await asyncio.gather(*(one(s) for s in subs)))
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        log.info("fan-out done", extra={"at": fire_time.isoformat(), **counts})
        if not counts.get("failed"):
            self.metrics.set("last_successful_fire_timestamp_seconds", self.clock.now().timestamp())
        return outcomes

    async def deliver(
        self,
        sub: Subscription,
        digest: Digest | None = None,
        *,
        now: datetime | None = None,
        queue: bool = False,
    ) -> Outcome:
        """Deliver one digest (``None``: ask the provider) to one subscription. Never raises
        for delivery or store problems: they come back as ``failed``. On a standby, ``queue``
        claims the row for the leader to post (``queued``) instead of answering ``standby``."""
        try:
            outcome = await self._deliver(sub, digest, now or self.clock.now(), queue=queue)
        except Exception as exc:
            log.exception("delivery failed", extra={"channel": str(sub.channel)})
            outcome = Outcome(
                sub.channel, digest.key if digest else None, "failed", error=error_text(exc)
            )
        self._count(outcome)
        return outcome

    async def reconcile_pending(self) -> list[Outcome]:
        """At start-up (and when taking over the lead): finish or settle every ledger row left
        ``pending``, then post the admin notices that are due."""
        outcomes = await self.reconciler.reconcile_pending()
        for o in outcomes:
            self._count(o)
        await self.notices.flush()
        return outcomes

    async def flush(self) -> None:
        """The leader's regular chores between fires: post rows queued by standbys (and rows
        a stopped process let go of), and the admin notices that are due."""
        if not self.leadership.held:
            return
        for o in await self.reconciler.reconcile_pending(unowned=True):
            if o.status in ("sent", "reconciled", "skipped"):  # the rest is looked at again
                self._count(o)
        await self.notices.flush()

    async def notify_admin(self, key: str, text: str) -> None:
        """Tell the admin channel ``text``, once per ``key`` ever (the outbox guards it).
        Always logged; posted when an admin channel and its poster exist."""
        await self.notices.notify(key, text)

    async def prepare(self, channel: ChannelRef) -> None:
        """Let the channel's adapter get ready to post there (Slack joins public channels)."""
        poster = self.posters.get(channel.platform)
        if poster is not None:
            try:
                await poster.prepare(channel)
            except Exception as exc:
                log.warning(
                    "could not prepare channel", extra={"channel": str(channel), "error": exc}
                )

    # --- one delivery ----------------------------------------------------------------------------
    async def _deliver(
        self, sub: Subscription, digest: Digest | None, now: datetime, *, queue: bool
    ) -> Outcome:
        if not sub.enabled:
            return Outcome(
                sub.channel, digest.key if digest else None, "paused", error=sub.paused_reason
            )
        poster = self.posters.get(sub.channel.platform)
        if poster is None:
            return no_poster(sub, digest.key if digest else None)
        fence = await self.leadership.ensure()
        if fence is None and not queue:
            return Outcome(sub.channel, digest.key if digest else None, "standby")
        history = await self.store.channel_deliveries(sub.channel)
        if digest is None:
            sent = {r.digest_key for r in history if r.status != "pending"}
            digest = await self.digests.next_digest(sub, sent, now)
            if digest is None:
                return await self.notices.nothing_new_for(sub, now)
        row = delivered_as(history, digest)
        if row is not None and row.status != "pending":
            if row.digest_key != digest.key:
                log.info(
                    "the same curated week, edited since it was posted: not posted again",
                    extra={"channel": str(sub.channel), "digest": digest.key, "as": row.digest_key},
                )
            await self.notices.nothing_new_for(sub, now)
            return already_sent(sub, row)
        self.notices.something_new(sub.channel)
        if row is None:
            key = idempotency_key(digest.key, sub.channel)
            row, _created = await self.store.claim_delivery(
                sub.channel,
                digest.key,
                key,
                self.clock.now(),
                subscription_id=sub.id,
                paper_ids=digest.paper_ids,
            )
        if fence is None:
            log.info(
                "queued for the leader",
                extra={"channel": str(sub.channel), "digest": row.digest_key},
            )
            return Outcome(sub.channel, row.digest_key, "queued")
        return await self.sender.locked(
            sub, row, partial(self.sender.send, sub, poster, digest=digest)
        )

    def _count(self, o: Outcome) -> None:
        self.metrics.inc("deliveries", status=o.status, platform=o.channel.platform)
        if o.status == "sent":
            self.metrics.inc("posts_sent", platform=o.channel.platform)
        elif o.status == "failed":
            self.metrics.inc("posts_failed", platform=o.channel.platform)


__all__ = ["DeliveryEngine", "Poster"]
