"""Leadership: the one process that fires schedules and sends digests, as a lease in the store.

A process is the leader while it holds the store's lease ``name`` (``Store.acquire_lease``):
an owner id unique to this process, a fencing token that changes whenever the lease changes
hands, and an expiry ``ttl`` seconds ahead by the database's clock. The scheduler renews it
every ``leader_poll``; standbys try to take it as often, so a released lease is taken within one
poll and an expired one (a hung or dead leader) within ``ttl`` plus one poll.

Every ledger row is taken and every attempt marked under the lease (``Fence``), in the same
statement that checks it, so a process that lost the lease cannot start a send. Locally,
``held`` also turns false once ``ttl`` has passed since the last successful renewal (by this
process's monotonic clock, measured from before the renewal was asked), so a process that was
paused notices it before asking the database.

On SQLite the store takes an OS lock on a file beside the database before the lease: a second
process on the same file stays on standby (it still answers commands and counts votes) and takes
over when the first one stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket

from bot.storage.base import Store
from bot.storage.records import Fence

log = logging.getLogger("paperboy.leader")

DEFAULT_TTL = 30.0


def process_owner() -> str:
    """An owner id for this process: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _now() -> float:
    return asyncio.get_running_loop().time()


class Leadership:
    """This process's hold on the lease ``name`` (shared by the scheduler and the engine)."""

    def __init__(
        self,
        store: Store,
        *,
        name: str = "scheduler",
        owner: str | None = None,
        ttl: float = DEFAULT_TTL,
    ) -> None:
        if ttl <= 0:
            raise ValueError("the lease ttl must be positive")
        self.store = store
        self.name = name
        self.owner = owner or process_owner()
        self.ttl = ttl
        self.token: int | None = None
        self._renewed_at = 0.0  # loop time just before the last successful renewal
        self._said: str | None = None  # the last state logged: "leader" or "standby"
        self._asking = asyncio.Lock()  # one question to the store at a time
        self._failing = False  # the last question failed (logged once per outage)

    @property
    def held(self) -> bool:
        """True while the lease is ours by the last renewal and the local clock."""
        return self.token is not None and _now() - self._renewed_at < self.ttl

    def fence(self) -> Fence | None:
        """What a send proves it may go ahead with; None when not the leader."""
        if not self.held or self.token is None:
            return None
        return Fence(self.owner, self.name, self.token, self.ttl)

    async def acquire(self) -> bool:
        """Take or renew the lease; True while it is ours. A store error counts as not held:
        better a pause than two senders."""
        async with self._asking:
            return await self._acquire()

    async def _acquire(self) -> bool:
        started = _now()
        try:
            token = await self.store.acquire_lease(self.name, self.owner, self.ttl)
            self._failing = False
        except Exception as exc:
            if not self._failing:  # once per outage, not every poll
                log.error(
                    "leadership: could not reach the lease; not sending until it is renewed",
                    extra={"lease": self.name, "error": f"{type(exc).__name__}: {exc}"},
                )
            self._failing = True
            token = None
        if token is not None:
            self._renewed_at = started
        self.token = token
        await self._say("leader" if token is not None else "standby")
        return token is not None

    async def ensure(self) -> Fence | None:
        """The fence, after renewing the lease if a third of its ttl has passed (or taking it,
        if nobody holds it). None when another process leads."""
        if not self.held or _now() - self._renewed_at > self.ttl / 3:
            async with self._asking:  # others waiting here find it renewed
                if not self.held or _now() - self._renewed_at > self.ttl / 3:
                    await self._acquire()
        return self.fence()

    async def release(self) -> None:
        """Give the lease and every ledger row this process holds up (a clean stop), so a
        standby takes over at once and finishes them."""
        if self.token is None:
            return
        self.token = None
        try:
            await self.store.release_deliveries(self.owner)
            await self.store.release_lease(self.name, self.owner)
        except Exception as exc:
            log.warning(
                "leadership: could not release the lease; it expires by itself",
                extra={"lease": self.name, "error": f"{type(exc).__name__}: {exc}"},
            )
        self._said = None
        log.info("leadership released", extra={"lease": self.name, "owner": self.owner})

    async def _say(self, state: str) -> None:
        """Log each change of state once."""
        if state == self._said:
            return
        before, self._said = self._said, state
        if state == "leader":
            log.info(
                "leadership acquired: this process fires schedules and sends digests",
                extra={"lease": self.name, "owner": self.owner, "token": self.token},
            )
            return
        try:
            holder = await self.store.lease_holder(self.name)
        except Exception:
            holder = None
        log.warning(
            ("leadership lost: " if before == "leader" else "")
            + "standby: another Paperboy process sends digests from this database; this one "
            "answers commands and counts votes, and takes over when that one stops",
            extra={
                "lease": self.name,
                "store": self.store.url,
                "holder": holder[0] if holder else "unknown",
            },
        )


__all__ = ["DEFAULT_TTL", "Leadership", "process_owner"]
