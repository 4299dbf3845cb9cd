"""Discord shards shared by several replicas, through the store's leases (PostgreSQL).

Every replica of one bot runs ``ShardLeaser.round`` every ``ttl / 3`` seconds:

1. it renews its presence, the lease ``discord-replica:<owner>``, and counts the replicas alive
   (the presence leases not expired: ``Store.live_leases``);
2. its fair share is ``ceil(shards / replicas)``; it renews the shard leases it holds
   (``discord-shard:<n>``), gives up any beyond its share (highest first: a replica that has
   just joined takes them; released by ``settle`` once the adapter has disconnected them),
   and takes free ones up to its share.

Identifies across replicas follow Discord's session start rule for the whole bot: each one
first takes the lease ``discord-identify:<bucket>`` for the identify spacing (``may_identify``).

Leases are timed by the database's clock and carry a fencing token (``Store.acquire_lease``),
so two replicas never hold one shard: a shard whose holder died is free once its lease has
expired, and the others take it over at their next round, within ``ttl`` plus one round (plus
the reconnect). A replica stopping cleanly releases its leases at once. The adapter connects
exactly the shards held (see ``DiscordAdapter``). Posting does not depend on shards: it stays
with the scheduler's leader, which may hold none.
"""

from __future__ import annotations

import logging
import math
import random

from bot.storage.base import Store

log = logging.getLogger("paperboy.discord.shards")

REPLICA = "discord-replica:"
SHARD = "discord-shard:"
IDENTIFY = "discord-identify:"


class ShardLeaser:
    """This replica's hold on its share of the bot's shards."""

    def __init__(self, store: Store, owner: str, *, ttl: float = 30.0) -> None:
        if ttl <= 0:
            raise ValueError("the shard lease ttl must be positive")
        self.store = store
        self.owner = owner
        self.ttl = ttl
        self.held: set[int] = set()
        self._leaving: set[int] = set()  # given up, still to release (see ``settle``)
        self._identifies = 0

    @property
    def interval(self) -> float:
        """Seconds between rounds: three renewals per ttl."""
        return self.ttl / 3

    async def round(self, count: int) -> list[int]:
        """One heartbeat (see the module); the shards held afterwards, sorted."""
        store = self.store
        await store.acquire_lease(REPLICA + self.owner, self.owner, self.ttl)
        replicas = max(1, len(await store.live_leases(REPLICA)))
        share = math.ceil(count / replicas)
        for shard in sorted(self.held):
            if shard >= count or await self._take(shard) is None:
                self.held.discard(shard)
                log.warning("lost the lease on discord shard %d", shard)
        extra = sorted(self.held, reverse=True)[: max(0, len(self.held) - share)]
        for shard in extra:  # released by ``settle``, once they are disconnected
            self.held.discard(shard)
            self._leaving.add(shard)
        if len(self.held) < share:
            taken = {int(name[len(SHARD) :]) for name, _ in await store.live_leases(SHARD)}
            free = [s for s in range(count) if s not in taken and s not in self.held]
            random.shuffle(free)  # replicas taking at once rarely contend for the same one
            for shard in free:
                if len(self.held) >= share:
                    break
                if await self._take(shard) is not None:
                    self.held.add(shard)
                    log.info("took discord shard %d", shard)
        return sorted(self.held)

    async def settle(self) -> None:
        """Release the shards the last round gave up (call once they are disconnected, so
        the replica taking one over never overlaps with this one)."""
        leaving, self._leaving = self._leaving, set()
        for shard in sorted(leaving):
            await self.store.release_lease(SHARD + str(shard), self.owner)
            log.info("gave discord shard %d up for another replica", shard)

    async def may_identify(self, bucket: int, spacing: float) -> bool:
        """Discord's session start rule across replicas: one IDENTIFY per ``spacing`` seconds
        per bucket for the whole bot. True when this one may go now (it holds the bucket's
        lease, for ``spacing`` seconds of the database's clock); each call is its own owner,
        so this replica's next identify waits too."""
        self._identifies += 1
        owner = f"{self.owner}#{self._identifies}"
        return await self.store.acquire_lease(IDENTIFY + str(bucket), owner, spacing) is not None

    async def _take(self, shard: int) -> int | None:
        return await self.store.acquire_lease(SHARD + str(shard), self.owner, self.ttl)

    async def release(self) -> None:
        """Give every shard and the presence up (a clean stop): the others take them at once."""
        held, self.held = self.held | self._leaving, set()
        self._leaving = set()
        for shard in sorted(held):
            await self.store.release_lease(SHARD + str(shard), self.owner)
        await self.store.release_lease(REPLICA + self.owner, self.owner)


__all__ = ["ShardLeaser"]
