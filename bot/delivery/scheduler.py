"""When digests go out: ``next_fire`` (pure) and the ``Scheduler`` loop.

``next_fire(cron, tz, after)`` is the first scheduled instant strictly after ``after``, in UTC.
Daylight-saving rules (deterministic, tested at fixed instants):

* spring-forward gap: a wall time that does not exist that day (02:30 on a day that jumps from
  02:00 to 03:00) fires once, at the transition (03:00 local; croniter's behaviour); an hourly
  job simply has no run in the missing hour;
* fall-back overlap: a wall time that happens twice (01:30 on a day that goes back from 02:00 to
  01:00) fires once, at its first occurrence. The second occurrence is never returned.

So a daily or weekly digest fires exactly once per scheduled local day. The scheduler also skips
a fire whose local wall time equals the last one it handled, and the delivery ledger refuses a
second delivery of the same digest anyway.

Each subscription's next instant is stored (``next_fire_at``, indexed): a wake reads only the
subscriptions that are due or not yet planned (new, schedule changed, resumed), a page at a
time, and asks the store for the earliest instant to come; the others are never read, so a
wake costs what is due, not how many subscriptions exist.

The ``Scheduler`` runs one loop that sleeps until the earliest due subscription (woken early by
``wake()`` when subscriptions change, and at least every ``leader_poll`` to renew the
leadership lease), and fires only while this process leads (``bot.delivery.leadership``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from croniter import croniter

from bot.core.clock import Clock
from bot.delivery.leadership import Leadership
from bot.delivery.outcome import NOWHERE, Outcome
from bot.storage.base import Store
from bot.storage.records import Subscription

log = logging.getLogger("paperboy.scheduler")

# How many cron instants next_fire may step over (second occurrences, instants <= after).
_MAX_STEPS = 64
# A fire this much after its instant is logged as late (a catch-up after downtime); waking a
# few milliseconds after the instant, as every on-time fire does, is not late.
LATE_AFTER = timedelta(minutes=1)
# Upper bound on instants walked while looking for the latest missed one inside the grace window.
_MAX_CATCHUP_STEPS = 20_000
# Subscriptions read per store query while planning (memory stays flat however many there are).
PAGE = 500
# Pages of unplanned subscriptions one wake plans (each is a write per subscription) before it
# fires what is due; the rest are planned by the wakes that follow at once. So 100,000
# subscriptions left unplanned by the migration never hold a due fire back for long.
UNPLANNED_PAGES = 4
# With nothing scheduled and no refresh, sleep "forever" (until wake()).
_IDLE = timedelta(days=3650)


def _is_repeat(local: datetime) -> bool:
    """True for the second occurrence of an ambiguous wall time (fall-back overlap)."""
    local = local.astimezone(UTC).astimezone(local.tzinfo)  # zoneinfo sets ``fold`` correctly
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def _check_aware(dt: datetime) -> None:
    if dt.tzinfo is None:
        raise ValueError("scheduler datetimes must be timezone-aware")


def next_fire(cron: str, tz: str, after: datetime) -> datetime:
    """The first instant strictly after ``after`` at which ``cron`` (read in timezone ``tz``)
    fires, as an aware UTC datetime. Raises ``ValueError`` for a bad expression or timezone."""
    _check_aware(after)
    zone = ZoneInfo(tz)
    start = after.astimezone(zone)
    it = croniter(cron, start)
    for _ in range(_MAX_STEPS):
        candidate: datetime = it.get_next(datetime)
        if candidate.astimezone(UTC) <= after or _is_repeat(candidate):
            continue
        return candidate.astimezone(UTC)
    raise ValueError(f"cron {cron!r} in {tz} has no fire time after {after.isoformat()}")


def prev_fire(cron: str, tz: str, at: datetime) -> datetime | None:
    """The latest instant at or before ``at`` that ``next_fire`` would produce (UTC), or None."""
    _check_aware(at)
    zone = ZoneInfo(tz)
    it = croniter(cron, at.astimezone(zone) + timedelta(microseconds=1))
    for _ in range(_MAX_STEPS):
        candidate: datetime = it.get_prev(datetime)
        if candidate.astimezone(UTC) > at or _is_repeat(candidate):
            continue
        return candidate.astimezone(UTC)
    return None


def _wall(instant: datetime, tz: str) -> datetime:
    return instant.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


class Firer(Protocol):
    """What the scheduler needs from the delivery engine (``DeliveryEngine``; tests use fakes):
    fire the subscriptions due at an instant, retry the deliveries that came back ``failed``
    or ``in_progress`` (their ledger rows stay pending) later, and the leader's chores."""

    async def fire(self, subs: Sequence[Subscription], fire_time: datetime) -> Sequence[Outcome]:
        """Deliver to each of ``subs`` the digest due at ``fire_time``."""

    async def reconcile_pending(self) -> Sequence[Outcome]:
        """Finish or settle every ledger row still pending."""

    async def flush(self) -> None:
        """Post what standbys queued and the admin notices that are due (every leader poll)."""


def _failed(outcomes: Sequence[Outcome]) -> int:
    return sum(1 for o in outcomes if o.status in ("failed", "in_progress"))


ErrorHook = Callable[[BaseException, str], None]


def log_error(exc: BaseException, where: str) -> None:
    log.error(
        "scheduler error",
        extra={"where": where, "error": f"{type(exc).__name__}: {exc}"},
        exc_info=exc,
    )


class Scheduler:
    """Fires each enabled subscription at its cron instants (through ``engine.fire``).

    * Catch-up: an instant missed while nothing ran (down, suspended) is fired late if it lies
      within ``grace`` of now (only the latest missed one); an older one is skipped and logged.
      A subscription the scheduler has never handled (``last_fire_at`` None) starts from now.
    * After a fire, ``store.set_last_fire(sub.id, instant, next)`` records it as handled and
      stores the next instant (not for a subscription the fire left to another leader: it
      came back ``standby``).
    * Leadership: only the process holding ``leadership`` fires. The loop renews the lease (or
      tries to take it) at least every ``leader_poll``; on taking it over it first finishes
      what the previous leader left pending (``engine.reconcile_pending``), and while leading
      it runs ``engine.flush`` every poll.
    * ``refresh`` caps a sleep so subscriptions changed on another replica are picked up
      (None: sleep until the next fire or ``wake()``).
    * Fires run in their own tasks: cancelling ``run()`` does not cancel them; ``stop()`` waits
      up to ``stop_timeout`` seconds for them, then cancels what is left (the ledger keeps those
      rows pending, and the next start reconciles them).
    * Deliveries that come back ``failed`` (their ledger rows stay pending) are retried through
      ``engine.reconcile_pending()`` after ``retry_failed``, doubling up to 4 hours while they
      keep failing; ``in_progress`` ones (another process holds the row) after the lease ttl.
    * Errors (bad cron, store down, a failing fire) go to ``on_error`` and never end the loop.
    """

    def __init__(
        self,
        store: Store,
        engine: Firer,
        clock: Clock,
        *,
        grace: timedelta = timedelta(hours=12),
        leadership: Leadership | None = None,
        leader_poll: timedelta = timedelta(seconds=5),
        refresh: timedelta | None = timedelta(hours=1),
        error_backoff: timedelta = timedelta(seconds=5),
        stop_timeout: float = 6.0,
        retry_failed: timedelta = timedelta(minutes=10),
        on_error: ErrorHook | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.grace = grace
        self.leadership = leadership or Leadership(store)
        self.leader_poll = leader_poll
        self.refresh = refresh
        self.error_backoff = error_backoff
        self.stop_timeout = stop_timeout
        self.retry_failed = retry_failed
        self._retry_at: datetime | None = None
        self._retry_delay = retry_failed
        self.on_error: ErrorHook = on_error or log_error
        self.is_leader = False  # as of the loop's last look at the lease
        self._chores: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._inflight: dict[int, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._run_task: asyncio.Task[Any] | None = None
        self.next_wake: datetime | None = None  # for status and tests

    # --- control ---------------------------------------------------------------------------------
    def wake(self) -> None:
        """Recompute the next fire now (subscriptions were added, changed or removed)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop, let in-flight fires finish (up to ``stop_timeout``), release
        leadership. Idempotent."""
        self._stop.set()
        self._wake.set()
        run_task = self._run_task
        if run_task is not None and run_task is not asyncio.current_task():
            await asyncio.wait({run_task}, timeout=self.stop_timeout)
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=self.stop_timeout)
            for task in pending:
                log.warning("fire still running at shutdown; cancelled (ledger keeps it pending)")
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self.is_leader = False
        await self.leadership.release()

    @property
    def busy(self) -> bool:
        """Whether a fire or a retry is running (the leader's chores aside)."""
        return any(t is not self._chores for t in self._tasks)

    async def drain(self) -> None:
        """Wait until no fire is in flight (tests, ``post now`` style callers)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # --- the loop --------------------------------------------------------------------------------
    async def run(self) -> None:
        self._run_task = asyncio.current_task()
        self.is_leader = self.leadership.held  # taken by the app at start-up: settled there
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            poll = self.clock.now() + self.leader_poll
            until: datetime | None
            try:
                if not await self._lead():
                    await self.clock.sleep_until(poll, self._wake)
                    continue
                until = await self.tick()
                failures = 0
            except Exception as exc:
                failures += 1
                self.on_error(exc, "tick")
                until = self.clock.now() + self.error_backoff * min(2 ** (failures - 1), 60)
            if self._stop.is_set():
                break
            now = self.clock.now()
            cap = now + (self.refresh if self.refresh is not None else _IDLE)
            self.next_wake = cap if until is None else min(until, cap)
            await self.clock.sleep_until(min(self.next_wake, poll), self._wake)

    async def _lead(self) -> bool:
        """Renew (or try to take) the lease; on taking it, finish what the previous leader
        left; while leading, start the engine's chores if they are not running."""
        was = self.is_leader
        self.is_leader = await self.leadership.acquire()
        if not self.is_leader:
            return False
        if not was:
            self._track(asyncio.create_task(self._retry(), name="take over pending deliveries"))
        elif self._chores is None or self._chores.done():
            self._chores = asyncio.create_task(self._flush(), name="leader chores")
            self._track(self._chores)
        return True

    async def _flush(self) -> None:
        try:
            await self.engine.flush()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.on_error(exc, "leader chores")

    async def tick(self) -> datetime | None:
        """Fire every subscription that is due, and return the next instant one will be (None
        when there is nothing scheduled). Reads only what is due or not yet planned, a page at
        a time (``PAGE``); the earliest instant to come is one indexed query."""
        now = self.clock.now()
        store = self.store
        after_id, more_unplanned = 0, False
        for _ in range(UNPLANNED_PAGES):  # not planned yet: new, changed, resumed, migrated
            if self._stop.is_set():
                break
            page = await store.unplanned_subscriptions(PAGE, after_id)
            await self._plan_page(page, now)
            more_unplanned = len(page) == PAGE
            if not more_unplanned:
                break
            after_id = page[-1].id or 0
        after: tuple[datetime, int] | None = None
        while not self._stop.is_set():
            page = await store.due_subscriptions(now, PAGE, after)
            await self._plan_page(page, now)
            if len(page) < PAGE:
                break
            last = page[-1]
            assert last.next_fire_at is not None and last.id is not None
            after = (last.next_fire_at, last.id)
        earliest = now if more_unplanned else await store.next_fire_after(now)
        if self._retry_at is not None:
            if self._retry_at <= now and not self._stop.is_set():
                self._retry_at = None
                self._track(asyncio.create_task(self._retry(), name="retry failed deliveries"))
            elif earliest is None or self._retry_at < earliest:
                earliest = self._retry_at
        return earliest

    async def _plan_page(self, page: Sequence[Subscription], now: datetime) -> None:
        """Plan each subscription of ``page``: fire the due ones (grouped by instant), store
        the next instant of the others."""
        due: dict[datetime, list[Subscription]] = defaultdict(list)
        for sub in page:
            if sub.id is None or sub.id in self._inflight:
                continue
            try:
                when = await self._plan(sub, now, due)
                if when is not None and sub.last_fire_at is not None and when != sub.next_fire_at:
                    await self.store.set_next_fire(sub.id, (sub.cron, sub.timezone, when))
            except Exception as exc:
                self.on_error(exc, f"subscription {sub.id} ({sub.channel})")
        for instant, group in sorted(due.items()):
            if self._stop.is_set():
                break
            self._spawn(instant, group)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _after(self, outcomes: Sequence[Outcome]) -> None:
        """Plan a retry if deliveries failed or another process held them (or reset the
        back-off if none did)."""
        failed = _failed(outcomes)
        if not failed:
            self._retry_delay = self.retry_failed
            return
        delay = self._retry_delay
        if all(o.status != "failed" for o in outcomes):  # only held elsewhere: until it lapses
            delay = min(delay, timedelta(seconds=self.leadership.ttl) + self.leader_poll)
        at = self.clock.now() + delay
        self._retry_at = at if self._retry_at is None else min(self._retry_at, at)
        log.warning(
            "deliveries failed; retrying later", extra={"failed": failed, "at": at.isoformat()}
        )
        self._retry_delay = min(self._retry_delay * 2, timedelta(hours=4))

    async def _retry(self) -> None:
        try:
            self._after(await self.engine.reconcile_pending())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.on_error(exc, "retry failed deliveries")
            self._after([Outcome(NOWHERE, None, "failed")])
        self._wake.set()

    async def _plan(
        self, sub: Subscription, now: datetime, due: dict[datetime, list[Subscription]]
    ) -> datetime | None:
        """Add ``sub`` to ``due`` if an instant is due; return its next future instant otherwise."""
        assert sub.id is not None
        last = sub.last_fire_at
        if last is None:
            # Never handled: start counting from now (nothing before now is owed).
            first = next_fire(sub.cron, sub.timezone, now)
            await self.store.set_last_fire(sub.id, now, (sub.cron, sub.timezone, first))
            return first
        nxt = next_fire(sub.cron, sub.timezone, last)
        if nxt > now:
            return nxt
        window_start = max(last, now - self.grace)
        latest: datetime | None = None
        missed = 0
        c = nxt if window_start <= last else next_fire(sub.cron, sub.timezone, window_start)
        while c <= now and missed < _MAX_CATCHUP_STEPS:
            latest, missed = c, missed + 1
            c = next_fire(sub.cron, sub.timezone, c)
        if latest is not None and _wall(latest, sub.timezone) == _wall(last, sub.timezone):
            # The same local wall time again (fall-back overlap): handled already.
            await self.store.set_last_fire(sub.id, latest, (sub.cron, sub.timezone, c))
            return c
        if latest is not None:
            if latest != nxt:
                log.warning(
                    "missed fires; firing only the latest one within grace",
                    extra=_fields(sub, latest, first_missed=nxt.isoformat()),
                )
            elif now - latest > LATE_AFTER:  # not a loop waking a moment after the instant
                log.info("firing late (catch-up within grace)", extra=_fields(sub, latest))
            due[latest].append(sub)
            return None
        # Everything missed lies beyond the grace period: skip it, and record where we are.
        skipped = prev_fire(sub.cron, sub.timezone, window_start) or window_start
        if skipped <= last or next_fire(sub.cron, sub.timezone, skipped) <= window_start:
            skipped = window_start
        log.warning(
            "missed fire beyond grace; skipped",
            extra={**_fields(sub, nxt), "grace_s": int(self.grace.total_seconds())},
        )
        await self.store.set_last_fire(sub.id, skipped, (sub.cron, sub.timezone, c))
        return c

    def _spawn(self, instant: datetime, subs: list[Subscription]) -> None:
        for sub in subs:
            assert sub.id is not None
            self._inflight[sub.id] = instant
        self._track(asyncio.create_task(self._fire(instant, subs), name=f"fire {instant}"))

    async def _fire(self, instant: datetime, subs: list[Subscription]) -> None:
        log.info("firing", extra={"at": instant.isoformat(), "subscriptions": len(subs)})
        try:
            left: set[int] = set()  # subscriptions this fire left to another leader
            try:
                outcomes = await self.engine.fire(subs, instant)
                self._after(outcomes)
                left = {
                    s.id or 0 for s, o in zip(subs, outcomes, strict=False) if o.status == "standby"
                }
            except asyncio.CancelledError:
                raise  # not handled: last_fire_at stays, so the next start catches up
            except Exception as exc:
                self.on_error(exc, f"fire at {instant.isoformat()}")
            for sub in subs:
                assert sub.id is not None
                if sub.id in left:
                    continue
                try:
                    nxt = next_fire(sub.cron, sub.timezone, instant)
                    planned = (sub.cron, sub.timezone, nxt)
                    await self.store.set_last_fire(sub.id, instant, planned)
                except Exception as exc:
                    self.on_error(exc, f"set_last_fire {sub.id}")
        finally:
            for sub in subs:
                self._inflight.pop(sub.id or 0, None)
            self._wake.set()


def _fields(sub: Subscription, instant: datetime, **more: Any) -> dict[str, Any]:
    return {
        "subscription": sub.id,
        "channel": str(sub.channel),
        "cron": sub.cron,
        "tz": sub.timezone,
        "scheduled": instant.isoformat(),
        **more,
    }


__all__ = ["Firer", "Scheduler", "next_fire", "prev_fire"]
