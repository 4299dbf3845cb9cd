"""Replicas of the whole app on one PostgreSQL database, each its own process (``paperboy run``)
with the real slack-bolt client, against the fake Slack in this process. Posts are counted on
the fake: every channel gets the digest once, whatever happens to the leader.

* A leader paused (SIGSTOP) in the middle of a fan-out, its database sessions killed
  (``pg_terminate_backend``), a standby that takes over and finishes, the old leader resumed
  (SIGCONT): no duplicate, nothing lost.
* A hung leader (SIGSTOP, sessions alive) is replaced once its lease expires; resumed, it
  stands by.

The fan-out is paused at a moment where no send is between its last check and its request:
half the posts are stored with their replies held back, the other half rate limited (429).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from support.chat_apps import weekly_table
from support.paths import TESTS
from support.slack import APP_TOKEN, BOT_TOKEN, TEAM_ID, FakeSlack

from bot.core.messages import ChannelRef
from bot.storage import open_store
from bot.storage.records import Subscription

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = TESTS.resolve().parent
CHANNELS = [f"C{i:03d}" for i in range(40)]
PAPERS = [(f"Paper number {i}", f"https://arxiv.org/abs/2501.{i:05d}") for i in range(1, 11)]
WAIT = 60.0  # real seconds: only bounds a hang


class Replica:
    """``paperboy run`` in a process of its own; its JSON log lines are read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.lines: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, config: Path, name: str) -> Replica:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(config), "run",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, cwd=str(config.parent), env=env,
        )  # fmt: skip
        return cls(proc, name)

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                self.lines.append({"event": raw.decode(errors="replace").rstrip()})
            self._changed.set()

    def count(self, predicate: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for line in self.lines if predicate(line))

    async def wait_log(self, text: str, times: int = 1) -> None:
        """Until ``times`` log lines contain ``text``."""
        async with asyncio.timeout(WAIT):
            while self.count(lambda line: text in str(line.get("event"))) < times:
                if self.proc.returncode is not None:
                    raise AssertionError(f"{self.name} exited: {self.lines[-20:]}")
                self._changed.clear()
                await self._changed.wait()

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.signal(signal.SIGKILL)
            await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def postgres_ports(pid: int) -> list[int]:
    """The local ports of process ``pid``'s TCP connections to port 5432 (its sessions)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == 5432:
                    ports.append(int(local.rsplit(":", 1)[1], 16))
    return ports


async def kill_sessions(dsn: str, pid: int) -> int:
    """``pg_terminate_backend`` every session process ``pid`` has open; how many."""
    ports = postgres_ports(pid)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ANY($1)",
            ports,
        )
    finally:
        await conn.close()
    return len(rows)


def next_monday_9(after: datetime) -> datetime:
    day = (after + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    while day.weekday() != 0:
        day += timedelta(days=1)
    return day


@pytest.fixture
async def pg(store_url: str) -> str:
    if not store_url.startswith("postgres"):
        pytest.skip("replicas share a PostgreSQL database")
    return store_url


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    for ch in CHANNELS:
        server.add_channel(ch)  # public channels the bot never joined
    yield server
    await server.stop()


async def setup(tmp_path: Path, url: str, fake: FakeSlack, *, due: bool) -> Path:
    """The config both replicas run, and the subscriptions in the database: due now (the
    weekly instant passed a minute ago by the replicas' clock) or not."""
    now = datetime.now(UTC)
    fire = next_monday_9(now)
    offset = (fire + timedelta(minutes=1) - now).total_seconds()
    (tmp_path / "picks.md").write_text(
        "# Picks\n\n" + weekly_table("January 6 - January 12", PAPERS), encoding="utf-8"
    )
    config = tmp_path / "paperboy.yaml"
    config.write_text(
        f"""\
sources:
  paths: [picks.md]
  cache_dir: cache
store:
  url: "{url}"
slack:
  mode: socket
  api_base_url: {fake.url}
  seed_reactions: false
terminal:
  enabled: false
arxiv:
  enabled: false
http:
  enabled: false
scheduler:
  leader_poll: 0.2
  lease_ttl: 2
log_format: json
clock_offset: {offset:.3f}
""",
        encoding="utf-8",
    )
    store = open_store(url)
    await store.open()
    try:
        for ch in CHANNELS:
            last = fire - timedelta(weeks=1) if due else None
            await store.upsert_subscription(
                Subscription(
                    ChannelRef("slack", TEAM_ID, ch), "0 9 * * MON", "UTC", last_fire_at=last
                )
            )
    finally:
        await store.close()
    return config


def digests_per_channel(fake: FakeSlack) -> dict[str, int]:
    out = {}
    for ch in CHANNELS:
        msgs = fake.messages(ch)
        out[ch] = sum(1 for m in msgs if (m.get("metadata") or {}).get("event_type"))
    return out


async def pending_rows(url: str) -> int:
    store = open_store(url)
    await store.open()
    try:
        return len(await store.pending_deliveries())
    finally:
        await store.close()


def dsn_of(url: str) -> str:
    return url.split("?", 1)[0]


async def test_a_paused_leader_that_lost_its_sessions_never_double_posts(
    pg: str, fake: FakeSlack, tmp_path: Path
) -> None:
    config = await setup(tmp_path, pg, fake, due=True)
    fake.reply_delay = 3.0  # stored posts wait for their replies...
    fake.limit_posts_after = len(CHANNELS) // 2  # ...and the second half is rate limited
    fake.limit_retry_after = 3
    a = await Replica.start(config, "a")
    b: Replica | None = None
    try:
        await a.wait_log("leadership acquired")
        b = await Replica.start(config, "b")
        await b.wait_log("standby")
        # Mid fan-out: half stored (replies held back), half waiting out a 429.
        await fake.wait_for(lambda: len(fake.calls("chat.postMessage")) >= len(CHANNELS), WAIT)
        a.signal(signal.SIGSTOP)
        assert await kill_sessions(dsn_of(pg), a.proc.pid) > 0
        fake.reply_delay, fake.limit_posts_after = 0.0, None
        # The standby takes over once the lease expires, and finishes the fan-out.
        await b.wait_log("leadership acquired")
        await fake.wait_for(lambda: min(digests_per_channel(fake).values()) >= 1, WAIT)
        # Until no row is pending. (Waiting for "the next fan-out done" after seeing a pending
        # row raced: the fan-out that settled it could log before the count was taken.)
        async with asyncio.timeout(WAIT):
            while await pending_rows(pg):
                await asyncio.sleep(0.2)
        # The old leader resumes: its held replies arrive, its rate-limited sends wake up.
        a.signal(signal.SIGCONT)
        await a.wait_log("fan-out done")  # its fan-out has ended, one way or another
        await a.wait_log("standby")
        counts = digests_per_channel(fake)
        assert {ch: n for ch, n in counts.items() if n != 1} == {}  # 0 duplicates, 0 lost
        assert await pending_rows(pg) == 0
        # The resumed leader's rate-limited sends found they no longer lead: not sent.
        [done] = [line for line in a.lines if line.get("event") == "fan-out done"]
        assert done.get("standby") == len(CHANNELS) // 2
    finally:
        await a.stop()
        if b is not None:
            await b.stop()


async def test_a_hung_leader_is_replaced_once_its_lease_expires(
    pg: str, fake: FakeSlack, tmp_path: Path
) -> None:
    config = await setup(tmp_path, pg, fake, due=False)
    a = await Replica.start(config, "a")
    b: Replica | None = None
    try:
        await a.wait_log("leadership acquired")
        b = await Replica.start(config, "b")
        await b.wait_log("standby")
        a.signal(signal.SIGSTOP)  # hung, its sessions alive
        await b.wait_log("leadership acquired")
        # The new leader fires: a subscription due now.
        store = open_store(pg)
        await store.open()
        try:
            fire = next_monday_9(datetime.now(UTC))
            late = ChannelRef("slack", TEAM_ID, CHANNELS[0])
            sub = await store.get_subscription(late)
            assert sub is not None and sub.id is not None
            await store.set_last_fire(sub.id, fire - timedelta(weeks=1))
        finally:
            await store.close()
        await fake.wait_for(lambda: digests_per_channel(fake)[CHANNELS[0]] == 1, WAIT)
        a.signal(signal.SIGCONT)
        await a.wait_log("leadership lost")
        await b.wait_log("fan-out done")
        counts = digests_per_channel(fake)
        assert counts[CHANNELS[0]] == 1 and sum(counts.values()) == 1
    finally:
        await a.stop()
        if b is not None:
            await b.stop()
