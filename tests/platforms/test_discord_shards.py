"""Discord start-up that scales with the shard count: the real discord.py AutoShardedClient
against the fake Discord, which refuses an IDENTIFY that comes sooner than its bucket allows
(Discord's session start rule, with a small spacing so the tests stay fast)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.discord import APP_ID, TOKEN, FakeDiscord
from support.discord_app import archive_text

from bot.app import App
from bot.config.load import parse_config
from bot.core.messages import ChannelRef, Invocation, Message, ReactionEvent, Reply
from bot.platforms.discord import DiscordAdapter

SHARDS = 16
SPACING = 0.05  # the fake's identify spacing; the adapter is told the same (Discord: 5 s)


def guild_on(shard: int, n: int = 0, shards: int = SHARDS) -> int:
    """A guild id that Discord's rule ``(id >> 22) % shards`` puts on ``shard``."""
    return ((1_000_000 + n) * shards + shard - (1_000_000 * shards) % shards) << 22


def spread(shards: int = SHARDS, per_shard: int = 2) -> dict[int, list[int]]:
    """``per_shard`` guilds on every shard, one channel each."""
    guilds = {}
    for shard in range(shards):
        for n in range(per_shard):
            g = guild_on(shard, n, shards)
            guilds[g] = [g + 1]
    return guilds


class FakeCommands:
    """Answers every command with a short notice and remembers where it was asked."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []

    async def handle(self, inv: Invocation) -> Reply:
        self.invocations.append(inv)
        return Reply(Message(header="help", text="served", kind="notice"))

    def suggest(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        return []

    async def share(self, channel: ChannelRef, share_id: str) -> Reply:
        return Reply(Message(header="gone", kind="notice"))

    async def shared(self, channel: ChannelRef, message_id: str, reply: Reply) -> None:
        return None


class FakeVotes:
    async def on_reaction(self, ev: ReactionEvent) -> bool:
        return True


def test_guild_on_lands_on_its_shard() -> None:
    for shard in range(SHARDS):
        assert (guild_on(shard, 3) >> 22) % SHARDS == shard


def make(fake: FakeDiscord, commands: Any, votes: Any, **kw: Any) -> DiscordAdapter:
    options: dict[str, Any] = {
        "token": TOKEN,
        "commands": commands,
        "reactions": votes,
        "api_base_url": fake.api_url,
        "gateway_url": fake.gateway_url,
        "test_guild": None,
        "shards": "auto",
        "guild_ready_timeout": 0.05,
        "ready_timeout": 10.0,
        "identify_spacing": SPACING,
        "seed_reactions": False,
    }
    options.update(kw)
    return DiscordAdapter(**options)


@pytest.fixture
async def fake16() -> AsyncIterator[FakeDiscord]:
    f = FakeDiscord(guilds=spread(), shards=SHARDS, identify_spacing=SPACING)
    await f.start()
    yield f
    await f.stop()


async def answer_everywhere(fake: FakeDiscord, commands: FakeCommands) -> None:
    """``/papers help`` in every guild's channel; each one is answered."""
    its = []
    for guild, [channel] in fake.guilds.items():
        its.append(await fake.slash("help", guild=guild, channel=channel))
    await fake.wait_for(lambda: all(it.answered_at is not None for it in its), timeout=10)
    served = {inv.channel.workspace for inv in commands.invocations}
    assert served == {str(g) for g in fake.guilds}


async def test_sixteen_shards_in_one_process_all_served_without_timeout(
    fake16: FakeDiscord,
) -> None:
    commands, votes = FakeCommands(), FakeVotes()
    # Sixteen identifies at the allowed spacing (15 x 0.3 s) take longer than one
    # ready_timeout: the wait is per shard, so start-up does not give up.
    fake16.identify_spacing = 0.3
    a = make(fake16, commands, votes, identify_spacing=0.3, ready_timeout=1.0)
    await a.start()
    try:
        await fake16.wait_for(lambda: a.shard_status() == (SHARDS, SHARDS), timeout=30)
        assert a.healthy()
        assert fake16.identify_refused == 0  # never faster than the session start rule
        assert sorted(d["shard"][0] for d in fake16.identifies) == list(range(SHARDS))
        assert {tuple(d["shard"]) for d in fake16.identifies} == {
            (s, SHARDS) for s in range(SHARDS)
        }
        await answer_everywhere(fake16, commands)
    finally:
        await a.stop()


async def test_a_ready_shard_serves_while_another_is_still_coming_up(
    fake16: FakeDiscord,
) -> None:
    commands, votes = FakeCommands(), FakeVotes()
    fake16.hold_ready = {5}  # shard 5's READY is held back until released
    a = make(fake16, commands, votes)
    await a.start()
    try:
        await fake16.wait_for(lambda: a.shard_status() == (SHARDS - 1, SHARDS), timeout=15)
        assert not a.healthy()  # not every shard is up: /healthz says degraded
        g0 = guild_on(0)
        it = await fake16.slash("help", guild=g0, channel=g0 + 1)
        await fake16.wait_response(it)
        assert commands.invocations[-1].channel.workspace == str(g0)
        fake16.release_ready()
        await fake16.wait_for(lambda: a.shard_status() == (SHARDS, SHARDS), timeout=5)
        assert a.healthy()
        g5 = guild_on(5)
        it = await fake16.slash("help", guild=g5, channel=g5 + 1)
        await fake16.wait_response(it)
        assert commands.invocations[-1].channel.workspace == str(g5)
    finally:
        await a.stop()


async def test_identify_concurrency_from_discord_is_used() -> None:
    """With max_concurrency 4, shards 0..3 identify together, then 4..7, and so on: the fake
    refuses any second identify in a bucket within the spacing."""
    async with FakeDiscord(
        guilds=spread(8, 1), shards=8, identify_spacing=0.3, max_concurrency=4
    ) as fake:
        commands, votes = FakeCommands(), FakeVotes()
        a = make(fake, commands, votes, identify_spacing=0.3)
        await a.start()
        try:
            await fake.wait_for(lambda: a.shard_status() == (8, 8), timeout=10)
            assert fake.identify_refused == 0
            assert a.ready_budget(8) == pytest.approx(10.0 + 0.3)  # two waves of four
            await answer_everywhere(fake, commands)
        finally:
            await a.stop()


async def test_identifying_too_fast_is_refused_by_the_fake() -> None:
    """The fake's session start rule is real: a client paced slower than the rule gets no
    refusal (above), one paced faster does."""
    async with FakeDiscord(guilds=spread(2, 1), shards=2, identify_spacing=0.5) as fake:
        commands, votes = FakeCommands(), FakeVotes()
        a = make(fake, commands, votes, identify_spacing=0.0)
        await a.start()
        try:
            await fake.wait_for(lambda: a.shard_status() == (2, 2), timeout=10)
            assert fake.identify_refused >= 1
        finally:
            await a.stop()


async def test_healthz_and_metrics_report_shards(tmp_path: Path) -> None:
    weekly = tmp_path / "picks.md"
    weekly.write_text(archive_text(), encoding="utf-8")
    async with FakeDiscord(guilds=spread(4, 1), shards=4, identify_spacing=SPACING) as fake:
        fake.hold_ready = {2}
        text = f"""\
sources:
  paths: [{weekly}]
  cache_dir: {tmp_path / "cache"}
store:
  url: sqlite:///{tmp_path / "paperboy.db"}
discord:
  application_id: "{APP_ID}"
  api_base_url: {fake.api_url}
  gateway_url: {fake.gateway_url}
  shards: auto
  ready_timeout: 10s
terminal:
  enabled: false
http:
  port: 0
"""
        settings = parse_config(text, source="test.yaml", env={"DISCORD_TOKEN": TOKEN})
        app = App(settings)
        await start_with(app, {"identify_spacing": SPACING})
        try:
            port = app.http_port

            def get(path: str) -> tuple[int, str]:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as r:
                        return r.status, r.read().decode()
                except urllib.error.HTTPError as e:
                    return e.code, e.read().decode()

            adapter = app.adapters["discord"]
            assert isinstance(adapter, DiscordAdapter)
            await fake.wait_for(lambda: adapter.shard_status() == (3, 4), timeout=10)
            status, body = await asyncio.to_thread(get, "/healthz")
            health = json.loads(body)
            assert health["shards"] == {"discord": {"connected": 3, "expected": 4}}
            assert health["status"] == "degraded" and status != 200
            fake.release_ready()
            await fake.wait_for(lambda: adapter.shard_status() == (4, 4), timeout=10)
            status, body = await asyncio.to_thread(get, "/healthz")
            health = json.loads(body)
            assert health["shards"] == {"discord": {"connected": 4, "expected": 4}}
            assert status == 200 and health["status"] == "ok"
            _, metrics = await asyncio.to_thread(get, "/metrics")
            assert 'paperboy_shards_connected{platform="discord"} 4.0' in metrics
            assert 'paperboy_shards_expected{platform="discord"} 4.0' in metrics
        finally:
            await app.stop()


async def start_with(app: App, adapter_kw: dict[str, Any]) -> None:
    """``app.start()`` with the fake's identify spacing instead of Discord's 5 s."""
    build = app._build_adapters

    def patched() -> None:
        build()
        d = app.adapters["discord"]
        assert isinstance(d, DiscordAdapter)
        d._gateway.identify_spacing = adapter_kw["identify_spacing"]

    app._build_adapters = patched  # type: ignore[method-assign]
    await app.start()


# --- shards across replicas (PostgreSQL leases) ------------------------------------------------


async def crash(adapter: DiscordAdapter) -> None:
    """The replica dies: its connections drop, its leases are never released (they expire)."""
    adapter._gateway.leaser = None  # stop() would release them: a dead process cannot
    await adapter.stop()


def held(adapters: list[DiscordAdapter]) -> list[set[int]]:
    return [set(a._gateway.shards.expected) for a in adapters]  # type: ignore[misc]


def settled(adapters: list[DiscordAdapter], count: int) -> bool:
    """Every shard held by exactly one replica, each replica ready on all it holds, and no
    replica idle."""
    sets = held(adapters)
    union = set().union(*sets)
    return (
        union == set(range(count))
        and sum(len(s) for s in sets) == count
        and all(sets)
        and all(a.shard_status()[0] == len(s) for a, s in zip(adapters, sets, strict=True))
    )


@pytest.mark.postgres
async def test_three_replicas_share_eight_shards_and_take_over_a_dead_ones(
    store_url: str, store_factory: Any
) -> None:
    if not store_url.startswith("postgres"):
        pytest.skip("replicas share shards through a PostgreSQL database")
    from bot.platforms.discord.shards import ShardLeaser

    ttl, spacing = 1.5, 0.1  # three clients and the fake share one event loop: more jitter
    async with FakeDiscord(guilds=spread(8, 1), shards=8, identify_spacing=spacing) as fake:
        commands = [FakeCommands() for _ in range(3)]
        replicas = []
        try:
            for n in range(3):
                leaser = ShardLeaser(await store_factory(), f"replica-{n}", ttl=ttl)
                a = make(fake, commands[n], FakeVotes(), leaser=leaser, identify_spacing=spacing)
                await a.start()
                replicas.append(a)
            await fake.wait_for(lambda: settled(replicas, 8), timeout=30)
            assert fake.identify_refused == 0  # identifies paced across replicas too
            await answer_everywhere(fake, MergedCommands(commands))
            dead = replicas[1]
            dead_shards = held(replicas)[1]
            await crash(dead)
            alive = [replicas[0], replicas[2]]
            # Within the lease ttl plus a round or two, the survivors hold all eight.
            await fake.wait_for(lambda: settled(alive, 8), timeout=30)
            assert dead_shards <= set().union(*held(alive))
            for c in commands:
                c.invocations.clear()
            await answer_everywhere(fake, MergedCommands(commands))
            assert commands[1].invocations == []  # the dead one answered nothing
            # No shard was ever served by two replicas at once: one answer per command.
            assert len(fake.calls("interaction_callback")) == len(fake.interactions)
            # A clean stop (a rolling restart) gives the shards up at once, not after the ttl.
            leaving, last = replicas[0], replicas[2]
            gone = replicas[0]._gateway.leaser
            assert gone is not None
            await leaving.stop()
            assert not any(o == gone.owner for _, o in await gone.store.live_leases("discord-"))
            await fake.wait_for(lambda: settled([last], 8), timeout=30)
        finally:
            for a in replicas:
                await a.stop()


class MergedCommands(FakeCommands):
    """The invocations every replica's command handler saw, together."""

    def __init__(self, parts: list[FakeCommands]) -> None:
        self.parts = parts

    @property  # type: ignore[override]
    def invocations(self) -> list[Invocation]:
        return [inv for p in self.parts for inv in p.invocations]
