"""Vote reactions (1️⃣..🔟) under posted digests: added in the background, durably, within the
platforms' limits, never in the way of posting.

Posting never waits on seeding: a platform's ``post`` returns once the message exists, the
engine records the digest, and ``Seeder.enqueue`` stores a seed job (``Store.add_seed_job``):
the reactions still to add under that message, as many as the digest has papers, in order.
The ``Seeder`` works the jobs:

* durably: each reaction that goes on shortens the stored job; a restart resumes what is left,
  and a digest that reconciliation finds after a crash or a lost reply gets its job through the
  same ``enqueue`` (a reaction added just before a crash is simply added again: adapters treat
  "already there" as done);
* paced: each platform says which requests share a rate limit (``seed_bucket``: Slack limits
  ``reactions.add`` per workspace, Discord per channel) and which limiter paces them
  (``seed_limiter``, each call counted from when it completed); one worker per bucket works
  its jobs oldest first, and at most ``concurrency`` requests are in flight at once (a worker
  waiting out a 429 holds no slot);
* every 429 is honoured, however long: ``RateLimited`` pauses the bucket (or the platform, when
  global) for its ``retry_after``, and the same reaction is tried again; a 429 is never a
  failure;
* yielding to posting: no seeding request goes out while the delivery engine has a send for
  that platform waiting or in flight (``SendActivity``);
* failures: ``PermanentError`` (the message or channel is gone, no permission) drops the job;
  anything else backs off exponentially and is retried, up to ``max_attempts`` in a row;
* on one replica: the leader (``leading()``, the scheduler's lease: the one that posts). Jobs
  written by another replica are found by polling every ``poll`` seconds (at once when written
  here).

Back-offs and polls are real time (``sleep``), not the app ``Clock``: they are pauses, not
schedules, and tests make them short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Protocol, runtime_checkable

from bot.core.clock import Clock
from bot.core.errors import PermanentError, RateLimited
from bot.core.messages import ChannelRef
from bot.delivery.outcome import error_text
from bot.delivery.ratelimit import RateLimiter
from bot.ops.metrics import Metrics
from bot.storage.base import Store
from bot.storage.records import PostedDigest, SeedJob

log = logging.getLogger("paperboy.seeding")


class SendActivity:
    """Which platforms the delivery engine is sending to right now. A send counts from the
    moment it is due (waiting for its rate-limit slot included) until it is settled."""

    def __init__(self) -> None:
        self._busy: Counter[str] = Counter()
        self._quiet: dict[str, asyncio.Event] = {}
        self.waiting: Counter[str] = Counter()  # callers of ``quiet`` held back, by platform

    def _event(self, platform: str) -> asyncio.Event:
        event = self._quiet.get(platform)
        if event is None:
            event = self._quiet[platform] = asyncio.Event()
            event.set()
        return event

    @contextlib.contextmanager
    def sending(self, platform: str) -> Iterator[None]:
        self._busy[platform] += 1
        self._event(platform).clear()
        try:
            yield
        finally:
            self._busy[platform] -= 1
            if self._busy[platform] <= 0:
                del self._busy[platform]
                self._event(platform).set()

    def busy(self, platform: str) -> bool:
        return self._busy[platform] > 0

    async def quiet(self, platform: str) -> None:
        """Return once nothing is being sent to ``platform``."""
        event = self._event(platform)
        while not event.is_set():
            self.waiting[platform] += 1
            try:
                await event.wait()
            finally:
                self.waiting[platform] -= 1


@runtime_checkable
class SeedTarget(Protocol):
    """What the seeder needs from a platform adapter."""

    platform: str

    @property
    def seed_emoji(self) -> tuple[str, ...]:
        """The vote reactions by rank, as the platform spells them; () when seeding is off."""

    @property
    def seed_limiter(self) -> RateLimiter | None:
        """The limiter that paces adding reactions (keyed by ``seed_bucket``), if any."""

    def seed_bucket(self, channel: ChannelRef) -> str:
        """The key of the rate limit that adding a reaction in ``channel`` counts against."""

    async def add_reaction(self, channel: ChannelRef, message_id: str, emoji: str) -> None:
        """Add the bot's ``emoji`` reaction (already there: done). Raises ``RateLimited``,
        ``TransientError`` or ``PermanentError``."""


class Seeder:
    """Works seed jobs in the background (see the module). The app adds its adapters to
    ``targets`` before ``start``."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        activity: SendActivity | None = None,
        concurrency: int = 16,
        base_backoff: float = 2.0,
        max_backoff: float = 300.0,
        max_attempts: int = 12,
        poll: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        metrics: Metrics | None = None,
        leading: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self._leading = leading or (lambda: True)
        self.clock = clock
        self.activity = activity or SendActivity()
        self.targets: dict[str, SeedTarget] = {}
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.poll = poll
        self._sleep = sleep or asyncio.sleep
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.stats: Counter[str] = Counter()  # added, rate_limited, retried, dropped

    def _note(self, platform: str, status: str) -> None:
        """Count one outcome of adding a reaction (``seed_reactions`` by status in metrics)."""
        self.stats[status] += 1
        if self.metrics is not None:
            self.metrics.inc("seed_reactions", platform=platform, status=status)

    # --- control ---------------------------------------------------------------------------------
    async def enqueue(self, posted: PostedDigest) -> bool:
        """Store the seed job for a digest just recorded (one reaction per paper); False when
        its platform seeds nothing or the job exists already."""
        target = self.targets.get(posted.channel.platform)
        emoji = () if target is None else target.seed_emoji[: len(posted.paper_ids)]
        if not emoji:
            return False
        job = SeedJob(posted.channel, posted.message_id, emoji, self.clock.now())
        added = await self.store.add_seed_job(job)
        self._settled.clear()
        self._wake.set()
        return added

    def start(self) -> None:
        """Begin working jobs (resuming those an earlier run left)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="seeder")

    async def stop(self) -> None:
        """Stop at once; what is left stays stored for the next start (idempotent)."""
        tasks = [t for t in (self._task, *self._workers.values()) if t is not None]
        self._task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()

    async def settled(self) -> None:
        """Return once no job for a known platform is left (tests, benchmarks)."""
        self._wake.set()
        await self._settled.wait()

    # --- the loop --------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if self._leading():  # else the leading replica seeds
                    self._dispatch(await self.store.seed_jobs())
                pause = self.poll
            except Exception as exc:
                log.warning("seed jobs not read; retrying", extra={"error": error_text(exc)})
                pause = self.base_backoff
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()

    def _dispatch(self, jobs: list[SeedJob]) -> None:
        """One worker per rate-limit bucket that has jobs and none running yet."""
        groups: dict[tuple[str, str], list[SeedJob]] = {}
        for job in jobs:
            target = self.targets.get(job.channel.platform)
            if target is not None:
                key = (target.platform, target.seed_bucket(job.channel))
                groups.setdefault(key, []).append(job)
        for key, group in groups.items():
            if key not in self._workers:
                task = asyncio.create_task(self._work(key, group), name=f"seed {key[1]}")
                self._workers[key] = task
                task.add_done_callback(partial(self._worker_done, key))
        if not groups and not self._workers:
            self._settled.set()

    def _worker_done(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._workers.get(key) is task:
            del self._workers[key]
        self._wake.set()  # look for what came in meanwhile

    async def _work(self, key: tuple[str, str], jobs: list[SeedJob]) -> None:
        target = self.targets[key[0]]
        for job in jobs:
            try:
                await self._seed(target, key[1], job)
            except Exception as exc:  # the store failed: the loop tries again later
                log.warning("seeding stopped", extra={"error": error_text(exc)})
                await self._sleep(self.base_backoff)
                return

    # --- one job ---------------------------------------------------------------------------------
    async def _seed(self, target: SeedTarget, bucket: str, job: SeedJob) -> None:
        ch, mid = job.channel, job.message_id
        left, attempts = list(job.emoji), job.attempts
        limiter = target.seed_limiter
        while left:
            await self.activity.quiet(target.platform)
            if limiter is not None:
                await limiter.acquire(bucket)
                await self.activity.quiet(target.platform)
            try:
                async with self._slots:
                    try:
                        await target.add_reaction(ch, mid, left[0])
                    finally:
                        if limiter is not None:
                            limiter.sent(bucket)  # counted from when it was surely there
            except RateLimited as exc:
                self._note(target.platform, "rate_limited")
                if limiter is None:
                    await self._sleep(exc.retry_after)
                else:
                    where = None if exc.is_global else bucket
                    limiter.penalize(where, exc.retry_after, is_global=exc.is_global)
                continue
            except PermanentError as exc:
                self._note(target.platform, "dropped")
                log.warning("seeding given up", extra=_fields(job, error=exc.reason))
                await self.store.delete_seed_job(ch, mid)
                return
            except Exception as exc:
                attempts += 1
                if attempts >= self.max_attempts:
                    self._note(target.platform, "dropped")
                    log.warning("seeding given up", extra=_fields(job, error=error_text(exc)))
                    await self.store.delete_seed_job(ch, mid)
                    return
                self._note(target.platform, "retried")
                await self.store.update_seed_job(ch, mid, tuple(left), attempts, self.clock.now())
                await self._sleep(min(self.max_backoff, self.base_backoff * 2 ** (attempts - 1)))
                continue
            left.pop(0)
            attempts = 0
            self._note(target.platform, "added")
            if left:
                await self.store.update_seed_job(ch, mid, tuple(left), 0, self.clock.now())
            else:
                await self.store.delete_seed_job(ch, mid)
                log.info("seeded", extra=_fields(job))


def _fields(job: SeedJob, **more: object) -> dict[str, object]:
    return {"channel": str(job.channel), "message_id": job.message_id, **more}


__all__ = ["SeedTarget", "Seeder", "SendActivity"]
