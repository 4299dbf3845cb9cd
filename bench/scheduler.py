"""Scheduler wake cost as subscriptions grow: the real ``Scheduler`` on a SQLite store in a
temporary directory, with an engine that delivers instantly (only the scheduler is measured).

    python bench/scheduler.py [--sizes 1000,10000,100000] [--servers 10000] [--due 10]
                              [--wakes 50] [--runs 3] [--database-url postgresql://...]

SQLite by default; with ``--database-url`` PostgreSQL (a schema of its own per run, dropped
after; vacuumed and analysed once every subscription is planned, as autovacuum soon would:
before that, the index still holds every row's old NULL entry and the statistics say NULL).

For each size N, N weekly subscriptions are spread over ``--servers`` servers (workspaces).
``--wakes`` minute slots on Monday morning each hold exactly ``--due`` subscriptions; all the
others fire at other times of the week. Every subscription is planned first (its next instant
stored, as after the first wake), then the scheduler wakes once per slot and fires the ones
due, as the loop does (tick, the fires' bookkeeping, the tick their end triggers).

Printed per size, as ranges over ``--runs`` runs (min-max): p50 and p99 of a wake with
``--due`` due, an idle wake (nothing due), the one-off first wake that plans every
subscription, and the peak Python memory a wake allocates (tracemalloc), per size and per
10,000 subscriptions; for contrast, the same two for reading every subscription at once (what
each wake did before next_fire_at). A flat wake cost and wake memory across sizes is the goal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bot.core.clock import Clock
from bot.delivery.outcome import Outcome
from bot.delivery.scheduler import Scheduler, next_fire
from bot.storage import Store, open_store
from bot.storage.records import Subscription
from bot.storage.sqlite import SqliteStore, to_db_time

MONDAY = datetime(2025, 6, 30, 0, 0, tzinfo=UTC)
MEMORY_WAKES = 5  # extra wakes, each with --due due, measured for memory only


class FixedClock(Clock):
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    async def sleep_until(self, when: datetime, wake: asyncio.Event | None = None) -> None:
        return None


class InstantEngine:
    def __init__(self) -> None:
        self.fired = 0

    async def fire(self, subs: Sequence[Subscription], fire_time: datetime) -> list[Outcome]:
        self.fired += len(subs)
        return []

    async def reconcile_pending(self) -> list[Outcome]:
        return []

    async def flush(self) -> None:
        return None


def other_slot(rng: random.Random) -> tuple[int, int, int]:
    """(minute, hour, weekday) anywhere in the week except Sunday 23:00 to Monday 01:00 (the
    idle and measured wakes)."""
    while True:
        minute, hour, dow = rng.randrange(60), rng.randrange(24), rng.randrange(7)
        if not ((dow == 1 and hour == 0) or (dow == 0 and hour == 23)):
            return minute, hour, dow


COLUMNS = (
    "platform",
    "workspace",
    "channel",
    "cron",
    "timezone",
    "last_fire_at",
    "created_at",
    "updated_at",
)


def rows_for(n: int, servers: int, due: int, wakes: int, seed: int) -> list[tuple[Any, ...]]:
    """N subscriptions: ``due`` in each of Monday's first minutes, the rest spread over the
    week; every one handled up to the first wake."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    last = MONDAY - timedelta(minutes=30)
    rows: list[tuple[Any, ...]] = []
    for i in range(n):
        if i < due * (wakes + MEMORY_WAKES):
            minute, hour, dow = i // due, 0, 1  # Monday 00:MM, exactly `due` per slot
        else:
            minute, hour, dow = other_slot(rng)
        cron = f"{minute} {hour} * * {dow}"
        rows.append(("discord", f"g{i % servers}", f"c{i}", cron, "UTC", last, now, now))
    return rows


def populate_sqlite(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """Written in one transaction (the store API would take one per row)."""
    text = [(*r[:5], to_db_time(r[5]), to_db_time(r[6]), to_db_time(r[7])) for r in rows]
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            f"INSERT INTO subscriptions ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            text,
        )
    db.close()


async def populate_postgres(url: str, schema: str, rows: list[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "subscriptions", records=rows, columns=COLUMNS, schema_name=schema
        )
        await conn.execute(f'ANALYZE "{schema}".subscriptions')
    finally:
        await conn.close()


async def analyze(url: str, store: Store) -> None:
    """What autovacuum does soon after every row changed: the old row versions (and their
    index entries, all under NULL) cleared, fresh statistics (the column was all NULL)."""
    schema = getattr(store, "_schema", None)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'VACUUM ANALYZE "{schema}".subscriptions')
    finally:
        await conn.close()


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def opened(n: int, args: argparse.Namespace, seed: int) -> AsyncIterator[Store]:
    """A migrated store holding the benchmark's subscriptions (SQLite, or PostgreSQL)."""
    rows = rows_for(n, args.servers, args.due, args.wakes, seed)
    if args.database_url:
        base = args.database_url
        schema = f"pb_bench_{secrets.token_hex(4)}"
        store = open_store(f"{base}{'&' if '?' in base else '?'}schema={schema}")
        await store.open()
        try:
            await populate_postgres(base, schema, rows)
            yield store
        finally:
            await store.close()
            await drop_schema(base, schema)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        first = SqliteStore(str(path))
        await first.open()  # migrated
        await first.close()
        populate_sqlite(path, rows)
        store = SqliteStore(str(path))
        await store.open()
        try:
            yield store
        finally:
            await store.close()


async def wake(sched: Scheduler) -> None:
    await sched.tick()
    await sched.drain()
    await sched.tick()


async def one_run(n: int, args: argparse.Namespace, seed: int) -> dict[str, float]:
    async with opened(n, args, seed) as store:
        clock = FixedClock(MONDAY - timedelta(minutes=30))
        engine = InstantEngine()
        sched = Scheduler(store, engine, clock, refresh=None)
        t0 = time.perf_counter()
        while await sched.tick() == clock.now():  # plans every subscription, as the loop
            pass  # does after the migration: wake after wake until none is left
        plan_s = time.perf_counter() - t0
        if args.database_url:  # what autovacuum does soon after so many rows changed
            await analyze(args.database_url, store)
        clock.at = MONDAY - timedelta(minutes=10)
        idle = []
        for _ in range(5):
            t0 = time.perf_counter()
            await wake(sched)
            idle.append(time.perf_counter() - t0)
        times, peaks = [], []
        for slot in range(args.wakes):
            clock.at = MONDAY + timedelta(minutes=slot)
            t0 = time.perf_counter()
            await wake(sched)
            times.append(time.perf_counter() - t0)
        for slot in range(args.wakes, args.wakes + MEMORY_WAKES):  # memory apart: tracemalloc
            clock.at = MONDAY + timedelta(minutes=slot)  # slows what it traces
            tracemalloc.start()
            await wake(sched)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        expected = args.due * (args.wakes + MEMORY_WAKES)
        assert engine.fired == expected, (engine.fired, expected)
        t0 = time.perf_counter()
        every = await store.list_subscriptions(enabled_only=True)
        full_s = time.perf_counter() - t0
        assert len(every) == n
        sample = every[0]
        assert sample.next_fire_at == next_fire(sample.cron, "UTC", MONDAY), sample
        del every, sample
        tracemalloc.start()
        every = await store.list_subscriptions(enabled_only=True)
        full_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del every
    times.sort()
    return {
        "p50": statistics.median(times) * 1000,
        "p99": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        "idle": statistics.median(idle) * 1000,
        "plan": plan_s,
        "peak_kb": max(peaks) / 1024,
        "full_ms": full_s * 1000,
        "full_kb": full_peak / 1024,
    }


def fmt(values: list[float], digits: int = 1) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.{digits}f}-{hi:.{digits}f}"


async def main_async(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"scheduler wake cost, {'PostgreSQL' if args.database_url else 'SQLite'}, "
        f"{args.due} due per wake, {args.wakes} wakes, "
        f"{args.servers} servers, {args.runs} runs, {os.cpu_count()} cores"
    )
    header = (
        f"{'subs':>8} {'wake p50 ms':>12} {'wake p99 ms':>12} {'idle ms':>10} "
        f"{'wake peak KB':>13} {'KB/10k subs':>12} {'plan all s':>11} "
        f"{'full read ms':>13} {'full KB/10k':>12}"
    )
    print(header)
    for n in sizes:
        runs = [await one_run(n, args, seed) for seed in range(args.runs)]
        per10k = [r["peak_kb"] * 10_000 / n for r in runs]
        full10k = [r["full_kb"] * 10_000 / n for r in runs]
        print(
            f"{n:>8} {fmt([r['p50'] for r in runs], 2):>12} {fmt([r['p99'] for r in runs], 2):>12}"
            f" {fmt([r['idle'] for r in runs], 2):>10} {fmt([r['peak_kb'] for r in runs]):>13}"
            f" {fmt(per10k):>12} {fmt([r['plan'] for r in runs], 2):>11}"
            f" {fmt([r['full_ms'] for r in runs]):>13} {fmt(full10k):>12}",
            flush=True,
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--servers", type=int, default=10_000)
    ap.add_argument("--due", type=int, default=10)
    ap.add_argument("--wakes", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite")
    args = ap.parse_args()
    if args.wakes + MEMORY_WAKES > 55:
        ap.error("at most 50 wakes (one a minute in Monday's first hour)")
    if min(int(s) for s in args.sizes.split(",")) < args.due * (args.wakes + MEMORY_WAKES):
        ap.error("every size must hold --due x (--wakes + 5) subscriptions")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
