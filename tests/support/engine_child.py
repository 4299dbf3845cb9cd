"""A delivery engine in its own process, for the kill -9 tests (tests/test_faults.py).

    python tests/support/engine_child.py DB_PATH PLATFORM_URL WEEK_KEY CHANNELS

Opens the SQLite store, makes sure CHANNELS subscriptions exist, reconciles whatever an earlier
(killed) run left pending, then fans WEEK_KEY out to every channel through the fake platform
server (tests/support/fakeplatform.py ``FakePlatformServer``) over HTTP. Prints one JSON line of
outcome counts and exits 0 when every channel has the week (sent, already sent or reconciled).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, datetime

import aiohttp

from bot.core.clock import SystemClock
from bot.core.errors import RateLimited, TransientError
from bot.core.messages import ChannelRef, Message
from bot.delivery.digest import Digest
from bot.delivery.engine import DeliveryEngine
from bot.storage.records import Subscription
from bot.storage.sqlite import SqliteStore

PLATFORM = "http"


class HttpPoster:
    """A Poster for the fake platform server."""

    platform = PLATFORM

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def post(self, channel: ChannelRef, message: Message, idempotency_key: str) -> str:
        body = {"channel": str(channel), "key": idempotency_key, "header": message.header}
        try:
            async with self.session.post(f"{self.url}/post", json=body) as resp:
                data = await resp.json()
                if resp.status == 200:
                    return str(data["id"])
                if resp.status == 429:
                    raise RateLimited(float(data["retry_after"]), is_global=bool(data["global"]))
                # 504: the platform may have stored it; 500: it did not.
                raise TransientError(f"HTTP {resp.status}", outcome_unknown=resp.status != 500)
        except aiohttp.ClientError as exc:
            raise TransientError(str(exc), outcome_unknown=True) from exc

    async def prepare(self, channel: ChannelRef) -> None:
        return None

    async def find_posted(
        self, channel: ChannelRef, idempotency_key: str, after: str | None
    ) -> str | None:
        params = {"channel": str(channel), "key": idempotency_key}
        try:
            async with self.session.get(f"{self.url}/find", params=params) as resp:
                data = await resp.json()
                return None if data["id"] is None else str(data["id"])
        except aiohttp.ClientError as exc:
            raise TransientError(str(exc)) from exc


class OneWeek:
    def __init__(self, key: str) -> None:
        papers = tuple(f"{key}:p{i}" for i in range(1, 4))  # each week its own papers
        self.digest = Digest(key, Message(header=key, kind="digest", ephemeral=False), papers)

    async def next_digest(
        self, sub: Subscription, sent_keys: set[str], now: datetime
    ) -> Digest | None:
        return None if self.digest.key in sent_keys else self.digest

    async def digest_for(
        self, sub: Subscription, key: str, paper_ids: tuple[str, ...] = ()
    ) -> Digest | None:
        return self.digest if key == self.digest.key else None


async def main(db: str, url: str, week: str, n: int) -> int:
    store = SqliteStore(db)
    await store.open()
    try:
        subs = []
        for i in range(n):
            ch = ChannelRef(PLATFORM, "w", f"c{i:02}")
            sub = await store.get_subscription(ch)
            if sub is None:
                sub = await store.upsert_subscription(Subscription(ch, "0 9 * * MON", "UTC"))
            subs.append(sub)
        async with aiohttp.ClientSession() as session:
            engine = DeliveryEngine(
                store,
                {PLATFORM: HttpPoster(session, url)},
                OneWeek(week),
                clock=SystemClock(),
                base_backoff=0.01,
                max_backoff=0.05,
                send_timeout=5.0,
                max_attempts=50,
                concurrency=8,
            )
            counts: Counter[str] = Counter()
            for o in await engine.reconcile_pending():
                counts["pending_" + o.status] += 1
            fire_time = datetime.now(UTC)
            for o in await engine.fire(subs, fire_time):
                counts[o.status] += 1
    finally:
        await store.close()
    print(json.dumps(counts), flush=True)
    done = counts["sent"] + counts["already_sent"] + counts["reconciled"] + counts["nothing_new"]
    return 0 if done == n else 3


if __name__ == "__main__":
    db_path, platform_url, week_key, channels = sys.argv[1:5]
    sys.exit(asyncio.run(main(db_path, platform_url, week_key, int(channels))))
