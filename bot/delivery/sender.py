"""The locked send loop: one ledger row settled under its locks, posted with rate limits,
retries and back-off (steps 2-4 of the ledger protocol in ``bot.delivery.engine``)."""

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


class Sender:
    """Settles ledger rows: under their locks, posting with rate limits, retries and back-off;
    a permanent error pauses the subscription and tells the admin channel."""

    def __init__(
        self,
        store: Store,
        notices: AdminNotices,
        limiters: PlatformLimiters,
        metrics: Metrics,
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
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.send_timeout = send_timeout
        self.max_rate_limited = max_rate_limited
        self._rng = rng
        self._locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def locked(
        self, sub: Subscription, row: Delivery, settle: Callable[[Delivery], Awaitable[Outcome]]
    ) -> Outcome:
        """``settle`` the row, fresh from the store, holding its locks (in process and across
        replicas); a row no longer pending is ``already_sent``, one locked elsewhere
        ``in_progress``."""
        if row.status != "pending":
            return already_sent(sub, row)
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
                    return already_sent(sub, row)
                return await settle(row)
            finally:
                try:
                    await self.store.release_leader(name)
                except Exception as exc:
                    log.warning("could not release delivery lock", extra={"error": error_text(exc)})

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
            row = await self.store.begin_attempt(row.id, self.clock.now())
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
        """The id of the message an earlier attempt of ``row`` posted, or None."""
        since = row.created_at - timedelta(minutes=1)  # allow for clock skew
        return await asyncio.wait_for(
            poster.find_posted(ch, row.idempotency_key, since), self.send_timeout
        )

    async def complete(
        self, sub: Subscription, row: Delivery, digest: Digest | None, message_id: str
    ) -> None:
        """Mark ``row`` sent as ``message_id`` (recording the digest's papers, and what comes
        after a post (``on_posted``: its seed job), first)."""
        now = self.clock.now()
        if digest is not None and digest.paper_ids:
            # Before completion: a crash in between reconciles (find_posted) and records again.
            posted = PostedDigest(sub.channel, message_id, row.digest_key, digest.paper_ids, now)
            await self.store.record_posted(posted)
            if self.on_posted is not None:
                await self.on_posted(posted)
        await self.store.complete_delivery(row.id, message_id, now)

    async def _pause(self, sub: Subscription, row: Delivery, exc: PermanentError) -> Outcome:
        assert sub.id is not None
        await self.store.set_paused(sub.id, exc.reason)
        log.warning("subscription paused", extra=log_fields(sub, row, error=exc.reason))
        await self.notices.notify(
            f"paused:{sub.id}:{row.digest_key}",
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
