"""The send loop: one ledger row settled while this process holds it, posted with rate limits,
retries and back-off (steps 2-4 of the ledger protocol in ``bot.delivery.engine``).

Holding a row: ``Store.take_delivery`` under the leadership lease (``Fence``), and an asyncio
lock per row within the process. Right before each post, after any wait in the rate limiter,
``Store.begin_attempt`` checks again, in one statement, that the row is still pending, still
ours and the lease still valid; if that check itself took longer than ``RECHECK_WITHIN`` (the
process was paused, say), it is made again. A failed check ends the loop: the row is settled
(``already_sent``), held by another process (``in_progress``) or this one no longer leads
(``standby``). Completion only settles a row this process still holds."""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.core.clock import Clock
from bot.core.errors import PermanentError, RateLimited, TransientError
from bot.core.messages import ChannelRef
from bot.delivery.digest import Digest
from bot.delivery.leadership import Leadership
from bot.delivery.notices import AdminNotices
from bot.delivery.outcome import Outcome, already_sent, error_text, log_fields
from bot.delivery.ratelimit import PlatformLimiters, RateLimiter
from bot.delivery.seeding import SendActivity
from bot.ops.metrics import Metrics
from bot.storage.base import Store
from bot.storage.records import Delivery, PostedDigest, Subscription

if TYPE_CHECKING:
    from bot.delivery.engine import Poster

log = logging.getLogger("paperboy.delivery")

# A check that the row is still ours older than this (seconds) is made again before a send.
RECHECK_WITHIN = 2.0


@dataclass(slots=True)
class _Tries:
    """How one send loop is going."""

    unknown: bool  # an earlier attempt may have reached the platform: look before posting
    failures: int = 0
    limited: int = 0  # 429s: waited out, not counted as failures
    error: str | None = None

    def failed(self, error: str, *, unknown: bool) -> None:
        self.failures += 1
        self.error = error
        self.unknown = unknown


class _Lost(Exception):
    """The row is not ours to send any more; ``outcome`` says why."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.status)
        self.outcome = outcome


class Sender:
    """Settles ledger rows while holding them, posting with rate limits, retries and back-off;
    a permanent error pauses the subscription and tells the admin channel."""

    def __init__(
        self,
        store: Store,
        notices: AdminNotices,
        limiters: PlatformLimiters,
        metrics: Metrics,
        leadership: Leadership,
        *,
        clock: Clock,
        max_attempts: int,
        base_backoff: float,
        max_backoff: float,
        send_timeout: float,
        max_rate_limited: int,
        rng: random.Random,
        activity: SendActivity,
        on_posted: Callable[[PostedDigest], Awaitable[object]] | None,
    ) -> None:
        self.store = store
        self.activity = activity
        self.on_posted = on_posted
        self.notices = notices
        self.limiters = limiters
        self.metrics = metrics
        self.leadership = leadership
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.send_timeout = send_timeout
        self.max_rate_limited = max_rate_limited
        self._rng = rng
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def locked(
        self, sub: Subscription, row: Delivery, settle: Callable[[Delivery], Awaitable[Outcome]]
    ) -> Outcome:
        """``settle`` the row, fresh from the store, while this process holds it (an asyncio
        lock per row, and ``take_delivery`` under the leadership lease). A row no longer
        pending is ``already_sent``, one another process holds ``in_progress``, and without
        the lead it is ``standby``."""
        if row.status != "pending":
            return already_sent(sub, row)
        lock = self._locks.get(row.id)
        if lock is None:
            lock = self._locks[row.id] = asyncio.Lock()
        async with lock:
            try:
                taken = await self._hold(sub, row, attempt=False)
                return await settle(taken)
            except _Lost as lost:
                return lost.outcome

    async def _hold(self, sub: Subscription, row: Delivery, *, attempt: bool) -> Delivery:
        """Take the row (``attempt``: and count an attempt), checked within ``RECHECK_WITHIN``
        of returning; raises ``_Lost`` when it is not ours to send."""
        loop = asyncio.get_running_loop()
        while True:
            fence = await self.leadership.ensure()
            if fence is None:
                raise _Lost(self._standby(sub, row))
            started = loop.time()
            mark = self.store.begin_attempt if attempt else self.store.take_delivery
            taken = await mark(row.id, fence, self.clock.now())
            if taken is None:
                raise _Lost(await self._not_ours(sub, row))
            if loop.time() - started <= RECHECK_WITHIN and self.leadership.held:
                return taken
            log.warning(
                "checking a row took too long; checking again", extra=log_fields(sub, taken)
            )
            row, attempt = taken, False  # the attempt is counted already

    async def _not_ours(self, sub: Subscription, row: Delivery) -> Outcome:
        """Why a row could not be taken: settled, held by another process, or no lead."""
        fresh = await self.store.get_delivery_by_id(row.id) or row
        if fresh.status != "pending":
            return already_sent(sub, fresh)
        if not await self.leadership.acquire():  # the lease, not the row, was the problem
            return self._standby(sub, fresh)
        log.info("row held by another process", extra=log_fields(sub, fresh, owner=fresh.owner))
        return Outcome(sub.channel, fresh.digest_key, "in_progress", attempts=fresh.attempts)

    def _standby(self, sub: Subscription, row: Delivery) -> Outcome:
        return Outcome(sub.channel, row.digest_key, "standby", attempts=row.attempts)

    async def send(
        self, sub: Subscription, poster: Poster, row: Delivery, digest: Digest
    ) -> Outcome:
        """Post ``digest`` for ``row`` until it is on the platform, the subscription is paused,
        or the attempts run out (``failed``: the row stays pending)."""
        with self.activity.sending(sub.channel.platform):
            return await self._send(sub, poster, row, digest)

    async def _send(
        self, sub: Subscription, poster: Poster, row: Delivery, digest: Digest
    ) -> Outcome:
        limiter = self.limiters.get(sub.channel.platform)
        tries = _Tries(unknown=row.attempts > 0)  # an earlier process may have reached it
        while True:
            if tries.unknown:
                done = await self._look_first(sub, poster, row, digest, tries)
                if done is not None:
                    return done
                if tries.unknown:
                    continue  # the look-up failed (and backed off): look again
            if tries.failures >= self.max_attempts:
                return self._failed(sub, row, tries.error)
            if limiter is not None:
                await limiter.acquire(str(sub.channel))
            row = await self._hold(sub, row, attempt=True)  # right before the post
            done = await self._post(sub, poster, row, digest, limiter, tries)
            if done is not None:
                return done

    async def _look_first(
        self, sub: Subscription, poster: Poster, row: Delivery, digest: Digest, tries: _Tries
    ) -> Outcome | None:
        """Before posting again: is an earlier attempt already on the platform? ``None``: go
        on (``tries.unknown`` still set when the look-up failed and should be repeated)."""
        try:
            found = await self.find(poster, sub.channel, row)
        except PermanentError as exc:
            return await self._pause(sub, row, exc)
        except Exception as exc:
            tries.failed(error_text(exc), unknown=True)
            if tries.failures >= self.max_attempts:
                return self._failed(sub, row, tries.error)
            await self._backoff(tries.failures)
            return None
        if found is not None:
            await self.complete(sub, row, digest, found)
            log.info("reconciled: already on the platform", extra=log_fields(sub, row, found))
            return Outcome(sub.channel, row.digest_key, "reconciled", found, row.attempts)
        tries.unknown = False
        return None

    async def _post(
        self,
        sub: Subscription,
        poster: Poster,
        row: Delivery,
        digest: Digest,
        limiter: RateLimiter | None,
        tries: _Tries,
    ) -> Outcome | None:
        """One attempt (``row`` has counted it). ``None``: try again (after any back-off)."""
        ch = sub.channel
        started = asyncio.get_running_loop().time()
        try:
            message_id = await asyncio.wait_for(
                poster.post(ch, digest.message, row.idempotency_key), self.send_timeout
            )
        except RateLimited as exc:
            return await self._rate_limited(sub, row, limiter, tries, exc)
        except PermanentError as exc:
            return await self._pause(sub, row, exc)
        except TransientError as exc:
            tries.failed(error_text(exc), unknown=exc.outcome_unknown)
        except TimeoutError:
            tries.failed(f"no reply within {self.send_timeout:g}s", unknown=True)
        except Exception as exc:  # an adapter bug: assume it may have posted
            tries.failed(error_text(exc), unknown=True)
            log.warning(
                "unexpected error from poster", extra=log_fields(sub, row, error=tries.error)
            )
        else:
            elapsed = asyncio.get_running_loop().time() - started
            self.metrics.observe("send_seconds", elapsed, platform=ch.platform)
            await self.complete(sub, row, digest, message_id)
            return Outcome(ch, row.digest_key, "sent", message_id, row.attempts)
        extra = log_fields(sub, row, error=tries.error, unknown=tries.unknown)
        log.info("send failed; will retry", extra=extra)
        if tries.failures < self.max_attempts or tries.unknown:
            await self._backoff(tries.failures)
        return None

    async def _rate_limited(
        self,
        sub: Subscription,
        row: Delivery,
        limiter: RateLimiter | None,
        tries: _Tries,
        exc: RateLimited,
    ) -> Outcome | None:
        """Wait out a 429 (not an attempt) unless there have been too many."""
        ch = sub.channel
        tries.limited += 1
        self.metrics.inc("rate_limited", platform=ch.platform, is_global=exc.is_global)
        if tries.limited > self.max_rate_limited:
            return self._failed(sub, row, error_text(exc))
        if limiter is not None:
            limiter.penalize(str(ch), exc.retry_after, is_global=exc.is_global)
        else:
            await self._sleep(exc.retry_after)
        return None

    async def find(self, poster: Poster, ch: ChannelRef, row: Delivery) -> str | None:
        """The id of the message an earlier attempt of ``row`` posted, or None. The search is
        bounded by what the ledger recorded (``row.search_after``, a message posted before any
        attempt of the row), never by this process's clock."""
        return await asyncio.wait_for(
            poster.find_posted(ch, row.idempotency_key, row.search_after), self.send_timeout
        )

    async def complete(
        self, sub: Subscription, row: Delivery, digest: Digest | None, message_id: str
    ) -> None:
        """Mark ``row`` sent as ``message_id`` (recording the digest's papers, and what comes
        after a post (``on_posted``: its seed job), first), if this process still holds it."""
        now = self.clock.now()
        if digest is not None and digest.paper_ids:
            # Before completion: a crash in between reconciles (find_posted) and records again.
            posted = PostedDigest(sub.channel, message_id, row.digest_key, digest.paper_ids, now)
            await self.store.record_posted(posted)
            if self.on_posted is not None:
                await self.on_posted(posted)
        if not await self.store.complete_delivery(row.id, self.leadership.owner, message_id, now):
            log.error(
                "another process settled this row while we posted; ours may be a duplicate",
                extra=log_fields(sub, row, message_id),
            )

    async def skip(self, sub: Subscription, row: Delivery) -> None:
        """Close a row that will not be sent (its digest is gone), if this process holds it."""
        await self.store.complete_delivery(
            row.id, self.leadership.owner, None, self.clock.now(), status="skipped"
        )

    async def _pause(self, sub: Subscription, row: Delivery, exc: PermanentError) -> Outcome:
        assert sub.id is not None
        await self.store.set_paused(sub.id, exc.reason)
        log.warning("subscription paused", extra=log_fields(sub, row, error=exc.reason))
        await self.notices.notify(
            f"paused:{sub.channel}:{row.digest_key}",
            f"Paused the digest for {sub.channel}: {exc.reason} ({exc}). "
            "Fix the channel or the bot's access, then resume the subscription.",
        )
        return Outcome(
            sub.channel, row.digest_key, "paused", attempts=row.attempts, error=exc.reason
        )

    def _failed(self, sub: Subscription, row: Delivery, error: str | None) -> Outcome:
        log.warning("giving up for now; stays pending", extra=log_fields(sub, row, error=error))
        return Outcome(sub.channel, row.digest_key, "failed", attempts=row.attempts, error=error)

    async def _backoff(self, failures: int) -> None:
        delay = min(self.max_backoff, self.base_backoff * 2 ** (failures - 1))
        await self._sleep(delay * self._rng.uniform(0.5, 1.5))

    async def _sleep(self, seconds: float) -> None:
        await self.clock.sleep_until(self.clock.now() + timedelta(seconds=max(0.0, seconds)))


__all__ = ["Sender"]
