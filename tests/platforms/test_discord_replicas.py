"""Three replicas of the whole bot (``App``) on one PostgreSQL database share eight Discord
shards (``discord.lease_shards``), against the fake Discord. One replica dies: the others take
its shards over and answer commands in its servers again; the digests go out once, from the
scheduler's leader; a vote cast while nobody held its shard is counted after the backfill."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.clock import FakeClock
from support.db import vote_count
from support.discord import APP_ID, BOT_ID, TOKEN, FakeDiscord
from support.discord_app import BEFORE_FIRE, FIRE, archive_text
from support.watch import until

from bot.app import App
from bot.config.load import parse_config
from bot.platforms.discord import DiscordAdapter

pytestmark = pytest.mark.postgres

SHARDS = 8
SPACING = 0.3


def guild_on(shard: int) -> int:
    return (1_000_000 * SHARDS + shard) << 22


GUILDS = {guild_on(s): [guild_on(s) + 1] for s in range(SHARDS)}


def config(tmp_path: Path, fake: FakeDiscord, store_url: str) -> str:
    weekly = tmp_path / "picks.md"
    if not weekly.exists():
        weekly.write_text(archive_text(), encoding="utf-8")
    subs = "".join(
        f'  - platform: discord\n    workspace: "{g}"\n    channel: "{chans[0]}"\n'
        '    cron: "0 9 * * MON"\n    timezone: UTC\n'
        for g, chans in GUILDS.items()
    )
    return f"""\
sources:
  paths: [{weekly}]
  cache_dir: {tmp_path / "cache"}
store:
  url: {store_url}
timezone: UTC
scheduler:
  leader_poll: 1s
  lease_ttl: 2s
discord:
  application_id: "{APP_ID}"
  api_base_url: {fake.api_url}
  gateway_url: {fake.gateway_url}
  shards: {SHARDS}
  lease_shards: true
terminal:
  enabled: false
http:
  enabled: false
subscriptions:
{subs}"""


def adapter(app: App) -> DiscordAdapter:
    a = app.adapters["discord"]
    assert isinstance(a, DiscordAdapter)
    return a


async def start(text: str) -> tuple[App, FakeClock]:
    """An App on a FakeClock, identifying at the fake's small spacing (Discord's is 5 s)."""
    clock = FakeClock(BEFORE_FIRE)
    app = App(parse_config(text, source="test.yaml", env={"DISCORD_TOKEN": TOKEN}), clock=clock)
    build = app._build_adapters

    def patched() -> None:
        build()
        adapter(app)._gateway.identify_spacing = SPACING

    app._build_adapters = patched  # type: ignore[method-assign]
    await app.start()
    return app, clock


def shard_sets(apps: list[App]) -> list[set[int]]:
    return [{s for s in adapter(a)._gateway.shards.expected if s is not None} for a in apps]


def settled(apps: list[App]) -> bool:
    sets = shard_sets(apps)
    return (
        sum(len(s) for s in sets) == SHARDS
        and set().union(*sets) == set(range(SHARDS))
        and all(sets)
        and all(adapter(a).shard_status()[0] == len(s) for a, s in zip(apps, sets, strict=True))
    )


async def answered_everywhere(fake: FakeDiscord) -> None:
    its = [await fake.slash("help", guild=g, channel=c[0]) for g, c in GUILDS.items()]
    await fake.wait_for(lambda: all(it.answered_at is not None for it in its), timeout=15)


def is_digest(message: dict[str, Any]) -> bool:
    """A digest carries its ledger key in the embed footer (``... ref <key>``)."""
    return any("ref " in str((e.get("footer") or {}).get("text")) for e in message["embeds"])


def digests_per_channel(fake: FakeDiscord) -> dict[int, int]:
    return {
        chans[0]: sum(
            1 for m in fake.stored(chans[0]) if m["author"]["id"] == str(BOT_ID) and is_digest(m)
        )
        for chans in GUILDS.values()
    }


async def crash(app: App) -> None:
    """The replica dies: connections drop, its shard leases are never released (they expire);
    it is not the leader, so nothing of the scheduler's is left behind."""
    adapter(app)._gateway.leaser = None
    await app.stop()


async def test_replicas_share_shards_take_over_a_dead_one_and_post_once(
    tmp_path: Path, store_url: str, store_factory: Any
) -> None:
    if not store_url.startswith("postgres"):
        pytest.skip("replicas share shards through a PostgreSQL database")
    async with FakeDiscord(
        guilds=GUILDS, shards=SHARDS, identify_spacing=SPACING, reaction_window=0.01
    ) as fake:
        text = config(tmp_path, fake, store_url)
        apps: list[App] = []
        clocks: list[FakeClock] = []
        ticking = asyncio.create_task(tick(clocks))
        try:
            for _ in range(3):
                app, clock = await start(text)
                apps.append(app)
                clocks.append(clock)
            await fake.wait_for(lambda: settled(apps), timeout=40)
            assert fake.identify_refused == 0
            await answered_everywhere(fake)
            [leader] = [a for a in apps if a.leadership is not None and a.leadership.held]
            # The cron instant: the leader posts every digest once, shards or not.
            for clock in clocks:
                await clock.set(FIRE)
            assert leader.scheduler is not None
            await until(lambda: sum(digests_per_channel(fake).values()) == SHARDS, 20)
            await leader.scheduler.drain()
            # A replica that is not the leader dies.
            victim = next(a for a in apps if a is not leader and shard_sets([a])[0])
            lost = shard_sets([victim])[0]
            alive = [a for a in apps if a is not victim]
            await crash(victim)
            # A vote in one of its servers while nobody holds that shard reaches nobody.
            shard = min(lost)
            channel = GUILDS[guild_on(shard)][0]
            [digest] = [m for m in fake.stored(channel) if is_digest(m)]
            store = await store_factory()
            votes_before = await vote_count(store)
            await fake.react(digest["id"], "2️⃣", channel=channel)
            # Its shards are taken over; commands there are answered again.
            await fake.wait_for(lambda: settled(alive), timeout=40)
            await answered_everywhere(fake)
            # The backfill after the takeover reads the missed vote back.
            async with asyncio.timeout(20):  # bounds a hang only
                while await vote_count(store) == votes_before:
                    await asyncio.sleep(0.05)
            assert await vote_count(store) == votes_before + 1
            # Exactly once: every channel has its digest once, none twice.
            assert set(digests_per_channel(fake).values()) == {1}
        finally:
            ticking.cancel()
            for app in apps:
                await app.stop()


async def tick(clocks: list[FakeClock]) -> None:
    """Each replica's clock moves a second at a time, so its scheduler loop renews (or looks
    for) the leader's lease every leader_poll, as it would in real time."""
    while True:
        await asyncio.sleep(0.2)
        for clock in clocks:
            await clock.set(clock.now() + timedelta(seconds=1))
