"""Seeding and backfill on Slack under its modelled Tier 3 limit, through the real SlackAdapter.

    python bench/seeding.py [--runs 3] [--period 6] [--digests 50] [--backfill 1000]

The fake Slack from ``tests/support`` enforces Tier 3 on ``reactions.add`` and ``reactions.get``
(50 calls per workspace in any sliding ``--period`` seconds; Slack's is 60: the default 6 runs
the same schedule ten times faster) and Tier 4 on ``users.info`` (100 per period), answering 429
with ``Retry-After`` beyond that. The bot is told the same limit.

* Seeding: ``--digests`` digests of ten papers each are recorded and their seed jobs enqueued;
  the real ``Seeder`` adds the ten keycaps under each through ``reactions.add``. The floor the
  limit allows for N calls is (ceil(N / 50) - 1) periods (50 go at once, then 50 per period);
  the target is at most 1.1x that floor, with no 429 and nothing dropped.
* Backfill: ``--backfill`` digests, each with ten keycap reactions (the bot's, plus one to three
  people on each), are read back with ``reactions.get`` by ``Backfill.run`` and their votes
  reconciled into an empty store. Reported: the time against its floor, the 429s (0 means it
  stayed inside the limits), and whether the stored votes are exactly the people's reactions.

Each run uses a fresh SQLite store and a fresh fake. Timings depend on the machine: this prints
its core count, and ranges over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.slack import BOT_TOKEN, BOT_USER_ID, SIGNING_SECRET, TEAM_ID, FakeSlack  # noqa: E402
from support.watch import NoCommands  # noqa: E402

from bot.chat.backfill import Backfill  # noqa: E402
from bot.chat.votes import VoteService  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.messages import ChannelRef  # noqa: E402
from bot.delivery.seeding import Seeder  # noqa: E402
from bot.platforms.slack import SlackAdapter  # noqa: E402
from bot.platforms.slack.reactions import KEYCAP_REACTIONS  # noqa: E402
from bot.storage.records import PostedDigest  # noqa: E402
from bot.storage.sqlite import SqliteStore  # noqa: E402

TIER3 = 50
TIER4 = 100
PAPERS = tuple(f"paper{i:02d}" for i in range(10))


@dataclass
class Run:
    seconds: float
    floor: float
    calls: int
    limited: int
    problems: int  # seeding: jobs dropped or keycaps missing; backfill: vote mismatches

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor


def floor_of(calls: int, period: float) -> float:
    """The earliest the last of ``calls`` may go under 50 per sliding ``period``."""
    return (math.ceil(calls / TIER3) - 1) * period


async def started(fake: FakeSlack, period: float, reactions: Any) -> SlackAdapter:
    adapter = SlackAdapter(
        bot_token=BOT_TOKEN,
        app_token=None,
        signing_secret=SIGNING_SECRET,
        mode="http",
        api_base_url=fake.url,
        commands=NoCommands(),
        reactions=reactions,
        reaction_calls=TIER3,
        reaction_period=period,
    )
    await adapter.start()
    return adapter


async def new_fake(period: float) -> FakeSlack:
    fake = FakeSlack()
    await fake.start()
    fake.limit("reactions.add", TIER3, per=period)
    fake.limit("reactions.get", TIER3, per=period)
    fake.limit("users.info", TIER4, per=period)
    return fake


async def seeding_run(digests: int, period: float, tmp: Path) -> Run:
    fake = await new_fake(period)
    store = SqliteStore(str(tmp / "seed.sqlite3"))
    await store.open()
    adapter = await started(fake, period, NoCommands())
    seeder = Seeder(store, clock=SystemClock())
    seeder.targets["slack"] = adapter
    try:
        now = datetime.now(UTC)
        messages = []
        for i in range(digests):
            channel = f"C{i:04d}"
            ts = fake.add_message(channel, user=BOT_USER_ID, bot_id="B0BOT")["ts"]
            ref = ChannelRef("slack", TEAM_ID, channel)
            await seeder.enqueue(PostedDigest(ref, ts, "week:2025-06-23", PAPERS, now))
            messages.append((channel, ts))
        began = time.perf_counter()
        seeder.start()
        await seeder.settled()
        seconds = time.perf_counter() - began
        missing = sum(fake.bot_reactions(c, ts) != list(KEYCAP_REACTIONS) for c, ts in messages)
        return Run(
            seconds,
            floor_of(digests * 10, period),
            len(fake.calls("reactions.add")),
            fake.rate_limited["reactions.add"],
            missing + seeder.stats["dropped"],
        )
    finally:
        await seeder.stop()
        await adapter.stop()
        await store.close()
        await fake.stop()


async def backfill_run(digests: int, period: float, tmp: Path, seed: int) -> Run:
    rng = random.Random(seed)
    fake = await new_fake(period)
    people = [f"U0P{i:03d}" for i in range(40)]
    for user in people:
        fake.add_user(user)
    store = SqliteStore(str(tmp / "backfill.sqlite3"))
    await store.open()
    votes = VoteService(store, clock=SystemClock())
    adapter = await started(fake, period, votes)
    backfill = Backfill(store, votes, clock=SystemClock(), window=timedelta(days=30))
    backfill.readers["slack"] = adapter
    try:
        now = datetime.now(UTC)
        expected = set()
        for i in range(digests):
            channel = f"C{i % 50:04d}"
            msg = fake.add_message(channel, user=BOT_USER_ID, bot_id="B0BOT")
            msg["reactions"] = []
            for name in KEYCAP_REACTIONS:
                users = rng.sample(people, rng.randint(1, 3))
                msg["reactions"].append(
                    {"name": name, "users": [BOT_USER_ID, *users], "count": len(users) + 1}
                )
                expected |= {(channel, msg["ts"], u, name) for u in users}
            ref = ChannelRef("slack", TEAM_ID, channel)
            posted_at = now - timedelta(minutes=i)
            await store.record_posted(PostedDigest(ref, msg["ts"], "week", PAPERS, posted_at))
        began = time.perf_counter()
        result = await backfill.run("slack")
        seconds = time.perf_counter() - began
        stored = set()
        for posted in await store.posted_since("slack", now - timedelta(days=30)):
            ch = posted.channel.channel
            stored |= {
                (ch, posted.message_id, v.user_id, v.emoji)
                for v in await store.votes_on(posted.channel, posted.message_id)
            }
        limited = sum(fake.rate_limited[m] for m in ("reactions.get", "users.info"))
        problems = len(stored ^ expected) + result.skipped
        return Run(seconds, floor_of(digests, period), result.read, limited, problems)
    finally:
        await adapter.stop()
        await store.close()
        await fake.stop()


def report(name: str, runs: list[Run], calls: str) -> None:
    seconds = [r.seconds for r in runs]
    ratios = [r.ratio for r in runs]
    print(f"{name}: {calls}, floor {runs[0].floor:.1f} s")
    for i, r in enumerate(runs, start=1):
        print(
            f"  run {i}: {r.seconds:7.2f} s  ratio {r.ratio:.3f}  calls {r.calls}"
            f"  429s {r.limited}  problems {r.problems}"
        )
    print(
        f"  range: {min(seconds):.2f}-{max(seconds):.2f} s, ratio {min(ratios):.3f}-"
        f"{max(ratios):.3f}, 429s {sum(r.limited for r in runs)}, "
        f"problems {sum(r.problems for r in runs)}"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--period", type=float, default=6.0, help="Tier 3 window (Slack: 60)")
    parser.add_argument("--digests", type=int, default=50)
    parser.add_argument("--backfill", type=int, default=1000)
    parser.add_argument("--skip", choices=("seeding", "backfill"), default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"cores: {os.cpu_count()}  python {sys.version.split()[0]}")
    print(
        f"modelled limit: {TIER3} calls per {args.period:g} s per method per workspace "
        f"(Slack Tier 3 is {TIER3} per 60 s; x{60 / args.period:g} faster here)"
    )
    with tempfile.TemporaryDirectory(prefix="paperboy-bench-") as tmp:
        if args.skip != "seeding":
            runs = []
            for i in range(args.runs):
                run_dir = Path(tmp) / f"s{i}"
                run_dir.mkdir()
                runs.append(await seeding_run(args.digests, args.period, run_dir))
            report(
                "seeding", runs, f"{args.digests} digests x 10 keycaps = {args.digests * 10} calls"
            )
        if args.skip != "backfill":
            runs = []
            for i in range(args.runs):
                run_dir = Path(tmp) / f"b{i}"
                run_dir.mkdir()
                runs.append(await backfill_run(args.backfill, args.period, run_dir, seed=i))
            report(
                "backfill",
                runs,
                f"{args.backfill} digests x 10 reactions = {args.backfill} reactions.get calls",
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
