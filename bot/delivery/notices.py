"""Admin notices (a durable outbox) and stalled-source checks.

A notice is said once per key, ever: ``notify`` queues it in the store's outbox (a second call
with the same key, from this process, a restart or another replica, is a no-op) and logs it.
The leader posts due notices to the admin channel (``flush``, also run by the scheduler every
leader poll and at start-up), and a notice whose post fails is retried with back-off
(``RETRY_FIRST`` doubling up to ``RETRY_MAX``) until it is posted, across restarts. A refusal
that is about the bot rather than the channel (a revoked token) is waited out like any other
failure; an admin channel that is permanently gone drops its notices, which were logged when
they were queued, and says so once. Without an admin channel notices are only logged.

A curated subscription whose fires keep finding nothing new raises a ``stalled`` notice once its
newest sent digest is ``stalled_after_weeks`` weeks old.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.core.clock import Clock
from bot.core.errors import PermanentError
from bot.core.messages import ChannelRef, Message
from bot.delivery.leadership import Leadership
from bot.delivery.outcome import Outcome, error_text, idempotency_key
from bot.delivery.ratelimit import PlatformLimiters
from bot.storage.base import Store
from bot.storage.records import Notice, Subscription

if TYPE_CHECKING:
    from bot.delivery.engine import Poster

log = logging.getLogger("paperboy.delivery")

ADMIN_KEY_PREFIX = "admin:"
RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th attempt a notice is tried again."""
    doublings = min(max(0, attempts - 1), 16)
    return min(RETRY_MAX, RETRY_FIRST * (1 << doublings))


class AdminNotices:
    """Tells the admin channel about paused subscriptions and stalled sources.

    ``posters`` is the engine's own mapping (the app adds its adapters after start-up)."""

    def __init__(
        self,
        store: Store,
        posters: Mapping[str, Poster],
        limiters: PlatformLimiters,
        leadership: Leadership,
        *,
        clock: Clock,
        channel: ChannelRef | None,
        stalled_after_weeks: int,
        send_timeout: float,
    ) -> None:
        self.store = store
        self.posters = posters
        self.limiters = limiters
        self.leadership = leadership
        self.clock = clock
        self.channel = channel
        self.stalled_after_weeks = stalled_after_weeks
        self.send_timeout = send_timeout
        self._nothing_new: dict[ChannelRef, int] = {}  # fires in a row with nothing new
        self._channel_gone_said = False
        self._flushing = asyncio.Lock()

    async def notify(self, key: str, text: str) -> None:
        """Queue ``text`` for the admin channel, once per ``key`` ever, log it, and post what
        is due if this process leads."""
        if not await self.store.add_notice(key, text, self.clock.now()):
            return
        log.warning("admin notice", extra={"key": key, "notice": text})
        if self.channel is None:
            await self.store.finish_notice(key, "dropped", None, self.clock.now())
            return
        await self.flush()

    async def flush(self) -> None:
        """Post every due notice (leader only); a failed one is tried again later."""
        target = self.channel
        poster = self.posters.get(target.platform) if target is not None else None
        if target is None or poster is None or not self.leadership.held:
            return
        async with self._flushing:
            now = self.clock.now()
            for notice in await self.store.due_notices(now):
                retry_at = now + retry_delay(notice.attempts + 1)
                claimed = await self.store.claim_notice(notice.key, now, retry_at)
                if claimed is not None:
                    await self._post(poster, target, claimed)

    async def _post(self, poster: Poster, target: ChannelRef, notice: Notice) -> None:
        idem = idempotency_key(ADMIN_KEY_PREFIX + notice.key, target)
        msg = Message(header="Paperboy", text=notice.text, kind="notice", ephemeral=False)
        try:
            found = await self._find(poster, target, notice, idem)
            if found is None:
                limiter = self.limiters.get(target.platform)
                if limiter is not None:
                    await limiter.acquire(str(target))
                found = await asyncio.wait_for(poster.post(target, msg, idem), self.send_timeout)
        except PermanentError as exc:
            if exc.whole_platform:
                self._retrying(notice, exc)
                return
            await self.store.finish_notice(notice.key, "dropped", None, self.clock.now())
            if not self._channel_gone_said:
                self._channel_gone_said = True
                log.error(
                    "the admin channel cannot be posted to; admin notices are only logged",
                    extra={"channel": str(target), "error": exc.reason},
                )
            return
        except Exception as exc:
            self._retrying(notice, exc)
            return
        await self.store.finish_notice(notice.key, "posted", found, self.clock.now())
        log.info("admin notice posted", extra={"key": notice.key, "message_id": found})

    async def _find(
        self, poster: Poster, target: ChannelRef, notice: Notice, idem: str
    ) -> str | None:
        """The message an earlier attempt posted, if any. A channel whose history cannot be
        read at all gets the notice posted again rather than never."""
        if notice.attempts <= 1:
            return None
        try:
            return await asyncio.wait_for(poster.find_posted(target, idem, None), self.send_timeout)
        except PermanentError as exc:
            log.warning(
                "cannot look for an earlier admin notice; posting it",
                extra={"key": notice.key, "error": exc.reason},
            )
            return None

    def _retrying(self, notice: Notice, exc: BaseException) -> None:
        log.warning(
            "admin notice not posted; retrying later",
            extra={
                "key": notice.key,
                "attempts": notice.attempts,
                "retry_in_s": int(retry_delay(notice.attempts).total_seconds()),
                "error": error_text(exc),
            },
        )

    # --- nothing new, stalled sources ----------------------------------------------------------
    def something_new(self, channel: ChannelRef) -> None:
        """``channel`` has a digest to deliver: its run of empty fires is over."""
        self._nothing_new.pop(channel, None)

    async def nothing_new_for(self, sub: Subscription, now: datetime) -> Outcome:
        """Count one more fire with nothing new for ``sub``, and check its source."""
        count = self._nothing_new[sub.channel] = self._nothing_new.get(sub.channel, 0) + 1
        log.info("nothing new to post", extra={"channel": str(sub.channel), "in_a_row": count})
        if sub.kind == "curated":
            await self._check_stalled(sub, now, count)
        return Outcome(sub.channel, None, "nothing_new")

    async def _check_stalled(self, sub: Subscription, now: datetime, count: int) -> None:
        """Stalled: the newest digest sent here is ``stalled_after_weeks`` weeks old (from the
        ledger, so it survives restarts); with no history, that many fires in a row had
        nothing."""
        sent = [r for r in await self.store.channel_deliveries(sub.channel) if r.status == "sent"]
        if sent:
            newest = max(sent, key=lambda r: (r.updated_at, r.id))
            limit = timedelta(weeks=self.stalled_after_weeks) - timedelta(hours=12)
            stalled, episode = now - newest.updated_at >= limit, newest.digest_key
        else:
            stalled, episode = count >= self.stalled_after_weeks, "never"
        if stalled:
            await self.notify(
                f"stalled:{sub.channel}:{episode}",
                f"Nothing new to post to {sub.channel} for {self.stalled_after_weeks} weeks "
                f"(newest digest sent: {episode}). The curated source looks stalled.",
            )


__all__ = ["ADMIN_KEY_PREFIX", "RETRY_FIRST", "RETRY_MAX", "AdminNotices", "retry_delay"]
