"""Fan-out benchmark: one digest to many channels through a fake platform that enforces
Discord-like limits, using the real DeliveryEngine on a SQLite store in a temporary directory.

    python bench/fanout.py [--channels 1000] [--servers 1] [--global-limit 50] [--channel-limit 5]

``--servers`` spreads the channels over that many servers (the engine takes turns by server).

The fake answers 429 (with retry_after, global or per channel) past about 5 posts per 5 s per
channel and 50 requests per second overall, with a few milliseconds of simulated network
latency each way. Prints the total time, the floor those limits allow (channels / global
rate), the ratio, duplicates, losses and the number of 429s received.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path

from bot.core.clock import SystemClock
from bot.core.errors import RateLimited
from bot.core.messages import ChannelRef, Message
from bot.delivery.digest import Digest
from bot.delivery.engine import DeliveryEngine
from bot.delivery.ratelimit import RateLimiter
from bot.storage.records import Subscription
from bot.storage.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.db import count_sent

SERVERS = 1


def guild(i: int) -> str:
    """The server channel ``i`` belongs to (``--servers`` of them, channels dealt in turn)."""
    return "g" if SERVERS == 1 else f"g{i % SERVERS}"


class LimitedPlatform:
    """A Poster that enforces sliding-window limits the way a strict server would."""

    platform = "discord"

    def __init__(
        self,
        *,
        global_limit: int,
        global_window: float,
        channel_limit: int,
        channel_window: float,
        latency: tuple[float, float] = (0.004, 0.030),
        seed: int = 1,
    ) -> None:
        self.global_limit, self.global_window = global_limit, global_window
        self.channel_limit, self.channel_window = channel_limit, channel_window
        self.latency = latency
        self.rng = random.Random(seed)
        self._global: deque[float] = deque()
        self._channels: dict[str, deque[float]] = {}
        self.posts: Counter[tuple[str, str]] = Counter()
        self.by_key: dict[tuple[str, str], str] = {}
        self.global_429 = 0
        self.channel_429 = 0

    async def _hop(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.latency) / 2)

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        await self._hop()  # request on the wire
        now = asyncio.get_running_loop().time()
        g = self._global
        while g and g[0] <= now - self.global_window:
            g.popleft()
        if len(g) >= self.global_limit:
            self.global_429 += 1
            raise RateLimited(g[0] + self.global_window - now, is_global=True)
        c = self._channels.setdefault(str(channel), deque())
        while c and c[0] <= now - self.channel_window:
            c.popleft()
        if len(c) >= self.channel_limit:
            self.channel_429 += 1
            raise RateLimited(c[0] + self.channel_window - now)
        g.append(now)
        c.append(now)
        mid = f"m{sum(self.posts.values()) + 1}"
        self.posts[(str(channel), message.header)] += 1
        self.by_key[(str(channel), idempotency_key)] = mid
        await self._hop()  # reply on the wire
        return mid

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        return self.by_key.get((str(channel), idempotency_key))

    async def prepare(self, channel: ChannelRef) -> None:
        return None


class OneDigest:
    def __init__(self, digest: Digest) -> None:
        self.digest = digest

    async def next_digest(
        self, sub: Subscription, sent_keys: set[str], now: datetime
    ) -> Digest | None:
        return None if self.digest.key in sent_keys else self.digest

    async def digest_for(
        self, sub: Subscription, key: str, paper_ids: tuple[str, ...] = ()
    ) -> Digest | None:
        return self.digest if key == self.digest.key else None


async def run(channels: int, global_limit: int, channel_limit: int) -> int:
    platform = LimitedPlatform(
        global_limit=global_limit,
        global_window=1.0,
        channel_limit=channel_limit,
        channel_window=5.0,
    )
    digest = Digest(
        "week:2025-06-23",
        Message(header="Top papers, week of 2025-06-23", kind="digest", ephemeral=False),
        tuple(f"p{i}" for i in range(10)),
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(str(Path(tmp) / "bench.sqlite3"))
        await store.open()
        try:
            subs = [
                await store.upsert_subscription(
                    Subscription(ChannelRef("discord", guild(i), f"c{i:04}"), "0 9 * * MON", "UTC")
                )
                for i in range(channels)
            ]
            limiter = RateLimiter(
                global_limit=global_limit,
                global_period=1.0,
                channel_limit=channel_limit,
                channel_period=5.0,
                margin=0.02,
            )
            engine = DeliveryEngine(
                store,
                {"discord": platform},
                OneDigest(digest),
                clock=SystemClock(),
                limiter=limiter,
                concurrency=50,
            )
            started = time.perf_counter()
            outcomes = await engine.fire(subs, datetime.now(UTC))
            elapsed = time.perf_counter() - started
            sent_in_ledger = await count_sent(store)
        finally:
            await store.close()

    statuses = Counter(o.status for o in outcomes)
    expected = {(f"discord:{guild(i)}:c{i:04}", digest.message.header) for i in range(channels)}
    duplicates = sum(n - 1 for n in platform.posts.values() if n > 1)
    losses = len(expected - set(platform.posts))
    floor = channels / global_limit
    rows = [
        ("channels", f"{channels}"),
        ("limits", f"{global_limit}/s global, {channel_limit} per 5 s per channel"),
        ("total time", f"{elapsed:.2f} s"),
        ("floor (channels / global rate)", f"{floor:.2f} s"),
        ("ratio", f"{elapsed / floor:.3f}x"),
        ("posts", f"{sum(platform.posts.values())}"),
        ("ledger rows sent", f"{sent_in_ledger}"),
        ("duplicates", f"{duplicates}"),
        ("losses", f"{losses}"),
        ("429s received (global / channel)", f"{platform.global_429} / {platform.channel_429}"),
        ("outcomes", ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()))),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0 if duplicates == 0 and losses == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--global-limit", type=int, default=50)
    ap.add_argument("--channel-limit", type=int, default=5)
    ap.add_argument("--servers", type=int, default=1)
    args = ap.parse_args()
    global SERVERS
    SERVERS = max(1, args.servers)
    return asyncio.run(run(args.channels, args.global_limit, args.channel_limit))


if __name__ == "__main__":
    sys.exit(main())
