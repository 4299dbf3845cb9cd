"""Start-up reconciliation: finish or settle every ledger row an earlier run left ``pending``.

A pending row is a delivery that was claimed but never completed (a crash, a lost reply, a send
that gave up for now, a ``post`` queued on a standby). Its digest is rebuilt when the provider
still can (a curated week re-dated since is found by its papers), and sent through the engine's
send loop, which first looks on the platform when an attempt may have got there. A row whose
digest cannot be rebuilt is completed if it reached the platform and skipped otherwise (a newer
digest supersedes it), and so is a row whose channel has no subscription any more. The
scheduler runs this again to retry failures, and the leader every poll for rows nobody holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

from bot.core.clock import Clock
from bot.delivery.digest import Digest, DigestProvider
from bot.delivery.outcome import NOWHERE, Outcome, error_text, log_fields, no_poster
from bot.delivery.sender import Sender
from bot.storage.base import Store
from bot.storage.records import Delivery, Subscription

if TYPE_CHECKING:
    from bot.delivery.engine import Poster

log = logging.getLogger("paperboy.delivery")


class Reconciler:
    """``posters`` is the engine's own mapping (the app adds its adapters after start-up)."""

    def __init__(
        self,
        store: Store,
        posters: Mapping[str, Poster],
        digests: DigestProvider,
        sender: Sender,
        *,
        clock: Clock,
        concurrency: int,
    ) -> None:
        self.store = store
        self.posters = posters
        self.digests = digests
        self.sender = sender
        self.clock = clock
        self.concurrency = concurrency

    async def reconcile_pending(self, *, unowned: bool = False) -> list[Outcome]:
        """Settle every pending row (``unowned``: those nobody holds), at most ``concurrency``
        at once. Rows of removed subscriptions are closed without an outcome."""
        rows = await self.store.pending_deliveries(unowned=unowned)
        sem = asyncio.Semaphore(self.concurrency)

        async def one(row: Delivery) -> Outcome | None:
            async with sem:
                try:
                    return await self._reconcile_row(row)
                except Exception as exc:
                    log.exception("reconcile failed", extra={"delivery": row.id})
                    return Outcome(NOWHERE, row.digest_key, "failed", error=error_text(exc))

        results = await asyncio.gather(*(one(r) for r in rows))
        if rows:
            log.info("reconciled pending deliveries", extra={"rows": len(rows)})
        return [o for o in results if o is not None]

    async def _reconcile_row(self, row: Delivery) -> Outcome | None:
        sub = await self.store.get_subscription(row.channel)
        if sub is None:
            # The channel has unsubscribed: nothing to finish.
            gone = Subscription(row.channel, "", "UTC", id=row.subscription_id)
            await self.sender.locked(gone, row, partial(self._skip, gone))
            return None
        if not sub.enabled:
            return Outcome(sub.channel, row.digest_key, "paused", error=sub.paused_reason)
        poster = self.posters.get(sub.channel.platform)
        if poster is None:
            return no_poster(sub, row.digest_key)
        digest = await self._replay(sub, row)
        if digest is None:
            return await self.sender.locked(sub, row, partial(self._settle_stale, sub, poster))
        return await self.sender.locked(
            sub, row, partial(self.sender.send, sub, poster, digest=digest)
        )

    async def _replay(self, sub: Subscription, row: Delivery) -> Digest | None:
        """The digest ``row`` was for, if the provider can still build it: by key (or the same
        curated week by its papers), or else as its next digest at the instant the row was
        claimed."""
        d = await self.digests.digest_for(sub, row.digest_key, row.paper_ids)
        if d is not None:
            return d
        sent = await self.store.sent_digest_keys(row.channel)
        d = await self.digests.next_digest(sub, sent, row.created_at)
        return d if d is not None and d.key == row.digest_key else None

    async def _skip(self, sub: Subscription, row: Delivery) -> Outcome:
        await self.sender.skip(sub, row)
        return Outcome(row.channel, row.digest_key, "skipped", attempts=row.attempts)

    async def _settle_stale(self, sub: Subscription, poster: Poster, row: Delivery) -> Outcome:
        """A pending row whose digest cannot be rebuilt: complete it if it reached the
        platform, else mark it skipped (a newer digest supersedes it)."""
        if row.attempts > 0:
            try:
                found = await self.sender.find(poster, sub.channel, row)
            except Exception as exc:
                return Outcome(sub.channel, row.digest_key, "failed", error=error_text(exc))
            if found is not None:
                await self.sender.complete(sub, row, None, found)
                return Outcome(sub.channel, row.digest_key, "reconciled", found, row.attempts)
        await self.sender.skip(sub, row)
        log.warning("stale in-flight digest skipped", extra=log_fields(sub, row))
        return Outcome(sub.channel, row.digest_key, "skipped", attempts=row.attempts)


__all__ = ["Reconciler"]
