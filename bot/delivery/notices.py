"""Admin notices and stalled-source checks.

A notice is said once per key ever: it is a ledger row of a pseudo subscription (real ids start
at 1), so a restart or a second replica does not say it again. It is always logged, and posted
when an admin channel and a poster for its platform exist.

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
from bot.core.messages import ChannelRef, Message
from bot.delivery.outcome import NOWHERE, Outcome, error_text, idempotency_key
from bot.delivery.ratelimit import PlatformLimiters
from bot.storage.base import Store
from bot.storage.records import Subscription

if TYPE_CHECKING:
    from bot.delivery.engine import Poster

log = logging.getLogger("paperboy.delivery")

ADMIN_SUBSCRIPTION_ID = 0
ADMIN_KEY_PREFIX = "admin:"


class AdminNotices:
    """Tells the admin channel about paused subscriptions and stalled sources.

    ``posters`` is the engine's own mapping (the app adds its adapters after start-up)."""

    def __init__(
        self,
        store: Store,
        posters: Mapping[str, Poster],
        limiters: PlatformLimiters,
        *,
        clock: Clock,
        channel: ChannelRef | None,
        stalled_after_weeks: int,
        send_timeout: float,
    ) -> None:
        self.store = store
        self.posters = posters
        self.limiters = limiters
        self.clock = clock
        self.channel = channel
        self.stalled_after_weeks = stalled_after_weeks
        self.send_timeout = send_timeout
        self._nothing_new: dict[int, int] = {}  # fires in a row with nothing new, per subscription

    async def notify(self, key: str, text: str) -> None:
        """Tell the admin channel ``text``, once per ``key`` ever (a ledger row guards it).
        Always logged; posted when an admin channel and its poster exist."""
        dkey = ADMIN_KEY_PREFIX + key
        target = self.channel
        idem = idempotency_key(dkey, target or NOWHERE)
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
                limiter = self.limiters.get(target.platform)
                if limiter is not None:
                    await limiter.acquire(str(target))
                message_id = await asyncio.wait_for(
                    poster.post(target, msg, idem), self.send_timeout
                )
            except Exception as exc:
                log.error("admin notice not posted", extra={"key": key, "error": error_text(exc)})
        await self.store.complete_delivery(row.id, message_id, self.clock.now(), status="skipped")

    # --- nothing new, stalled sources ----------------------------------------------------------
    def something_new(self, sub_id: int) -> None:
        """``sub_id`` has a digest to deliver: its run of empty fires is over."""
        self._nothing_new.pop(sub_id, None)

    async def nothing_new_for(self, sub: Subscription, now: datetime) -> Outcome:
        """Count one more fire with nothing new for ``sub``, and check its source."""
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
            await self.notify(
                f"stalled:{sub.id}:{episode}",
                f"Nothing new to post to {sub.channel} for {self.stalled_after_weeks} weeks "
                f"(newest digest sent: {episode}). The curated source looks stalled.",
            )


__all__ = ["ADMIN_KEY_PREFIX", "ADMIN_SUBSCRIPTION_ID", "AdminNotices"]
