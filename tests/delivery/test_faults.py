"""Crash safety: the engine runs in a subprocess (tests/support/engine_child.py) on a SQLite file and
posts to a fake platform server in this process; we kill -9 it at random points of a fan-out,
restart it, and at the end every (channel, week) has exactly one post."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from support.fakeplatform import FakePlatformServer
from support.paths import TESTS

CHILD = TESTS / "support" / "engine_child.py"
ROOT = CHILD.resolve().parents[1]
CHANNELS = 20
WEEKS = tuple(f"week:{date(2025, 6, 2) + timedelta(weeks=i)}" for i in range(8))
KILLS_PER_WEEK = 3


async def spawn(db: Path, url: str, week: str, *, capture: bool) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(db), url, week, str(CHANNELS),
        stdout=out, stderr=out, cwd=str(ROOT), env=env,
    )  # fmt: skip


async def run_and_kill(
    db: Path, url: str, week: str, server: FakePlatformServer, rng: random.Random
) -> bool:
    """Start the engine and kill -9 it after a random number of post requests (plus a random
    sliver of time, so the kill lands before, during or after a platform write). True if it
    was killed, False if it finished first."""
    remaining = CHANNELS - sum(1 for (_, w), n in server.per_channel_header().items() if w == week)
    target = server.requests + rng.randint(1, max(1, remaining * 2 // 3))
    proc = await spawn(db, url, week, capture=False)
    seen = asyncio.create_task(server.wait_requests(target))
    exited = asyncio.create_task(proc.wait())
    await asyncio.wait({seen, exited}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    killed = False
    if not exited.done():
        await asyncio.sleep(rng.uniform(0, 0.015))  # not a schedule: only jitters the kill
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            killed = True
    await exited
    seen.cancel()
    return killed and proc.returncode == -signal.SIGKILL


@pytest.mark.slow
async def test_kill_9_during_fan_out_loses_nothing_and_never_double_posts(tmp_path: Path) -> None:
    server = FakePlatformServer(fail_rate=0.15, reply_delay=0.02, seed=2025)
    url = await server.start()
    db = tmp_path / "engine.sqlite3"
    rng = random.Random(99)
    kills = 0
    try:
        for week in WEEKS:
            week_kills = 0
            for _ in range(KILLS_PER_WEEK * 2):
                if week_kills >= KILLS_PER_WEEK:
                    break
                week_kills += await run_and_kill(db, url, week, server, rng)
            kills += week_kills
            # A clean run finishes the week: it reconciles what was in flight, then fires.
            proc = await spawn(db, url, week, capture=True)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, (out.decode(), err.decode()[-3000:])
            # And one more run finds nothing left to do.
            proc = await spawn(db, url, week, capture=True)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, (out.decode(), err.decode()[-3000:])
            assert '"sent"' not in out.decode()
        posts = server.per_channel_header()
        expected = {(f"http:w:c{i:02}", week): 1 for i in range(CHANNELS) for week in WEEKS}
        duplicates = {k: n for k, n in posts.items() if n > 1}
        assert duplicates == {}
        assert posts == expected  # zero losses, zero duplicates
        assert kills >= 15, kills
        assert server.codes[504] > 0  # lost replies happened, and were reconciled
    finally:
        await server.close()
