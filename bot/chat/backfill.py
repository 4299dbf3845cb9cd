"""Votes cast while the bot was not listening, read back from the platforms and counted.

Reactions made while the bot was down, or while its connection was, never reach it as events.
At start, and whenever an adapter's connection comes back as a new session, ``Backfill`` reads
the current reactions of every message still inside the vote window (``votes.window``: digests
and shared answers posted in the last 30 days by default) and reconciles the vote set with
``VoteService.reconcile``: votes for reactions that are there are added, votes whose reaction
is gone are removed. It is idempotent: a second run changes nothing.

* Paced: each platform's reader keeps inside its read limits (Slack: ``reactions.get`` per
  workspace; Discord: its buckets, through discord.py); a 429 pauses that platform's backfill
  for its ``retry_after`` and the message is read again (a 429 is never a failure).
* Newest messages first, ``concurrency`` at a time, and yielding to posting: no read starts
  while the delivery engine is sending to that platform (``SendActivity``).
* Runs coalesce: asking while a run is going makes it run once more afterwards (a reconnect in
  the middle may have missed events for messages already read).
* A message the platform no longer has (``PermanentError``) is skipped; other failures are
  tried ``attempts`` times, then left to the next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Protocol, runtime_checkable

from bot.chat.votes import VoteService
from bot.core.clock import Clock
from bot.core.errors import PermanentError, RateLimited
from bot.core.messages import ChannelRef, ReactionEvent
from bot.delivery.outcome import error_text
from bot.delivery.seeding import SendActivity
from bot.storage.base import Store
from bot.storage.records import PostedDigest

log = logging.getLogger("paperboy.backfill")

MAX_RATE_LIMITED = 30  # 429s waited out for one message before it is left to the next run


@runtime_checkable
class ReactionReader(Protocol):
    """What the backfill needs from a platform adapter."""

    platform: str

    async def reactions_on(self, channel: ChannelRef, message_id: str) -> Sequence[ReactionEvent]:
        """Every reaction on the message now, one per (user, emoji), with ``user_is_bot`` set.
        Raises ``RateLimited``, ``TransientError`` or ``PermanentError``."""


@dataclass
class BackfillResult:
    """What one run did: messages read, votes added and removed, messages skipped."""

    platform: str
    read: int = 0
    added: int = 0
    removed: int = 0
    skipped: int = 0
    rate_limited: int = 0


class Backfill:
    """Reads reactions back and reconciles votes (see the module). The app adds its adapters
    to ``readers`` and calls ``request`` at start and on reconnects."""

    def __init__(
        self,
        store: Store,
        votes: VoteService,
        *,
        clock: Clock,
        window: timedelta = timedelta(days=30),
        activity: SendActivity | None = None,
        concurrency: int = 4,
        attempts: int = 3,
        backoff: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        time: Callable[[], float] | None = None,
    ) -> None:
        """``sleep`` and ``time`` (seconds; default: the event loop's) measure pauses: after a
        429 and between retries. They are real time, not ``clock``: pauses, not schedules."""
        self.store = store
        self.votes = votes
        self.clock = clock
        self.window = window
        self.activity = activity or SendActivity()
        self.readers: dict[str, ReactionReader] = {}
        self.concurrency = max(1, concurrency)
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._sleep = sleep or asyncio.sleep
        self._time = time or (lambda: asyncio.get_running_loop().time())
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._paused_until: dict[str, float] = {}
        self.results: list[BackfillResult] = []  # every finished run, oldest first

    # --- control ---------------------------------------------------------------------------------
    def request(self, platform: str) -> None:
        """Backfill ``platform`` in the background (once more after the run going on, if any)."""
        if platform not in self.readers:
            return
        if platform in self._running:
            self._again.add(platform)
            return
        task = asyncio.create_task(self._runs(platform), name=f"backfill {platform}")
        self._running[platform] = task
        task.add_done_callback(lambda _: self._running.pop(platform, None))

    async def wait(self) -> None:
        """Until no run is going (tests, benchmarks)."""
        while self._running:
            await asyncio.wait(set(self._running.values()))

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _runs(self, platform: str) -> None:
        while True:
            self._again.discard(platform)
            try:
                self.results.append(await self.run(platform))
            except Exception as exc:  # the store failed: try again at the next request
                log.warning(
                    "backfill failed", extra={"platform": platform, "error": error_text(exc)}
                )
                return
            if platform not in self._again:
                return

    # --- one run ---------------------------------------------------------------------------------
    async def run(self, platform: str) -> BackfillResult:
        """Read and reconcile every message of ``platform`` inside the window, newest first."""
        reader = self.readers[platform]
        since = self.clock.now() - self.window
        messages = await self.store.posted_since(platform, since)
        result = BackfillResult(platform)
        slots = asyncio.Semaphore(self.concurrency)

        async def one(posted: PostedDigest) -> None:
            async with slots:
                await self._message(reader, posted, result)

        await asyncio.gather(*(one(p) for p in messages))
        log.info(
            "votes read back",
            extra={"platform": platform, "messages": len(messages), **_counts(result)},
        )
        return result

    async def _message(
        self, reader: ReactionReader, posted: PostedDigest, result: BackfillResult
    ) -> None:
        platform = reader.platform
        read = partial(reader.reactions_on, posted.channel, posted.message_id)
        failures = limited = 0
        while True:
            await self.activity.quiet(platform)
            await self._paused(platform)
            try:
                added, removed = await self.votes.reconcile(posted, read)
            except RateLimited as exc:
                limited += 1
                result.rate_limited += 1
                self._pause(platform, exc.retry_after)
                if limited < MAX_RATE_LIMITED:
                    continue
                error = error_text(exc)
            except PermanentError as exc:
                error = exc.reason  # the message (or channel) is gone
            except Exception as exc:
                failures += 1
                if failures < self.attempts:
                    await self._sleep(self.backoff * failures)
                    continue
                error = error_text(exc)
            else:
                result.read += 1
                result.added += added
                result.removed += removed
                return
            result.skipped += 1
            log.info(
                "message not read back",
                extra={
                    "channel": str(posted.channel),
                    "message_id": posted.message_id,
                    "error": error,
                },
            )
            return

    def _pause(self, platform: str, seconds: float) -> None:
        until = self._time() + max(0.0, seconds)
        self._paused_until[platform] = max(self._paused_until.get(platform, 0.0), until)

    async def _paused(self, platform: str) -> None:
        while (left := self._paused_until.get(platform, 0.0) - self._time()) > 0:
            await self._sleep(left)


def _counts(result: BackfillResult) -> dict[str, int]:
    return {
        "read": result.read,
        "added": result.added,
        "removed": result.removed,
        "skipped": result.skipped,
        "rate_limited": result.rate_limited,
    }


__all__ = ["Backfill", "BackfillResult", "ReactionReader"]
