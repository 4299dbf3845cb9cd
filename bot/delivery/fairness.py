"""Fair turns for deliveries: ``FairSlots`` lets at most ``limit`` deliveries run at once and
hands a free slot to the waiting deliveries round-robin by key (the workspace or server), in
arrival order within one key. So a server with 10,000 subscribed channels takes one turn in
each round like a server with one, instead of every other server waiting for its fan-out to
finish; and fires of several instants, or the pages the scheduler reads, share one queue.

``depth`` is how many deliveries are waiting for a slot (the ``delivery_queue_depth`` gauge)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Hashable


class FairSlots:
    def __init__(self, limit: int, on_depth: Callable[[int], None] | None = None) -> None:
        if limit < 1:
            raise ValueError("at least one slot")
        self.limit = limit
        self.active = 0
        self._waiting: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()
        self._depth = 0
        self._on_depth = on_depth

    @property
    def depth(self) -> int:
        return self._depth

    def _set_depth(self, depth: int) -> None:
        self._depth = depth
        if self._on_depth is not None:
            self._on_depth(depth)

    @contextlib.asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        await self.acquire(key)
        try:
            yield
        finally:
            self.release(key)

    async def acquire(self, key: Hashable) -> None:
        if self.active < self.limit and not self._waiting:
            self.active += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(fut)
        self._set_depth(self._depth + 1)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                self._forget(key, fut)
            raise

    def _forget(self, key: Hashable, fut: asyncio.Future[None]) -> None:
        queue = self._waiting.get(key)
        if queue is not None and fut in queue:
            queue.remove(fut)
            self._set_depth(self._depth - 1)
            if not queue:
                del self._waiting[key]

    def release(self, key: Hashable | None = None) -> None:
        """Hand the slot to the next key in turn (which then goes to the back), or free it.
        ``key``, the releasing delivery's, has just had its turn: if it is next, it goes to
        the back first."""
        if key is not None and len(self._waiting) > 1 and next(iter(self._waiting)) == key:
            self._waiting.move_to_end(key)
        while self._waiting:
            key, queue = next(iter(self._waiting.items()))
            fut = queue.popleft()
            if queue:
                self._waiting.move_to_end(key)
            else:
                del self._waiting[key]
            self._set_depth(self._depth - 1)
            if not fut.done():
                fut.set_result(None)
                return
        self.active -= 1


__all__ = ["FairSlots"]
