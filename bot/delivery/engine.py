"""Getting digests into channels exactly once: the ledger protocol, fan-out, rate limits,
retries and reconciliation.

Per (subscription, digest) the ledger (``Store.claim_delivery``) holds one row, written *before*
anything is sent. One delivery:

1. claim the row; a row already ``sent`` means ``already_sent``;
2. take the row's lock (in process, and ``store.try_acquire_leader("delivery:<id>")`` across
   replicas: a PostgreSQL advisory lock, freed if the holder dies); a row another replica is
   sending right now means ``in_progress``;
3. a row with ``attempts > 0`` may already be on the platform (we crashed, or the reply was
   lost): ``poster.find_posted(channel, key, since=row.created_at)`` first; found means
   ``reconciled``;
4. ``begin_attempt`` (evidence of a send, written before it) -> ``poster.post`` ->
   ``record_posted`` (so reactions map to papers) -> ``complete_delivery``. A crash anywhere in
   between leaves a pending row with attempts > 0, which step 3 settles on the next start.

Errors: ``RateLimited`` waits ``retry_after`` (the channel's, or the whole platform's) and does
not count as an attempt, up to ``max_rate_limited`` times; ``TransientError`` and a send
timeout back off exponentially with jitter (a timeout or lost reply is ``outcome_unknown``:
reconcile before sending again); ``PermanentError`` pauses the subscription and tells the admin
channel once. Other exceptions from a poster count as transient with unknown outcome.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from bot.core.clock import Clock
from bot.core.errors import PermanentError, RateLimited, TransientError
from bot.core.messages import ChannelRef, Message
from bot.delivery.ratelimit import RateLimiter
from bot.ops.metrics import Metrics
from bot.storage.base import Store
from bot.storage.records import Delivery, PostedDigest, Subscription

log = logging.getLogger("paperboy.delivery")

# Admin notices are ledger rows of this pseudo subscription (ids start at 1), so each key is
# said once, across restarts and replicas.
ADMIN_SUBSCRIPTION_ID = 0
ADMIN_KEY_PREFIX = "admin:"
IDEMPOTENCY_KEY_LENGTH = 25

OutcomeStatus = Literal[
    "sent",  # posted now
    "already_sent",  # the ledger says it was posted before
    "reconciled",  # an earlier attempt had reached the platform: found it, not posted again
    "nothing_new",  # the provider has nothing this channel has not had
    "paused",  # the subscription is (now) paused
    "failed",  # gave up for now; the ledger row stays pending and is retried at next start
    "in_progress",  # another replica is delivering this very row right now
    "skipped",  # reconcile: a stale in-flight digest that never reached the platform
]


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
        self, channel: ChannelRef, idempotency_key: str, since: datetime
    ) -> str | None:
        """The id of a message already posted with this key since ``since``, or None.
        Used to reconcile a send whose outcome is unknown before sending again."""


@dataclass(frozen=True)
class Digest:
    key: str  # ledger digest key, e.g. "week:2025-06-23" or "community:2025-06-30"
    message: Message  # kind="digest", ephemeral=False
    paper_ids: tuple[str, ...]  # by rank, recorded with the posted message so votes map


class DigestProvider(Protocol):
    async def next_digest(
        self, sub: Subscription, sent_keys: set[str], now: datetime
    ) -> Digest | None:
        """The digest to post to ``sub`` now; None when there is nothing new for it."""


class ReplayableDigestProvider(DigestProvider, Protocol):
    """Optional: a provider that can rebuild one given digest (used to finish a delivery that
    was in flight at a crash even after a newer digest appeared)."""

    async def digest_for(self, sub: Subscription, key: str) -> Digest | None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    channel: ChannelRef
    digest_key: str | None
    status: OutcomeStatus
    message_id: str | None = None
    attempts: int = 0
    error: str | None = None


def idempotency_key(digest_key: str, channel: ChannelRef) -> str:
    """25 characters derived from (digest key, channel): Discord's nonce, Slack's metadata."""
    raw = hashlib.sha1(f"{digest_key}\x1f{channel}".encode()).digest()
    return "pb" + base64.b32encode(raw).decode("ascii").lower()[: IDEMPOTENCY_KEY_LENGTH - 2]


class DeliveryEngine:
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
    ) -> None:
        self.store = store
        self.posters: dict[str, Poster] = dict(posters)
        self.digests = digests
        self.clock = clock
        self.admin_channel = admin_channel
        self.stalled_after_weeks = stalled_after_weeks
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.send_timeout = send_timeout
        self.metrics = metrics or Metrics()
        self.concurrency = concurrency
        self.max_rate_limited = max_rate_limited
        self._rng = rng or random.Random()
        self._limiter_arg = limiter
        self._limiters: dict[str, RateLimiter | None] = {}
        self._locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._nothing_new: dict[int, int] = {}

    # --- public ----------------------------------------------------------------------------------
    async def fire(self, subs: Sequence[Subscription], fire_time: datetime) -> list[Outcome]:
        """Deliver to every subscription concurrently (at most ``concurrency`` at once; the
        rate limiter sets the pace). ``fire_time`` is the scheduled instant: providers see it as
        "now", so every replica and every retry builds the same digest key."""
        sem = asyncio.Semaphore(self.concurrency)

        async def one(sub: Subscription) -> Outcome:
            async with sem:
                return await self.deliver(sub, now=fire_time)

        outcomes = list(await asyncio.gather(*(one(s) for s in subs)))
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        log.info("fan-out done", extra={"at": fire_time.isoformat(), **counts})
        return outcomes

    async def deliver(
        self, sub: Subscription, digest: Digest | None = None, *, now: datetime | None = None
    ) -> Outcome:
        """Deliver one digest (``None``: ask the provider) to one subscription. Never raises
        for delivery or store problems: they come back as ``failed``."""
        try:
            outcome = await self._deliver(sub, digest, now or self.clock.now())
        except Exception as exc:
            log.exception("delivery failed", extra={"channel": str(sub.channel)})
            outcome = Outcome(sub.channel, digest.key if digest else None, "failed", error=_e(exc))
        self._count(outcome)
        return outcome

    async def reconcile_pending(self) -> list[Outcome]:
        """At start-up: finish or settle every ledger row left ``pending`` by an earlier run."""
        rows = await self.store.pending_deliveries()
        sem = asyncio.Semaphore(self.concurrency)

        async def one(row: Delivery) -> Outcome | None:
            async with sem:
                try:
                    return await self._reconcile_row(row)
                except Exception as exc:
                    log.exception("reconcile failed", extra={"delivery": row.id})
                    return Outcome(_NOWHERE, row.digest_key, "failed", error=_e(exc))

        results = await asyncio.gather(*(one(r) for r in rows))
        outcomes = [o for o in results if o is not None]
        for o in outcomes:
            self._count(o)
        if rows:
            log.info("reconciled pending deliveries", extra={"rows": len(rows)})
        return outcomes

    async def notify_admin(self, key: str, text: str) -> None:
        """Tell the admin channel ``text``, once per ``key`` ever (a ledger row guards it).
        Always logged; posted when an admin channel and its poster exist."""
        dkey = ADMIN_KEY_PREFIX + key
        target = self.admin_channel
        idem = idempotency_key(dkey, target or _NOWHERE)
        row, created = await self.store.claim_delivery(
            ADMIN_SUBSCRIPTION_ID, dkey, idem, self.clock.now()
        )
        if not created:
            return
        log.warning("admin notice", extra={"key": key, "notice": text})
        poster = self.posters.get(target.platform) if target else None
        message_id: str | None = None
        if target is not None and poster is not None:
            msg = Message(header="Paperboy", text=text, kind="notice", ephemeral=False)
            try:
                limiter = self._limiter(target.platform)
                if limiter is not None:
                    await limiter.acquire(str(target))
                message_id = await asyncio.wait_for(
                    poster.post(target, msg, idem), self.send_timeout
                )
            except Exception as exc:
                log.error("admin notice not posted", extra={"key": key, "error": _e(exc)})
        await self.store.complete_delivery(row.id, message_id, self.clock.now(), status="skipped")

    # --- one delivery ----------------------------------------------------------------------------
    async def _deliver(self, sub: Subscription, digest: Digest | None, now: datetime) -> Outcome:
        if sub.id is None:
            raise ValueError("subscription has no id (store it first)")
        if not sub.enabled:
            return Outcome(
                sub.channel, digest.key if digest else None, "paused", error=sub.paused_reason
            )
        poster = self.posters.get(sub.channel.platform)
        if poster is None:
            return _no_poster(sub, digest.key if digest else None)
        if digest is None:
            sent = await self.store.sent_digest_keys(sub.id)
            digest = await self.digests.next_digest(sub, sent, now)
            if digest is None:
                return await self._nothing_new_for(sub, now)
        self._nothing_new.pop(sub.id, None)
        key = idempotency_key(digest.key, sub.channel)
        row, _created = await self.store.claim_delivery(sub.id, digest.key, key, self.clock.now())
        return await self._locked(sub, poster, row, digest)

    async def _locked(
        self, sub: Subscription, poster: Poster, row: Delivery, digest: Digest | None
    ) -> Outcome:
        """Settle ``row`` holding its locks; ``digest`` None: only reconcile (a stale row)."""
        if row.status != "pending":
            return _already(sub, row)
        assert sub.id is not None
        lock = self._locks.get((sub.id, row.digest_key))
        if lock is None:
            lock = self._locks[(sub.id, row.digest_key)] = asyncio.Lock()
        async with lock:
            name = f"delivery:{row.id}"
            if not await self.store.try_acquire_leader(name):
                return Outcome(sub.channel, row.digest_key, "in_progress", attempts=row.attempts)
            try:
                fresh = await self.store.get_delivery(sub.id, row.digest_key)
                row = fresh or row
                if row.status != "pending":
                    return _already(sub, row)
                if digest is None:
                    return await self._settle_stale(sub, poster, row)
                return await self._send(sub, poster, row, digest)
            finally:
                try:
                    await self.store.release_leader(name)
                except Exception as exc:
                    log.warning("could not release delivery lock", extra={"error": _e(exc)})

    async def _send(
        self, sub: Subscription, poster: Poster, row: Delivery, digest: Digest
    ) -> Outcome:
        ch = sub.channel
        limiter = self._limiter(ch.platform)
        unknown = row.attempts > 0  # an earlier process may have reached the platform
        failures = 0
        limited = 0
        error: str | None = None
        while True:
            if unknown:
                try:
                    found = await self._find(poster, ch, row)
                except PermanentError as exc:
                    return await self._pause(sub, row, exc)
                except Exception as exc:
                    failures, error = failures + 1, _e(exc)
                    if failures >= self.max_attempts:
                        return self._failed(sub, row, error)
                    await self._backoff(failures)
                    continue
                if found is not None:
                    await self._complete(sub, row, digest, found)
                    log.info("reconciled: already on the platform", extra=_f(sub, row, found))
                    return Outcome(ch, row.digest_key, "reconciled", found, row.attempts)
                unknown = False
            if failures >= self.max_attempts:
                return self._failed(sub, row, error)
            if limiter is not None:
                await limiter.acquire(str(ch))
            row = await self.store.begin_attempt(row.id, self.clock.now())
            started = asyncio.get_running_loop().time()
            try:
                message_id = await asyncio.wait_for(
                    poster.post(ch, digest.message, row.idempotency_key), self.send_timeout
                )
            except RateLimited as exc:
                limited += 1
                self.metrics.inc("rate_limited", platform=ch.platform, is_global=exc.is_global)
                if limited > self.max_rate_limited:
                    return self._failed(sub, row, _e(exc))
                if limiter is not None:
                    limiter.penalize(str(ch), exc.retry_after, is_global=exc.is_global)
                else:
                    await self._sleep(exc.retry_after)
                continue
            except PermanentError as exc:
                return await self._pause(sub, row, exc)
            except TransientError as exc:
                failures, error = failures + 1, _e(exc)
                unknown = exc.outcome_unknown
            except TimeoutError:
                failures, error = failures + 1, f"no reply within {self.send_timeout:g}s"
                unknown = True
            except Exception as exc:  # an adapter bug: assume it may have posted
                failures, error = failures + 1, _e(exc)
                unknown = True
                log.warning("unexpected error from poster", extra=_f(sub, row, error=error))
            else:
                self.metrics.observe(
                    "send_seconds",
                    asyncio.get_running_loop().time() - started,
                    platform=ch.platform,
                )
                await self._complete(sub, row, digest, message_id)
                return Outcome(ch, row.digest_key, "sent", message_id, row.attempts)
            log.info("send failed; will retry", extra=_f(sub, row, error=error, unknown=unknown))
            if failures < self.max_attempts or unknown:
                await self._backoff(failures)

    async def _find(self, poster: Poster, ch: ChannelRef, row: Delivery) -> str | None:
        since = row.created_at - timedelta(minutes=1)  # allow for clock skew
        return await asyncio.wait_for(
            poster.find_posted(ch, row.idempotency_key, since), self.send_timeout
        )

    async def _complete(
        self, sub: Subscription, row: Delivery, digest: Digest | None, message_id: str
    ) -> None:
        now = self.clock.now()
        if digest is not None and digest.paper_ids:
            # Before completion: a crash in between reconciles (find_posted) and records again.
            await self.store.record_posted(
                PostedDigest(sub.channel, message_id, row.digest_key, digest.paper_ids, now)
            )
        await self.store.complete_delivery(row.id, message_id, now)

    async def _pause(self, sub: Subscription, row: Delivery, exc: PermanentError) -> Outcome:
        assert sub.id is not None
        await self.store.set_paused(sub.id, exc.reason)
        log.warning("subscription paused", extra=_f(sub, row, error=exc.reason))
        await self.notify_admin(
            f"paused:{sub.id}:{row.digest_key}",
            f"Paused the digest for {sub.channel}: {exc.reason} ({exc}). "
            "Fix the channel or the bot's access, then resume the subscription.",
        )
        return Outcome(
            sub.channel, row.digest_key, "paused", attempts=row.attempts, error=exc.reason
        )

    def _failed(self, sub: Subscription, row: Delivery, error: str | None) -> Outcome:
        log.warning("giving up for now; stays pending", extra=_f(sub, row, error=error))
        return Outcome(sub.channel, row.digest_key, "failed", attempts=row.attempts, error=error)

    # --- nothing new, stalled sources ----------------------------------------------------------
    async def _nothing_new_for(self, sub: Subscription, now: datetime) -> Outcome:
        assert sub.id is not None
        count = self._nothing_new[sub.id] = self._nothing_new.get(sub.id, 0) + 1
        log.info("nothing new to post", extra={"channel": str(sub.channel), "in_a_row": count})
        if sub.kind == "curated":
            await self._check_stalled(sub, now, count)
        return Outcome(sub.channel, None, "nothing_new")

    async def _check_stalled(self, sub: Subscription, now: datetime, count: int) -> None:
        """Stalled: the newest digest sent here is ``stalled_after_weeks`` weeks old (from the
        ledger, so it survives restarts); with no history, that many fires in a row had
        nothing."""
        assert sub.id is not None
        keys = await self.store.sent_digest_keys(sub.id)
        if keys:
            newest = max(keys)  # "week:<ISO date>" keys sort by date
            row = await self.store.get_delivery(sub.id, newest)
            age = now - row.updated_at if row is not None else timedelta(0)
            limit = timedelta(weeks=self.stalled_after_weeks) - timedelta(hours=12)
            stalled, episode = age >= limit, newest
        else:
            stalled, episode = count >= self.stalled_after_weeks, "never"
        if stalled:
            await self.notify_admin(
                f"stalled:{sub.id}:{episode}",
                f"Nothing new to post to {sub.channel} for {self.stalled_after_weeks} weeks "
                f"(newest digest sent: {episode}). The curated source looks stalled.",
            )

    # --- reconciliation at start-up ---------------------------------------------------------
    async def _reconcile_row(self, row: Delivery) -> Outcome | None:
        sub = await self.store.get_subscription_by_id(row.subscription_id)
        if sub is None:
            # An admin notice cut short, or the subscription is gone: nothing to finish.
            await self.store.complete_delivery(row.id, None, self.clock.now(), status="skipped")
            return None
        if not sub.enabled:
            return Outcome(sub.channel, row.digest_key, "paused", error=sub.paused_reason)
        poster = self.posters.get(sub.channel.platform)
        if poster is None:
            return _no_poster(sub, row.digest_key)
        digest = await self._replay(sub, row)
        return await self._locked(sub, poster, row, digest)

    async def _replay(self, sub: Subscription, row: Delivery) -> Digest | None:
        """The digest ``row`` was for, if the provider can still build it."""
        digest_for = getattr(self.digests, "digest_for", None)
        if callable(digest_for):
            d: Digest | None = await digest_for(sub, row.digest_key)
            if d is not None and d.key == row.digest_key:
                return d
        assert sub.id is not None
        sent = await self.store.sent_digest_keys(sub.id)
        d = await self.digests.next_digest(sub, sent, row.created_at)
        return d if d is not None and d.key == row.digest_key else None

    async def _settle_stale(self, sub: Subscription, poster: Poster, row: Delivery) -> Outcome:
        """A pending row whose digest cannot be rebuilt: complete it if it reached the
        platform, else mark it skipped (a newer digest supersedes it)."""
        if row.attempts > 0:
            try:
                found = await self._find(poster, sub.channel, row)
            except Exception as exc:
                return Outcome(sub.channel, row.digest_key, "failed", error=_e(exc))
            if found is not None:
                await self._complete(sub, row, None, found)
                return Outcome(sub.channel, row.digest_key, "reconciled", found, row.attempts)
        await self.store.complete_delivery(row.id, None, self.clock.now(), status="skipped")
        log.warning("stale in-flight digest skipped", extra=_f(sub, row))
        return Outcome(sub.channel, row.digest_key, "skipped", attempts=row.attempts)

    # --- helpers --------------------------------------------------------------------------------
    def _limiter(self, platform: str) -> RateLimiter | None:
        arg = self._limiter_arg
        if isinstance(arg, RateLimiter):
            return arg
        if platform not in self._limiters:
            self._limiters[platform] = (
                arg.get(platform) if arg is not None else RateLimiter.for_platform(platform)
            )
        return self._limiters[platform]

    async def _backoff(self, failures: int) -> None:
        delay = min(self.max_backoff, self.base_backoff * 2 ** (failures - 1))
        await self._sleep(delay * self._rng.uniform(0.5, 1.5))

    async def _sleep(self, seconds: float) -> None:
        await self.clock.sleep_until(self.clock.now() + timedelta(seconds=max(0.0, seconds)))

    def _count(self, o: Outcome) -> None:
        self.metrics.inc("deliveries", status=o.status, platform=o.channel.platform)
        if o.status == "sent":
            self.metrics.inc("posts_sent", platform=o.channel.platform)
        elif o.status == "failed":
            self.metrics.inc("posts_failed", platform=o.channel.platform)


_NOWHERE = ChannelRef("none", "", "")


def _no_poster(sub: Subscription, key: str | None) -> Outcome:
    error = f"no poster for platform {sub.channel.platform!r}"
    return Outcome(sub.channel, key, "failed", error=error)


def _already(sub: Subscription, row: Delivery) -> Outcome:
    return Outcome(sub.channel, row.digest_key, "already_sent", row.message_id, row.attempts)


def _e(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _f(
    sub: Subscription, row: Delivery, message_id: str | None = None, **more: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "channel": str(sub.channel),
        "digest": row.digest_key,
        "delivery": row.id,
        "attempts": row.attempts,
    }
    if message_id is not None:
        fields["message_id"] = message_id
    return {**fields, **more}


__all__ = [
    "DeliveryEngine",
    "Digest",
    "DigestProvider",
    "Outcome",
    "ReplayableDigestProvider",
    "idempotency_key",
]
