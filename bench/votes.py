"""Votes ingested per second by each Store backend.

    python bench/votes.py [--votes 20000] [--concurrency 50] [--postgres URL]

SQLite runs on a temporary file. PostgreSQL (when ``--postgres`` or ``DATABASE_URL`` is given)
runs in a temporary schema that is dropped afterwards. Each backend is measured twice: one
``add_vote`` at a time, and with ``asyncio.gather`` keeping ``--concurrency`` calls in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bot.core.errors import StoreError
from bot.core.messages import ChannelRef
from bot.core.text import mask_url
from bot.storage import Store, open_store
from bot.storage.records import Vote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.db import vote_count

EMOJI = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")


def make_votes(n: int, prefix: str) -> list[Vote]:
    """``n`` distinct votes spread over channels, messages, users and papers."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    votes = []
    for i in range(n):
        channel = ChannelRef("slack", f"T{i % 3}", f"C{i % 7}")
        rank = i % 10
        votes.append(
            Vote(
                channel=channel,
                message_id=f"{prefix}-m{i // 1000}",
                user_id=f"U{i // 10}",
                emoji=EMOJI[rank],
                paper_id=f"paper{(i * 7919) % 500:04d}",
                at=start + timedelta(seconds=i),
            )
        )
    return votes


async def sequential(store: Store, votes: list[Vote]) -> None:
    for v in votes:
        await store.add_vote(v)


async def concurrent(store: Store, votes: list[Vote], limit: int) -> None:
    sem = asyncio.Semaphore(limit)

    async def one(v: Vote) -> None:
        async with sem:
            await store.add_vote(v)

    await asyncio.gather(*(one(v) for v in votes))


@asynccontextmanager
async def sqlite_store() -> AsyncIterator[Store]:
    with tempfile.TemporaryDirectory(prefix="paperboy-bench-") as tmp:
        store = open_store(str(Path(tmp) / "bench.sqlite3"))
        await store.open()
        try:
            yield store
        finally:
            await store.close()


@asynccontextmanager
async def postgres_store(url: str) -> AsyncIterator[Store]:
    schema = f"pb_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(url, timeout=10)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in url else "?"
        store = open_store(f"{url}{sep}schema={schema}")
        await store.open()
        try:
            yield store
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def measure(
    backend: str, store: Store, n: int, limit: int
) -> list[tuple[str, str, int, float]]:
    rows = []
    for mode, prefix in (("sequential", "seq"), (f"gather x{limit}", "par")):
        votes = make_votes(n, prefix)
        began = time.perf_counter()
        if prefix == "seq":
            await sequential(store, votes)
        else:
            await concurrent(store, votes, limit)
        rows.append((backend, mode, n, time.perf_counter() - began))
    assert await vote_count(store) == 2 * n, "every vote is distinct and must be stored"
    return rows


def print_table(rows: list[tuple[str, str, int, float]]) -> None:
    print(f"{'backend':<10} {'mode':<12} {'votes':>8} {'seconds':>9} {'votes/s':>10}")
    for backend, mode, n, secs in rows:
        print(f"{backend:<10} {mode:<12} {n:>8} {secs:>9.2f} {n / secs:>10,.0f}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("DATABASE_URL"), metavar="URL")
    args = parser.parse_args()

    rows = []
    async with sqlite_store() as store:
        rows += await measure("sqlite", store, args.votes, args.concurrency)
    if args.postgres:
        try:
            async with postgres_store(args.postgres) as store:
                rows += await measure("postgres", store, args.votes, args.concurrency)
        except (OSError, TimeoutError, asyncpg.PostgresError, StoreError) as exc:
            print(f"postgres skipped ({mask_url(args.postgres)}): {exc}", file=sys.stderr)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
